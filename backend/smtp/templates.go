package smtp

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	texttemplate "text/template"
	"time"

	"github.com/reimbursement-ledger/ledger/backend/saga"
)

//go:embed templates
var files embed.FS

// kinds are the e-mails the notification saga sends; each has a .txt and
// an .html template of that name.
var kinds = []string{saga.EmailDenied, saga.EmailPaid, saga.EmailPaymentFailed}

type templates struct {
	text *texttemplate.Template
	html *htmltemplate.Template
}

func parseTemplates() (*templates, error) {
	text, err := texttemplate.ParseFS(files, "templates/*.txt")
	if err != nil {
		return nil, err
	}
	html, err := htmltemplate.ParseFS(files, "templates/*.html")
	if err != nil {
		return nil, err
	}
	return &templates{text: text, html: html}, nil
}

// view is what the templates read.
type view struct {
	saga.Email
	// Account names the account: its number's last 4 digits when it has
	// a number, else its nickname, else its id.
	Account string
	// ExpectedBy is the day a paid transfer is expected in the account.
	ExpectedBy string
	// Retried is true for an attempt after a failed one.
	Retried bool
}

func (t *templates) render(email saga.Email) (text, html string, err error) {
	v := view{Email: email, Account: "account " + email.AccountID.String(), Retried: email.Attempt > 1,
		ExpectedBy: expectedBy(email.At).Format("Monday, 2 January 2006")}
	switch {
	case email.AccountLast4 != "":
		v.Account = "account ending in " + email.AccountLast4
	case email.AccountName != "":
		v.Account = "account “" + email.AccountName + "”"
	}
	var tb, hb bytes.Buffer
	if err := t.text.ExecuteTemplate(&tb, email.Kind+".txt", v); err != nil {
		return "", "", fmt.Errorf("e-mail %s: %w", email.ID, err)
	}
	if err := t.html.ExecuteTemplate(&hb, email.Kind+".html", v); err != nil {
		return "", "", fmt.Errorf("e-mail %s: %w", email.ID, err)
	}
	return tb.String(), hb.String(), nil
}

// expectedBy is two business days after the payment: an ACH credit
// settles within one or two banking days (bank holidays are not counted).
func expectedBy(paid time.Time) time.Time {
	day := paid.UTC()
	for n := 0; n < 2; {
		day = day.AddDate(0, 0, 1)
		if wd := day.Weekday(); wd != time.Saturday && wd != time.Sunday {
			n++
		}
	}
	return day
}
