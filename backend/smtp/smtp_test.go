package smtp_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
	"github.com/google/uuid"
	gomail "github.com/wneessen/go-mail"

	"github.com/reimbursement-ledger/ledger/backend/saga"
	"github.com/reimbursement-ledger/ledger/backend/smtp"
)

// received is one message the test server took (or refused) at DATA.
type received struct {
	from    string
	to      []string
	tls     bool
	user    string
	data    []byte
	refused bool
}

// server is a real SMTP server: STARTTLS with a test certificate, AUTH
// PLAIN for one user only after TLS, and the first refuseFirst messages
// refused with a transient 451.
type server struct {
	addr    string
	client  *tls.Config // trusts the server's certificate
	catcher bool        // takes mail without AUTH, as Mailpit does

	mu          sync.Mutex
	refuseFirst int
	conns       int // connections accepted
	auths       int // AUTH commands, whatever their outcome
	messages    []received
}

const user, password = "ledger", "s3cret"

func newServer(t *testing.T, refuseFirst int) *server {
	t.Helper()
	// httptest's certificate is valid for 127.0.0.1: the test's STARTTLS
	// certificate, and its pool the client's trust.
	cert := httptest.NewUnstartedServer(http.NotFoundHandler())
	cert.StartTLS()
	pool := x509.NewCertPool()
	pool.AddCert(cert.Certificate())
	serverTLS := cert.TLS.Clone()
	cert.Close()

	s := &server{client: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}, refuseFirst: refuseFirst}
	s.serve(t, func(srv *gosmtp.Server) { srv.TLSConfig = serverTLS }, nil)
	return s
}

// serve runs an SMTP server for s on 127.0.0.1 until the test ends;
// configure adjusts it, and wrap, when not nil, wraps its listener.
func (s *server) serve(t *testing.T, configure func(*gosmtp.Server), wrap func(net.Listener) net.Listener) {
	t.Helper()
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(c *gosmtp.Conn) (gosmtp.Session, error) {
		s.mu.Lock()
		s.conns++
		s.mu.Unlock()
		return &session{s: s, conn: c}, nil
	}))
	srv.Domain = "127.0.0.1"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	configure(srv)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = l.Addr().String()
	if wrap != nil {
		l = wrap(l)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
}

func (s *server) received() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.messages...)
}

// counts is how many connections and AUTH commands the server saw.
func (s *server) counts() (conns, auths int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns, s.auths
}

type session struct {
	s    *server
	conn *gosmtp.Conn
	msg  received
}

var _ gosmtp.AuthSession = (*session)(nil)

func (ss *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (ss *session) Auth(string) (sasl.Server, error) {
	ss.s.mu.Lock()
	ss.s.auths++
	ss.s.mu.Unlock()
	return sasl.NewPlainServer(func(_, u, p string) error {
		if u != user || p != password {
			return errors.New("invalid credentials")
		}
		ss.msg.user = u
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *gosmtp.MailOptions) error {
	if ss.msg.user == "" && !ss.s.catcher {
		return gosmtp.ErrAuthRequired
	}
	ss.msg.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	ss.msg.to = append(ss.msg.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, ss.msg.tls = ss.conn.TLSConnectionState()
	ss.msg.data = data
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	ss.msg.refused = ss.s.refuseFirst > 0
	ss.s.messages = append(ss.s.messages, ss.msg)
	if ss.msg.refused {
		ss.s.refuseFirst--
		return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	return nil
}

func (ss *session) Reset()        { ss.msg = received{user: ss.msg.user} }
func (ss *session) Logout() error { return nil }

func newMailer(t *testing.T, s *server, rawURL string) *smtp.Mailer {
	t.Helper()
	m, err := smtp.New(smtp.Config{URL: rawURL, From: "Reimbursements <ledger@bank.example>", Timeout: 10 * time.Second},
		gomail.WithTLSConfig(s.client))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func url(s *server) string { return "smtp://" + user + ":" + password + "@" + s.addr }

// parts parses a received message: its header and its text and HTML parts.
func parts(t *testing.T, data []byte) (mail.Header, string, string) {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/alternative" {
		t.Fatalf("Content-Type %q: want multipart/alternative", msg.Header.Get("Content-Type"))
	}
	var text, html string
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart() // decodes quoted-printable
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(p)
		if err != nil {
			t.Fatal(err)
		}
		switch ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type")); ct {
		case "text/plain":
			text = string(body)
		case "text/html":
			html = string(body)
		}
	}
	return msg.Header, text, html
}

var paidAt = time.Date(2026, 12, 4, 15, 0, 0, 0, time.UTC) // a Friday

func email(kind string, attempt int) saga.Email {
	e := saga.Email{ID: uuid.NewString(), To: "ada@member.example", Subject: "About your reimbursement", Body: "ignored",
		Kind: kind, FirstName: "Ada", Amount: "19.90 USD", Description: "Train <to> Zürich", Attempt: attempt,
		AccountID: uuid.MustParse("11111111-2222-3333-4444-555555555555"), At: paidAt}
	switch kind {
	case saga.EmailDenied:
		e.Reason = "no receipt"
	case saga.EmailPaymentFailed:
		e.Reason = "account closed"
	}
	return e
}

// Each e-mail the saga sends reaches the member over STARTTLS after AUTH
// PLAIN, with a text and an HTML part that say what happened.
func TestSendsEachKindWithTextAndHTML(t *testing.T) {
	s := newServer(t, 0)
	m := newMailer(t, s, url(s))
	withLast4 := email(saga.EmailPaid, 1)
	withLast4.AccountLast4, withLast4.AccountName = "6789", "Savings"
	withName := email(saga.EmailPaid, 1)
	withName.AccountName = "Joint <savings>"
	tests := []struct {
		name  string
		email saga.Email
		want  []string // in both parts
		not   []string // in neither
	}{
		{"denied", email(saga.EmailDenied, 0), []string{"Dear Ada", "19.90 USD", "was denied", "no receipt"}, nil},
		{"paid", email(saga.EmailPaid, 1), []string{"19.90 USD", "approved and paid", "account 11111111-2222-3333-4444-555555555555",
			"Tuesday, 8 December 2026"}, []string{"earlier transfer failed"}},
		{"paid with last 4", withLast4, []string{"account ending in 6789"}, []string{"11111111-2222"}},
		{"paid with a nickname", withName, []string{"Joint "}, []string{"11111111-2222"}},
		{"payment failed", email(saga.EmailPaymentFailed, 1), []string{"19.90 USD", "failed: account closed", "try the transfer again"}, nil},
		{"paid on a retry", email(saga.EmailPaid, 2), []string{"earlier transfer failed", "paid again"}, nil},
	}
	for i, tt := range tests {
		if err := m.Send(context.Background(), tt.email); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		got := s.received()
		if len(got) != i+1 {
			t.Fatalf("%s: the server has %d messages, want %d", tt.name, len(got), i+1)
		}
		r := got[i]
		if !r.tls || r.user != user || r.from != "ledger@bank.example" || len(r.to) != 1 || r.to[0] != "ada@member.example" {
			t.Fatalf("%s: tls %v user %q from %q to %v", tt.name, r.tls, r.user, r.from, r.to)
		}
		h, text, html := parts(t, r.data)
		if h.Get("Message-Id") != "<"+tt.email.ID+"@bank.example>" || h.Get("Subject") != tt.email.Subject || h.Get("To") != "<ada@member.example>" {
			t.Errorf("%s: header %v", tt.name, h)
		}
		for _, w := range tt.want {
			if !strings.Contains(text, w) || !strings.Contains(html, w) {
				t.Errorf("%s: want %q in both parts:\n%s\n%s", tt.name, w, text, html)
			}
		}
		for _, w := range tt.not {
			if strings.Contains(text, w) || strings.Contains(html, w) {
				t.Errorf("%s: %q in a part:\n%s\n%s", tt.name, w, text, html)
			}
		}
		if tt.email.AccountName == "Joint <savings>" && (!strings.Contains(text, "account “Joint <savings>”") || !strings.Contains(html, "account “Joint &lt;savings&gt;”")) {
			t.Errorf("%s: the nickname, plain in text and escaped in HTML:\n%s\n%s", tt.name, text, html)
		}
		if !strings.Contains(text, `"Train <to> Zürich"`) || !strings.Contains(html, "Train &lt;to&gt; Zürich") {
			t.Errorf("%s: the description, plain in text and escaped in HTML:\n%s\n%s", tt.name, text, html)
		}
	}
}

// A delivery the server refuses is an error for the saga to retry, and the
// retry carries the same Message-ID: the member's client shows one e-mail.
func TestRetryKeepsTheMessageID(t *testing.T) {
	s := newServer(t, 1)
	m := newMailer(t, s, url(s))
	e := email(saga.EmailPaid, 1)
	if err := m.Send(context.Background(), e); err == nil {
		t.Fatal("the refused delivery: no error")
	}
	if err := m.Send(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	got := s.received()
	if len(got) != 2 || !got[0].refused || got[1].refused {
		t.Fatalf("server saw %+v: want one refused delivery, then one accepted", got)
	}
	first, _, _ := parts(t, got[0].data)
	second, _, _ := parts(t, got[1].data)
	if id := first.Get("Message-Id"); id == "" || id != second.Get("Message-Id") || id != "<"+m.MessageID(e)+">" {
		t.Fatalf("Message-IDs %q and %q: want both %q", id, second.Get("Message-Id"), m.MessageID(e))
	}
}

func TestDeliveryFailures(t *testing.T) {
	s := newServer(t, 0)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := l.Addr().String()
	l.Close()
	for name, rawURL := range map[string]string{
		"server down":    "smtp://" + user + ":" + password + "@" + down,
		"wrong password": "smtp://" + user + ":wrong@" + s.addr,
		"no credentials": "smtp://" + s.addr,
	} {
		if err := newMailer(t, s, rawURL).Send(context.Background(), email(saga.EmailDenied, 0)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if got := s.received(); len(got) != 0 {
		t.Fatalf("the server took %d messages", len(got))
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tt := range []struct{ url, from, want string }{
		{"smtp://mail.example:587", "", "SMTP_FROM"},
		{"smtp://mail.example:587", "not an address", "SMTP_FROM"},
		{"", "ledger@bank.example", "SMTP_URL"},
		{"http://mail.example", "ledger@bank.example", "SMTP_URL"},
		{"smtp://:587", "ledger@bank.example", "SMTP_URL"},
		{"smtp://mail.example:99999", "ledger@bank.example", "port"},
		{"smtp://mail.example?tls=maybe", "ledger@bank.example", "tls="},
		{"smtps://mail.example?tls=none", "ledger@bank.example", "smtps://"},
		{"smtp://u:p@mail.example?tls=none", "ledger@bank.example", "in clear"},
	} {
		_, err := smtp.New(smtp.Config{URL: tt.url, From: tt.from})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("URL %q From %q: %v, want an error about %s", tt.url, tt.from, err, tt.want)
		}
	}
	for _, ok := range []string{"smtp://u:p@mail.example", "smtps://u:p@mail.example", "smtp://mailpit:1025?tls=none"} {
		if _, err := smtp.New(smtp.Config{URL: ok, From: "ledger@bank.example"}); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}
