package smtp_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/reimbursement-ledger/ledger/backend/saga"
	"github.com/reimbursement-ledger/ledger/backend/smtp"
)

// selfSigned is a certificate for 127.0.0.1 signed by its own ECDSA key,
// and a client configuration that trusts it and nothing else.
func selfSigned(t *testing.T) (tls.Certificate, *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "ledger test SMTP server"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert},
		&tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
}

// newTLSServer is a server that speaks TLS from the first byte, as on port
// 465, with a self-signed certificate; it offers no STARTTLS.
func newTLSServer(t *testing.T) *server {
	t.Helper()
	cert, client := selfSigned(t)
	s := &server{client: client}
	serverTLS := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	s.serve(t, func(*gosmtp.Server) {}, func(l net.Listener) net.Listener { return tls.NewListener(l, serverTLS) })
	return s
}

// newPlainServer is a server that offers no TLS at all. A catcher takes
// mail without AUTH; otherwise it requires AUTH PLAIN and takes it in clear,
// so a mailer that went on without TLS would get its message through.
func newPlainServer(t *testing.T, catcher bool) *server {
	t.Helper()
	_, client := selfSigned(t)
	s := &server{client: client, catcher: catcher}
	s.serve(t, func(srv *gosmtp.Server) { srv.AllowInsecureAuth = !catcher }, nil)
	return s
}

// delivered checks that the server took e, and only e, to its recipient,
// from the sender, with the Message-ID and both parts, over TLS or not and
// as the user or anonymously.
func delivered(t *testing.T, s *server, m *smtp.Mailer, e saga.Email, wantTLS bool, wantUser string) {
	t.Helper()
	got := s.received()
	if len(got) != 1 {
		t.Fatalf("the server has %d messages, want 1", len(got))
	}
	r := got[0]
	if r.refused || r.tls != wantTLS || r.user != wantUser || r.from != "ledger@bank.example" || len(r.to) != 1 || r.to[0] != e.To {
		t.Fatalf("refused %v tls %v user %q from %q to %v: want tls %v user %q from ledger@bank.example to %s",
			r.refused, r.tls, r.user, r.from, r.to, wantTLS, wantUser, e.To)
	}
	h, text, html := parts(t, r.data)
	if id := h.Get("Message-Id"); id != "<"+m.MessageID(e)+">" || id != "<"+e.ID+"@bank.example>" {
		t.Errorf("Message-ID %q, want <%s@bank.example>", id, e.ID)
	}
	if h.Get("To") != "<"+e.To+">" || h.Get("Subject") != e.Subject {
		t.Errorf("header %v", h)
	}
	for _, w := range []string{"Dear Ada", "19.90 USD", "was denied", "no receipt"} {
		if !strings.Contains(text, w) || !strings.Contains(html, w) {
			t.Errorf("want %q in both parts:\n%s\n%s", w, text, html)
		}
	}
	if !strings.Contains(html, "Train &lt;to&gt; Zürich") || strings.Contains(text, "&lt;") {
		t.Errorf("the text part is plain and the HTML part escaped:\n%s\n%s", text, html)
	}
}

// smtps:// is TLS from the first byte: the mailer delivers to a server that
// speaks nothing else, once it trusts that server's certificate.
func TestSendsOverImplicitTLS(t *testing.T) {
	s := newTLSServer(t)
	m := newMailer(t, s, "smtps://"+user+":"+password+"@"+s.addr)
	e := email(saga.EmailDenied, 0)
	if err := m.Send(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	delivered(t, s, m, e, true, user)
}

// smtps:// checks the certificate: a mailer that does not trust it sends
// nothing, and no credentials.
func TestImplicitTLSRefusesAnUntrustedCertificate(t *testing.T) {
	s := newTLSServer(t)
	m, err := smtp.New(smtp.Config{URL: "smtps://" + user + ":" + password + "@" + s.addr, From: "ledger@bank.example", Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = m.Send(context.Background(), email(saga.EmailDenied, 0))
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("Send: %v, want an error about the certificate", err)
	}
	if _, auths := s.counts(); auths != 0 || len(s.received()) != 0 {
		t.Fatalf("the server saw %d AUTH and %d messages, want none", auths, len(s.received()))
	}
}

// smtp:// requires STARTTLS: the mailer upgrades before AUTH and delivers.
func TestSendsOverSTARTTLS(t *testing.T) {
	s := newServer(t, 0)
	m := newMailer(t, s, url(s))
	e := email(saga.EmailDenied, 0)
	if err := m.Send(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	delivered(t, s, m, e, true, user)
}

// smtp:// to a server that offers no STARTTLS is refused before AUTH and
// MAIL: the mailer never goes on in clear, though this server would take
// the credentials and the message.
func TestRefusesAServerWithoutSTARTTLS(t *testing.T) {
	s := newPlainServer(t, false)
	for name, rawURL := range map[string]string{
		"with credentials":    url(s),
		"without credentials": "smtp://" + s.addr,
		"tls=starttls":        url(s) + "?tls=starttls",
	} {
		e := email(saga.EmailDenied, 0)
		err := newMailer(t, s, rawURL).Send(context.Background(), e)
		if err == nil || !strings.Contains(err.Error(), "does not support STARTTLS") || !strings.Contains(err.Error(), e.ID) {
			t.Errorf("%s: Send: %v, want an error that the server does not support STARTTLS", name, err)
		}
	}
	conns, auths := s.counts()
	if conns != 3 || auths != 0 || len(s.received()) != 0 {
		t.Fatalf("the server saw %d connections, %d AUTH and %d messages: want 3 connections, no AUTH and no message", conns, auths, len(s.received()))
	}
}

// smtp://host:port?tls=none delivers in clear and without AUTH to a local
// catcher that offers no TLS.
func TestSendsInClearWithTLSNone(t *testing.T) {
	s := newPlainServer(t, true)
	m := newMailer(t, s, "smtp://"+s.addr+"?tls=none")
	e := email(saga.EmailDenied, 0)
	if err := m.Send(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	delivered(t, s, m, e, false, "")
	if _, auths := s.counts(); auths != 0 {
		t.Fatalf("the server saw %d AUTH, want none", auths)
	}
}
