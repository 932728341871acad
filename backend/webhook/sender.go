package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"
)

// Message is one delivery attempt's content.
type Message struct {
	URL       string
	ID        string // webhook-id: the delivery's id, the same on every attempt
	Timestamp time.Time
	Body      []byte
	// Secrets sign the message: the current one, and the previous one
	// during a rotation window.
	Secrets []string
}

// Result is what one attempt observed.
type Result struct {
	// StatusCode is 0 when no answer came (refused, timed out, unreachable).
	StatusCode int
	Latency    time.Duration
	// Answer holds the first bytes of the body, up to Sender.AnswerCap.
	Answer []byte
	// Err says why no answer came, or is nil.
	Err error
}

// OK reports a 2xx answer: the delivery succeeded.
func (r Result) OK() bool { return r.StatusCode >= 200 && r.StatusCode < 300 }

// The sender's default limits on one attempt.
const (
	DefaultConnectTimeout = 5 * time.Second
	// DefaultTimeout bounds the whole attempt: connecting, sending and
	// reading the answer.
	DefaultTimeout = 15 * time.Second
)

// SenderConfig sets a Sender's limits; zero fields take the defaults.
type SenderConfig struct {
	Guard          Guard
	ConnectTimeout time.Duration // default DefaultConnectTimeout
	Timeout        time.Duration // the whole attempt, default DefaultTimeout
	AnswerCap      int           // bytes of the answer kept, default 1 KiB
	UserAgent      string
}

// Sender posts signed messages to receivers.
type Sender struct {
	client    *http.Client
	timeout   time.Duration
	answerCap int
	userAgent string
	now       func() time.Time
}

// NewSender returns a Sender that dials through cfg.Guard, never follows
// redirects (a 3xx is an answer, and a failure), and gives up on an attempt
// after cfg.Timeout.
func NewSender(cfg SenderConfig) *Sender {
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.AnswerCap <= 0 {
		cfg.AnswerCap = 1024
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "reimbursement-ledger-webhooks/1"
	}
	newTransport := func(control func(string, string, syscall.RawConn) error) *http.Transport {
		dialer := &net.Dialer{Timeout: cfg.ConnectTimeout, Control: control}
		return &http.Transport{
			// No proxy: a proxy would dial for us, past the guard.
			Proxy:                 nil,
			DialContext:           dialer.DialContext,
			TLSHandshakeTimeout:   cfg.ConnectTimeout,
			ResponseHeaderTimeout: cfg.Timeout,
			MaxIdleConnsPerHost:   2,
			IdleConnTimeout:       90 * time.Second,
			ForceAttemptHTTP2:     true,
		}
	}
	return &Sender{
		client: &http.Client{
			// Plain http dials through its own guard: loopback and private
			// addresses only.
			Transport: byScheme{https: newTransport(cfg.Guard.control), plain: newTransport(cfg.Guard.controlPlain)},
			Timeout:   cfg.Timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
		timeout:   cfg.Timeout,
		answerCap: cfg.AnswerCap,
		userAgent: cfg.UserAgent,
		now:       time.Now,
	}
}

// byScheme sends https and plain http through different transports.
type byScheme struct{ https, plain http.RoundTripper }

func (b byScheme) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Scheme == "http" {
		return b.plain.RoundTrip(r)
	}
	return b.https.RoundTrip(r)
}

// Timeout is the longest one attempt may take.
func (s *Sender) Timeout() time.Duration { return s.timeout }

// Send makes one attempt. It never returns an error: a failure is in the
// Result, to be recorded with the attempt.
func (s *Sender) Send(ctx context.Context, m Message) Result {
	sig, err := Sign(m.ID, m.Timestamp, m.Body, m.Secrets...)
	if err != nil {
		return Result{Err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.URL, bytes.NewReader(m.Body))
	if err != nil {
		return Result{Err: fmt.Errorf("%w: %v", ErrRefusedDestination, err)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", s.userAgent)
	req.Header.Set(HeaderID, m.ID)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(m.Timestamp.Unix(), 10))
	req.Header.Set(HeaderSignature, sig)

	start := s.now()
	resp, err := s.client.Do(req)
	if err != nil {
		return Result{Latency: s.now().Sub(start), Err: s.explain(ctx, err)}
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, int64(s.answerCap)))
	// Drain a little more so the connection can be reused, but never much.
	_, _ = io.CopyN(io.Discard, resp.Body, 16<<10)
	return Result{StatusCode: resp.StatusCode, Latency: s.now().Sub(start), Answer: answer}
}

// ErrTimeout is an attempt the receiver did not answer within the
// Sender's timeout.
var ErrTimeout = errors.New("webhook: no answer in time")

// explain keeps the guard's refusal and a timeout recognisable with
// errors.Is, while the message still says what happened. A timeout reads
// the same whichever bound noticed it first (the client's, the transport's
// wait for the headers), unless the caller's own context ended the attempt.
func (s *Sender) explain(ctx context.Context, err error) error {
	if errors.Is(err, ErrRefusedDestination) {
		return fmt.Errorf("%w (%v)", ErrRefusedDestination, err)
	}
	var timeout interface{ Timeout() bool }
	if ctx.Err() == nil && (errors.Is(err, context.DeadlineExceeded) || errors.As(err, &timeout) && timeout.Timeout()) {
		return fmt.Errorf("%w: the receiver did not answer within %s (%w)", ErrTimeout, s.timeout, err)
	}
	return err
}
