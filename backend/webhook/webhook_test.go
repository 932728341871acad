package webhook_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/reimbursement-ledger/ledger/backend/webhook"
)

// receiver is a real HTTP receiver that verifies every delivery with the
// specification's own library, holding only the secrets it was given.
type receiver struct {
	t        *testing.T
	verifier *standardwebhooks.Webhook
	got      chan error
}

func newReceiver(t *testing.T, secret string) (*receiver, *httptest.Server) {
	t.Helper()
	v, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	r := &receiver{t: t, verifier: v, got: make(chan error, 16)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(req.Body)
		if err == nil {
			err = r.verifier.Verify(body, req.Header)
		}
		r.got <- err
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return r, srv
}

func mustSecret(t *testing.T) string {
	t.Helper()
	s, err := webhook.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// devSender may reach the test's loopback receivers.
func devSender() *webhook.Sender {
	return webhook.NewSender(webhook.SenderConfig{Guard: webhook.Guard{AllowPrivate: true}})
}

func message(url string, secrets ...string) webhook.Message {
	return webhook.Message{
		URL: url, ID: "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", Timestamp: time.Now(),
		Body:    []byte(`{"type":"reimbursement.approved","timestamp":"2026-11-29T14:55:00Z","data":{"version":3}}`),
		Secrets: secrets,
	}
}

func TestDeliveryVerifiesWithTheSpecificationsLibrary(t *testing.T) {
	secret := mustSecret(t)
	rcv, srv := newReceiver(t, secret)
	res := devSender().Send(context.Background(), message(srv.URL, secret))
	if !res.OK() || res.Err != nil {
		t.Fatalf("result = %+v", res)
	}
	if err := <-rcv.got; err != nil {
		t.Fatalf("the receiver did not verify the delivery: %v", err)
	}
}

func TestAnotherSecretDoesNotVerify(t *testing.T) {
	rcv, srv := newReceiver(t, mustSecret(t))
	res := devSender().Send(context.Background(), message(srv.URL, mustSecret(t)))
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status = %d, want 401", res.StatusCode)
	}
	if err := <-rcv.got; !errors.Is(err, standardwebhooks.ErrNoMatchingSignature) {
		t.Fatalf("receiver error = %v", err)
	}
	if !strings.Contains(string(res.Answer), "no matching signature") {
		t.Errorf("answer = %q, want the receiver's body recorded", res.Answer)
	}
}

func TestRotationWindowSignsUnderBothSecrets(t *testing.T) {
	oldSecret, newSecret := mustSecret(t), mustSecret(t)
	for name, held := range map[string]string{"old secret": oldSecret, "new secret": newSecret} {
		t.Run(name, func(t *testing.T) {
			rcv, srv := newReceiver(t, held)
			res := devSender().Send(context.Background(), message(srv.URL, newSecret, oldSecret))
			if !res.OK() {
				t.Fatalf("result = %+v", res)
			}
			if err := <-rcv.got; err != nil {
				t.Fatalf("a receiver holding only the %s did not verify: %v", name, err)
			}
		})
	}
}

func TestSignatureHeaderFormat(t *testing.T) {
	a, b := mustSecret(t), mustSecret(t)
	sig, err := webhook.Sign("msg_1", time.Unix(1700000000, 0), []byte("{}"), a, b)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(sig, " ")
	if len(parts) != 2 || !strings.HasPrefix(parts[0], "v1,") || !strings.HasPrefix(parts[1], "v1,") {
		t.Fatalf("signature header = %q, want two space-separated v1 signatures", sig)
	}
	for _, bad := range []string{"", "sk_abc", "whsec_not base64!"} {
		if _, err := webhook.Sign("msg_1", time.Now(), nil, bad); !errors.Is(err, webhook.ErrInvalidSecret) {
			t.Errorf("Sign with secret %q: err = %v, want ErrInvalidSecret", bad, err)
		}
	}
}

func TestRedirectsAreNotFollowed(t *testing.T) {
	var followed atomic.Bool
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { followed.Store(true) }))
	defer target.Close()
	srv := httptest.NewServer(http.RedirectHandler(target.URL, http.StatusTemporaryRedirect))
	defer srv.Close()
	res := devSender().Send(context.Background(), message(srv.URL, mustSecret(t)))
	if res.StatusCode != http.StatusTemporaryRedirect || res.OK() || followed.Load() {
		t.Fatalf("status = %d, followed = %v: a redirect must be an answer, and a failure", res.StatusCode, followed.Load())
	}
}

func TestAnswerIsReadUpToTheCap(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, strings.Repeat("x", 1<<20))
	}))
	defer srv.Close()
	s := webhook.NewSender(webhook.SenderConfig{Guard: webhook.Guard{AllowPrivate: true}, AnswerCap: 64})
	res := s.Send(context.Background(), message(srv.URL, mustSecret(t)))
	if len(res.Answer) != 64 || !res.OK() {
		t.Fatalf("kept %d bytes of the answer (status %d), want 64", len(res.Answer), res.StatusCode)
	}
}

func TestASlowReceiverTimesOut(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }))
	defer srv.Close()
	defer close(release)
	s := webhook.NewSender(webhook.SenderConfig{Guard: webhook.Guard{AllowPrivate: true}, Timeout: 50 * time.Millisecond})
	res := s.Send(context.Background(), message(srv.URL, mustSecret(t)))
	var ne net.Error
	if res.StatusCode != 0 || !errors.Is(res.Err, webhook.ErrTimeout) || !errors.As(res.Err, &ne) || !ne.Timeout() {
		t.Fatalf("result = %+v, want a timeout and no status", res)
	}
}

func TestTheGuardRefusesInternalAddresses(t *testing.T) {
	g := webhook.Guard{}
	for _, tc := range []struct{ name, addr string }{
		{"loopback", "127.0.0.1"},
		{"loopback v6", "::1"},
		{"private 10/8", "10.1.2.3"},
		{"private 172.16/12", "172.20.0.5"},
		{"private 192.168/16", "192.168.1.1"},
		{"private v6", "fd00:ec2::254"},
		{"link-local", "169.254.10.10"},
		{"cloud metadata", "169.254.169.254"},
		{"alibaba metadata", "100.100.100.200"},
		{"link-local v6", "fe80::1"},
		{"multicast", "224.0.0.1"},
		{"multicast v6", "ff02::1"},
		{"unspecified", "0.0.0.0"},
		{"unspecified v6", "::"},
		{"v4-mapped loopback", "::ffff:127.0.0.1"},
		{"nat64 of private", "64:ff9b::a00:1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := g.CheckAddr(netip.MustParseAddr(tc.addr)); !errors.Is(err, webhook.ErrRefusedDestination) {
				t.Errorf("CheckAddr(%s) = %v, want ErrRefusedDestination", tc.addr, err)
			}
			if err := g.CheckURL(context.Background(), "https://"+bracket(tc.addr)+"/hook"); !errors.Is(err, webhook.ErrRefusedDestination) {
				t.Errorf("CheckURL(%s) = %v, want ErrRefusedDestination", tc.addr, err)
			}
		})
	}
	for _, public := range []string{"93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"} {
		if err := g.CheckAddr(netip.MustParseAddr(public)); err != nil {
			t.Errorf("CheckAddr(%s) = %v, want allowed", public, err)
		}
	}
}

func bracket(addr string) string {
	if strings.Contains(addr, ":") {
		return "[" + addr + "]"
	}
	return addr
}

// fixedResolver answers every name with the same addresses.
type fixedResolver []netip.Addr

func (r fixedResolver) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return r, nil
}

func TestCheckURL(t *testing.T) {
	public := fixedResolver{netip.MustParseAddr("93.184.215.14")}
	rebinding := fixedResolver{netip.MustParseAddr("93.184.215.14"), netip.MustParseAddr("10.0.0.7")}
	for _, tc := range []struct {
		name    string
		guard   webhook.Guard
		url     string
		refused bool
	}{
		{"https to a public name", webhook.Guard{Resolver: public}, "https://hooks.example.com/in", false},
		{"plain http", webhook.Guard{Resolver: public}, "http://hooks.example.com/in", true},
		{"plain http in development", webhook.Guard{AllowPrivate: true}, "http://localhost:9000/in", false},
		{"plain http to a private address in development", webhook.Guard{AllowPrivate: true}, "http://10.0.0.7/in", false},
		{"https to loopback in development", webhook.Guard{AllowPrivate: true}, "https://127.0.0.1:9000/in", false},
		// The development setting lets deliveries reach the laptop, never
		// cross the internet in the clear.
		{"plain http to a public name in development", webhook.Guard{AllowPrivate: true, Resolver: public}, "http://hooks.example.com/in", true},
		{"plain http to a public address in development", webhook.Guard{AllowPrivate: true}, "http://93.184.215.14/in", true},
		{"plain http to a name with one public address in development", webhook.Guard{AllowPrivate: true, Resolver: rebinding}, "http://hooks.example.com/in", true},
		{"plain http to loopback in production", webhook.Guard{}, "http://127.0.0.1:9000/in", true},
		{"a name with one private address", webhook.Guard{Resolver: rebinding}, "https://hooks.example.com/in", true},
		{"localhost", webhook.Guard{}, "https://localhost/in", true},
		{"credentials", webhook.Guard{Resolver: public}, "https://u:p@hooks.example.com/in", true},
		{"another scheme", webhook.Guard{Resolver: public}, "ftp://hooks.example.com/in", true},
		{"relative", webhook.Guard{Resolver: public}, "/in", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.guard.CheckURL(context.Background(), tc.url)
			if got := errors.Is(err, webhook.ErrRefusedDestination); got != tc.refused {
				t.Fatalf("CheckURL(%s) = %v, refused = %v, want %v", tc.url, err, got, tc.refused)
			}
		})
	}
}

// The guard checks at dial time too: a name that passed at registration
// and resolves to loopback now (DNS rebinding) is never connected to.
func TestTheSenderRefusesAtDialTime(t *testing.T) {
	var reached atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached.Store(true) }))
	defer srv.Close()
	port := srv.URL[strings.LastIndex(srv.URL, ":"):]
	s := webhook.NewSender(webhook.SenderConfig{})
	for _, url := range []string{srv.URL, "http://localhost" + port} {
		res := s.Send(context.Background(), message(url, mustSecret(t)))
		if !errors.Is(res.Err, webhook.ErrRefusedDestination) || res.StatusCode != 0 {
			t.Errorf("Send(%s) = %+v, want ErrRefusedDestination", url, res)
		}
	}
	if reached.Load() {
		t.Fatal("the receiver on loopback was reached")
	}
}

// Under the development setting plain http reaches loopback, and is still
// refused at dial time for a public address (a name that resolved to a
// private one at registration may resolve elsewhere now).
func TestPlainHTTPOnlyToPrivateAddresses(t *testing.T) {
	var reached atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached.Add(1) }))
	defer srv.Close()
	s := webhook.NewSender(webhook.SenderConfig{Guard: webhook.Guard{AllowPrivate: true}})
	if res := s.Send(context.Background(), message(srv.URL, mustSecret(t))); !res.OK() || reached.Load() != 1 {
		t.Fatalf("Send(%s) = %+v, want the loopback receiver reached", srv.URL, res)
	}
	// 192.0.2.1 is public to the guard: the dial is refused before any packet is sent.
	res := s.Send(context.Background(), message("http://192.0.2.1:9/in", mustSecret(t)))
	if !errors.Is(res.Err, webhook.ErrRefusedDestination) || res.StatusCode != 0 {
		t.Fatalf("plain http to a public address: %+v, want ErrRefusedDestination", res)
	}
}

func TestSchedule(t *testing.T) {
	s := webhook.Schedule{First: time.Second, MaxDelay: 8 * time.Second, Window: time.Minute, Jitter: 0.5}
	first := time.Unix(1_700_000_000, 0)
	for _, tc := range []struct {
		failed       int
		random       float64
		since        time.Duration
		want         time.Duration // after now
		wantFinished bool
	}{
		{failed: 1, random: 0.5, want: time.Second},
		{failed: 2, random: 0.5, want: 2 * time.Second},
		{failed: 3, random: 0, want: 2 * time.Second},           // 4 s less half
		{failed: 3, random: 0.999999999, want: 6 * time.Second}, // 4 s plus half, about
		{failed: 10, random: 0.5, since: 10 * time.Second, want: 8 * time.Second},
		{failed: 10, random: 0.5, since: 55 * time.Second, want: 5 * time.Second}, // the last, at the window's end
		{failed: 11, random: 0.5, since: time.Minute, wantFinished: true},
	} {
		now := first.Add(tc.since)
		next, ok := s.Next(tc.failed, first, now, func() float64 { return tc.random })
		if ok == tc.wantFinished {
			t.Errorf("Next(%d) at +%v: ok = %v", tc.failed, tc.since, ok)
			continue
		}
		if got := next.Sub(now); ok && (got-tc.want).Abs() > time.Millisecond {
			t.Errorf("Next(%d) at +%v = +%v, want +%v", tc.failed, tc.since, got, tc.want)
		}
	}
	// The default schedule keeps trying for three days, no longer.
	n, now := 1, first
	for {
		next, ok := webhook.DefaultSchedule.Next(n, first, now, nil)
		if !ok {
			break
		}
		now, n = next, n+1
	}
	if got := now.Sub(first); got != 72*time.Hour || n < 15 || n > 30 {
		t.Errorf("default schedule: %d attempts over %v, want 15 to 30 over 72h", n, got)
	}
}

func TestScheduleValidate(t *testing.T) {
	if err := webhook.DefaultSchedule.Validate(); err != nil {
		t.Fatalf("the default schedule: %v", err)
	}
	ok := webhook.Schedule{First: time.Second, MaxDelay: time.Second, Window: time.Second, Jitter: 1}
	if err := ok.Validate(); err != nil {
		t.Fatalf("first = longest delay = window, full jitter: %v", err)
	}
	for name, tc := range map[string]struct {
		s    webhook.Schedule
		want string
	}{
		"no first delay":             {webhook.Schedule{MaxDelay: time.Second, Window: time.Minute}, "first delay"},
		"longest delay below first":  {webhook.Schedule{First: time.Minute, MaxDelay: time.Second, Window: time.Hour}, "longest delay"},
		"window below longest delay": {webhook.Schedule{First: time.Second, MaxDelay: time.Hour, Window: time.Minute}, "window"},
		"jitter above 1":             {webhook.Schedule{First: time.Second, MaxDelay: time.Second, Window: time.Second, Jitter: 1.5}, "jitter"},
		"negative jitter":            {webhook.Schedule{First: time.Second, MaxDelay: time.Second, Window: time.Second, Jitter: -0.1}, "jitter"},
	} {
		if err := tc.s.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error about the %s", name, err, tc.want)
		}
	}
}
