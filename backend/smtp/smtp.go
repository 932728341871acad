// Package smtp provides a saga.Mailer that delivers the member e-mails to an
// SMTP server, each with a text and an HTML part from embedded templates.
package smtp

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/reimbursement-ledger/ledger/backend/saga"
)

// Config is where and as whom the mailer sends.
type Config struct {
	// URL is the server: smtp://[user:pass@]host[:port] requires STARTTLS
	// (port 587 by default), smtps:// is TLS from the first byte (port
	// 465 by default), and smtp://host:port?tls=none sends in clear, for a
	// local catcher such as Mailpit; it takes no credentials.
	URL string
	// From is the sender's address; its domain ends each Message-ID.
	From string
	// Timeout bounds one delivery (default 4s: the saga calls the mailer
	// inside an open transaction).
	Timeout time.Duration
}

// Mailer sends e-mail over SMTP.
type Mailer struct {
	options []gomail.Option
	host    string
	from    *mail.Address
	domain  string
	tmpl    *templates
	timeout time.Duration
}

var _ saga.Mailer = (*Mailer)(nil)

// New checks the configuration and returns a mailer; it does not connect.
func New(cfg Config, options ...gomail.Option) (*Mailer, error) {
	from, err := mail.ParseAddress(cfg.From)
	if err != nil || cfg.From == "" {
		return nil, fmt.Errorf("SMTP_FROM %q: want the sender's e-mail address, such as ledger@bank.example", cfg.From)
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Hostname() == "" || (u.Scheme != "smtp" && u.Scheme != "smtps") {
		return nil, errors.New("SMTP_URL: want smtp://user:password@host:587 (STARTTLS), smtps://user:password@host:465 (TLS) or smtp://host:1025?tls=none (a local catcher)")
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = 4 * time.Second
	}
	opts := []gomail.Option{gomail.WithTimeout(timeout)}
	port := 587
	plain := false
	switch tls := u.Query().Get("tls"); {
	case u.Scheme == "smtps":
		if tls != "" {
			return nil, errors.New("SMTP_URL: smtps:// is TLS from the start; ?tls= is for smtp://")
		}
		port = 465
		opts = append(opts, gomail.WithSSL())
	case tls == "" || tls == "starttls":
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case tls == "none":
		plain = true
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		return nil, fmt.Errorf("SMTP_URL: tls=%q: want starttls (the default) or none", tls)
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("SMTP_URL: port %q: want 1 to 65535", p)
		}
		port = n
	}
	opts = append(opts, gomail.WithPort(port))
	if u.User != nil {
		if plain {
			return nil, errors.New("SMTP_URL: credentials are never sent in clear; drop tls=none or the user")
		}
		password, _ := u.User.Password()
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthPlain),
			gomail.WithUsername(u.User.Username()), gomail.WithPassword(password))
	}
	tmpl, err := parseTemplates()
	if err != nil {
		return nil, err
	}
	domain := from.Address[strings.LastIndexByte(from.Address, '@')+1:]
	return &Mailer{options: append(opts, options...), host: u.Hostname(), from: from, domain: domain, tmpl: tmpl, timeout: timeout}, nil
}

// MessageID is the Message-ID of an e-mail, without its angle brackets:
// the e-mail's id (its notification stream) at the sender's domain, so a
// retried send carries the same Message-ID and mail clients show it once.
func (m *Mailer) MessageID(email saga.Email) string {
	return email.ID + "@" + m.domain
}

// Send renders the e-mail and delivers it on a connection of its own. Any
// failure (the server down, a refusal) is returned for the saga to retry.
func (m *Mailer) Send(ctx context.Context, email saga.Email) error {
	text, html, err := m.tmpl.render(email)
	if err != nil {
		return err
	}
	msg := gomail.NewMsg()
	msg.FromMailAddress(m.from)
	if err := msg.To(email.To); err != nil {
		return fmt.Errorf("e-mail %s: recipient: %w", email.ID, err)
	}
	msg.Subject(email.Subject)
	msg.SetMessageIDWithValue(m.MessageID(email))
	msg.SetDate()
	msg.SetBodyString(gomail.TypeTextPlain, text)
	msg.AddAlternativeString(gomail.TypeTextHTML, html)
	client, err := gomail.NewClient(m.host, m.options...)
	if err != nil {
		return fmt.Errorf("e-mail %s: %w", email.ID, err)
	}
	ctx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		return fmt.Errorf("e-mail %s: %w", email.ID, err)
	}
	return nil
}
