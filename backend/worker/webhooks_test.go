package worker_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/postgres"
	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
	"github.com/reimbursement-ledger/ledger/backend/webhook"
	"github.com/reimbursement-ledger/ledger/backend/worker"
	"github.com/reimbursement-ledger/ledger/backend/worker/workertest"
)

// hookReceiver is a bank's receiver: it verifies every delivery with the
// specification's own library and answers what answer says (200 when nil).
type hookReceiver struct {
	t      *testing.T
	mu     sync.Mutex
	secret string
	got    []map[string]any // verified bodies, in arrival order
	calls  atomic.Int64
	answer func(call int64, w http.ResponseWriter, r *http.Request) bool // true when it answered
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	call := h.calls.Add(1)
	if h.answer != nil && h.answer(call, w, r) {
		return
	}
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	v, err := standardwebhooks.NewWebhook(h.secret)
	if err == nil {
		err = v.Verify(body, r.Header)
	}
	if err != nil {
		h.t.Errorf("the receiver could not verify a delivery: %v", err)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		h.t.Errorf("delivery body %q: %v", body, err)
	}
	h.got = append(h.got, m)
	w.WriteHeader(http.StatusNoContent)
}

func (h *hookReceiver) bodies() []map[string]any {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]map[string]any(nil), h.got...)
}

// hookWorld is a fresh ledger with the test directory.
type hookWorld struct {
	db  *postgres.DB
	dir postgrestest.Directory
	app *app.App
}

func newHookWorld(t *testing.T) hookWorld {
	db := postgrestest.NewDB(t)
	return hookWorld{db: db, dir: postgrestest.MustDirectory(t, db), app: postgrestest.App(db)}
}

// register registers an endpoint of the test bank at url and returns it
// with its secret.
func (w hookWorld) register(t *testing.T, url string, types ...string) app.WebhookEndpoint {
	t.Helper()
	if len(types) == 0 {
		types = []string{"reimbursement.submitted"}
	}
	e, err := w.app.CreateWebhookEndpoint(context.Background(), app.Administrator(w.dir.Admin.ID, w.dir.Bank.ID),
		app.CreateWebhookEndpointCommand{BankID: w.dir.Bank.ID, URL: url, EventTypes: types})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (w hookWorld) submit(t *testing.T) uuid.UUID {
	t.Helper()
	r, err := w.app.Submit(context.Background(), app.Member(w.dir.Member.ID),
		app.SubmitCommand{ID: uuid.New(), AccountID: w.dir.Account.ID, Amount: "12.00", Description: "Taxi"})
	if err != nil {
		t.Fatal(err)
	}
	return r.ID
}

func (w hookWorld) deliveries(t *testing.T, endpoint uuid.UUID) []app.WebhookDelivery {
	t.Helper()
	ds, err := w.db.Webhooks.Deliveries(context.Background(), app.DeliveryQuery{EndpointID: endpoint, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// fastSchedule is the three days compressed: retries after 20, 40, 80 ms...
var fastSchedule = webhook.Schedule{First: 20 * time.Millisecond, MaxDelay: 100 * time.Millisecond, Window: time.Minute}

// startHookWorker runs a worker that delivers webhooks to loopback
// receivers on the given schedule, giving up on an attempt after timeout
// (1 s when 0), until the returned stop.
func startHookWorker(t *testing.T, db *postgres.DB, schedule webhook.Schedule, timeout time.Duration) (stop func()) {
	t.Helper()
	if timeout == 0 {
		timeout = time.Second
	}
	_, stop = workertest.Start(t, workertest.On(db, worker.Config{
		Webhooks: worker.WebhookConfig{Schedule: schedule, Lease: timeout + time.Second,
			Sender: webhook.NewSender(webhook.SenderConfig{Guard: webhook.Guard{AllowPrivate: true}, Timeout: timeout})},
	}))
	return stop
}

func statuses(ds []app.WebhookDelivery) []int {
	var codes []int
	for _, d := range ds {
		for _, a := range d.Attempts {
			codes = append(codes, a.StatusCode)
		}
	}
	return codes
}

// A receiver answering 500 gets the message again, and the second answer
// (200) ends it; both attempts are recorded with what the receiver said.
func TestWebhookIsRetriedAfter500(t *testing.T) {
	w := newHookWorld(t)
	rcv := &hookReceiver{t: t, answer: func(call int64, rw http.ResponseWriter, _ *http.Request) bool {
		if call == 1 {
			http.Error(rw, "database is down", http.StatusInternalServerError)
			return true
		}
		return false
	}}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	e := w.register(t, srv.URL)
	rcv.secret = e.Secret
	startHookWorker(t, w.db, fastSchedule, 0)
	id := w.submit(t)

	postgrestest.Eventually(t, "the delivery succeeded", func() bool {
		ds := w.deliveries(t, e.ID)
		return len(ds) == 1 && ds[0].Status == app.WebhookSucceeded
	})
	d := w.deliveries(t, e.ID)[0]
	if got := statuses([]app.WebhookDelivery{d}); len(got) != 2 || got[0] != 500 || got[1] != 204 {
		t.Fatalf("attempts %v, want 500 then 204", got)
	}
	if !strings.Contains(d.Attempts[0].Answer, "database is down") {
		t.Errorf("first attempt's answer %q, want the receiver's body", d.Attempts[0].Answer)
	}
	bodies := rcv.bodies()
	if len(bodies) != 1 || bodies[0]["type"] != "reimbursement.submitted" {
		t.Fatalf("received %v", bodies)
	}
	r := bodies[0]["data"].(map[string]any)["reimbursement"].(map[string]any)
	if r["id"] != id.String() || r["version"] != float64(1) || r["status"] != "pending" || bodies[0]["timestamp"] == nil {
		t.Errorf("the body's reimbursement: %v", r)
	}
}

// A receiver that never answers in time is given up on for that attempt,
// and meanwhile another bank endpoint gets its deliveries.
func TestWebhookTimesOutAndHoldsBackNoOtherReceiver(t *testing.T) {
	w := newHookWorld(t)
	release := make(chan struct{})
	var hanging atomic.Bool
	slow := &hookReceiver{t: t, answer: func(call int64, _ http.ResponseWriter, _ *http.Request) bool {
		if call == 1 {
			hanging.Store(true)
			<-release
			hanging.Store(false)
			return true
		}
		return false
	}}
	slowSrv := httptest.NewServer(slow)
	defer slowSrv.Close()
	defer close(release)
	fast := &hookReceiver{t: t}
	fastSrv := httptest.NewServer(fast)
	defer fastSrv.Close()
	slowEnd, fastEnd := w.register(t, slowSrv.URL), w.register(t, fastSrv.URL)
	slow.secret, fast.secret = slowEnd.Secret, fastEnd.Secret
	startHookWorker(t, w.db, fastSchedule, 2*time.Second)
	w.submit(t)

	postgrestest.Eventually(t, "the slow receiver holds its first delivery", hanging.Load)
	postgrestest.Eventually(t, "the fast receiver got its delivery", func() bool {
		ds := w.deliveries(t, fastEnd.ID)
		return len(ds) == 1 && ds[0].Status == app.WebhookSucceeded
	})
	if !hanging.Load() {
		t.Fatal("the fast receiver waited for the slow one")
	}
	postgrestest.Eventually(t, "the slow delivery succeeded after its timeout", func() bool {
		ds := w.deliveries(t, slowEnd.ID)
		return len(ds) == 1 && ds[0].Status == app.WebhookSucceeded
	})
	d := w.deliveries(t, slowEnd.ID)[0]
	if len(d.Attempts) != 2 || d.Attempts[0].StatusCode != 0 || !strings.Contains(d.Attempts[0].Error, "did not answer within 2s") {
		t.Fatalf("attempts %+v, want a timeout then a success", d.Attempts)
	}
}

// A receiver that is down (nothing listens) for a while gets the message
// once it is back.
func TestWebhookReachesAReceiverThatComesBack(t *testing.T) {
	w := newHookWorld(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	rcv := &hookReceiver{t: t}
	e := w.register(t, "http://"+addr+"/hooks")
	rcv.secret = e.Secret
	startHookWorker(t, w.db, fastSchedule, 0)
	w.submit(t)

	postgrestest.Eventually(t, "two refused attempts", func() bool {
		ds := w.deliveries(t, e.ID)
		return len(ds) == 1 && len(ds[0].Attempts) >= 2
	})
	back, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("the port was taken meanwhile: %v", err) // another process took it: nothing to learn
	}
	srv := httptest.NewUnstartedServer(rcv)
	srv.Listener.Close()
	srv.Listener = back
	srv.Start()
	defer srv.Close()
	postgrestest.Eventually(t, "the delivery succeeded", func() bool {
		ds := w.deliveries(t, e.ID)
		return len(ds) == 1 && ds[0].Status == app.WebhookSucceeded
	})
	d := w.deliveries(t, e.ID)[0]
	if first := d.Attempts[0]; first.StatusCode != 0 || first.Error == "" {
		t.Errorf("first attempt %+v, want no answer and why", first)
	}
	if len(rcv.bodies()) != 1 {
		t.Errorf("received %d messages, want 1", len(rcv.bodies()))
	}
}

// A worker stopped mid-schedule loses nothing: the next one sends the
// pending delivery.
func TestWebhookSurvivesAWorkerRestart(t *testing.T) {
	w := newHookWorld(t)
	var down atomic.Bool
	down.Store(true)
	rcv := &hookReceiver{t: t, answer: func(_ int64, rw http.ResponseWriter, _ *http.Request) bool {
		if down.Load() {
			rw.WriteHeader(http.StatusServiceUnavailable)
			return true
		}
		return false
	}}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	e := w.register(t, srv.URL)
	rcv.secret = e.Secret
	stop := startHookWorker(t, w.db, fastSchedule, 0)
	w.submit(t)
	postgrestest.Eventually(t, "a failed attempt", func() bool {
		ds := w.deliveries(t, e.ID)
		return len(ds) == 1 && len(ds[0].Attempts) >= 1
	})
	stop()
	if ds := w.deliveries(t, e.ID); ds[0].Status != app.WebhookPending {
		t.Fatalf("after the stop: %s, want pending", ds[0].Status)
	}
	down.Store(false)
	startHookWorker(t, w.db, fastSchedule, 0)
	postgrestest.Eventually(t, "the delivery succeeded after the restart", func() bool {
		ds := w.deliveries(t, e.ID)
		return len(ds) == 1 && ds[0].Status == app.WebhookSucceeded
	})
	if len(rcv.bodies()) != 1 {
		t.Errorf("received %d messages, want 1", len(rcv.bodies()))
	}
}

// An endpoint that fails for the whole schedule is disabled, with the
// reason, and a redelivery later succeeds once it answers again.
func TestWebhookEndpointIsDisabledAfterTheSchedule(t *testing.T) {
	w := newHookWorld(t)
	rcv := &hookReceiver{t: t, answer: func(_ int64, rw http.ResponseWriter, _ *http.Request) bool {
		rw.WriteHeader(http.StatusBadGateway)
		return true
	}}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	e := w.register(t, srv.URL)
	startHookWorker(t, w.db, webhook.Schedule{First: 10 * time.Millisecond, MaxDelay: 20 * time.Millisecond, Window: 100 * time.Millisecond}, 0)
	w.submit(t)
	admin := app.Administrator(w.dir.Admin.ID, w.dir.Bank.ID)
	postgrestest.Eventually(t, "the endpoint disabled", func() bool {
		got, err := w.app.WebhookEndpoint(context.Background(), admin, w.dir.Bank.ID, e.ID)
		return err == nil && !got.DisabledAt.IsZero()
	})
	got, _ := w.app.WebhookEndpoint(context.Background(), admin, w.dir.Bank.ID, e.ID)
	if !strings.Contains(got.DisabledReason, "502") {
		t.Errorf("disabled reason %q, want the last answer", got.DisabledReason)
	}
	ds := w.deliveries(t, e.ID)
	if len(ds) != 1 || ds[0].Status != app.WebhookFailed || len(ds[0].Attempts) < 2 {
		t.Fatalf("deliveries %+v", ds)
	}
	// A disabled endpoint is given no new deliveries.
	w.submit(t)
	postgrestest.Eventually(t, "the webhooks group handled the submission", func() bool {
		return status(t, w.db, worker.GroupWebhooks).Lag == 0
	})
	if n := len(w.deliveries(t, e.ID)); n != 1 {
		t.Errorf("%d deliveries, want none added while disabled", n)
	}
	// Enabling it is an explicit call; new events are delivered again.
	enabled, err := w.app.EnableWebhookEndpoint(context.Background(), admin, w.dir.Bank.ID, e.ID)
	if err != nil || !enabled.DisabledAt.IsZero() || enabled.DisabledReason != "" {
		t.Fatalf("enabled: %+v, %v", enabled, err)
	}
	w.submit(t)
	postgrestest.Eventually(t, "a delivery after enabling", func() bool { return len(w.deliveries(t, e.ID)) == 2 })
}

// A worker is not built on a retry schedule it cannot follow, nor with a
// lease that ends while an attempt may still be waiting for its answer:
// another worker would send the message again meanwhile.
func TestWorkerRefusesAnUnfollowableWebhookSetup(t *testing.T) {
	for name, hooks := range map[string]worker.WebhookConfig{
		"window below the longest delay": {Schedule: webhook.Schedule{First: time.Second, MaxDelay: time.Hour, Window: time.Minute}},
		"jitter above 1":                 {Schedule: webhook.Schedule{First: time.Second, MaxDelay: time.Second, Window: time.Hour, Jitter: 2}},
		"lease within the timeout": {Lease: 10 * time.Second,
			Sender: webhook.NewSender(webhook.SenderConfig{Timeout: 10 * time.Second})},
	} {
		// The settings are checked before the database is touched.
		if _, err := worker.New(worker.Config{Logger: quiet, AuditSigner: postgrestest.AuditSigner, Webhooks: hooks}); err == nil {
			t.Errorf("%s: the worker was built", name)
		}
	}
}

// The webhooks group writes a delivery where an enabled endpoint of the
// event's bank subscribes to its type, and nothing else. It does not even
// read the reimbursement of an event nobody listens to: here a withdrawal
// names a reimbursement that does not exist, and folding it would fail the
// batch for good, yet the group moves past it.
func TestWebhookDeliveriesAreWrittenOnlyWhereAnEndpointListens(t *testing.T) {
	w := newHookWorld(t)
	rcv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) { rw.WriteHeader(http.StatusNoContent) }))
	defer rcv.Close()
	ctx := context.Background()
	approvals := w.register(t, rcv.URL, "reimbursement.approved")
	otherAdmin := app.Administrator(w.dir.OtherAdmin.ID, w.dir.OtherBank.ID)
	theirs, err := w.app.CreateWebhookEndpoint(ctx, otherAdmin, app.CreateWebhookEndpointCommand{
		BankID: w.dir.OtherBank.ID, URL: rcv.URL, EventTypes: []string{"reimbursement.submitted"}})
	if err != nil {
		t.Fatal(err)
	}
	startHookWorker(t, w.db, fastSchedule, 0)

	stray, err := w.db.Events.Append(ctx, ledger.Metadata{CorrelationID: "stray"}, ledger.PendingEvent{StreamID: uuid.New(),
		StreamType: ledger.StreamReimbursement, Version: 1,
		Event: ledger.ReimbursementWithdrawn{ReimbursementID: uuid.New(), BankMemberID: w.dir.Member.ID, WithdrawnAt: time.Now().UTC()}})
	if err != nil {
		t.Fatal(err)
	}
	id := w.submit(t) // the other bank listens to submissions, this one does not
	approved, err := w.app.Approve(ctx, app.Administrator(w.dir.Admin.ID, w.dir.Bank.ID), app.DecideCommand{ReimbursementID: id})
	if err != nil {
		t.Fatal(err)
	}
	account, err := w.app.OpenAccount(ctx, otherAdmin, ledger.Account{ID: uuid.New(), BankID: w.dir.OtherBank.ID, MemberID: w.dir.Member.ID, Currency: "USD"}, ledger.BankDetails{})
	if err != nil {
		t.Fatal(err)
	}
	elsewhere, err := w.app.Submit(ctx, app.Member(w.dir.Member.ID), app.SubmitCommand{ID: uuid.New(), AccountID: account.ID, Amount: "7.00", Description: "Ferry"})
	if err != nil {
		t.Fatal(err)
	}
	postgrestest.Eventually(t, "the payout settled and the webhooks group past every event", func() bool {
		story, err := w.db.Events.Load(ctx, ledger.PaymentID(id))
		return err == nil && len(story) == 2 && status(t, w.db, worker.GroupWebhooks).Lag == 0
	})
	if st := status(t, w.db, worker.GroupWebhooks); st.Position < stray[0].Position {
		t.Fatalf("the webhooks group stopped at %d, before the stray withdrawal at %d", st.Position, stray[0].Position)
	}

	ds := w.deliveries(t, approvals.ID)
	if len(ds) != 1 || ds[0].EventType != "reimbursement.approved" || ds[0].EventID != eventOf(t, w.db, id, ledger.TypeReimbursementApproved).EventID {
		t.Fatalf("the approvals endpoint's deliveries: %+v, want the approval of %s (version %d) only", ds, id, approved.Version)
	}
	ds = w.deliveries(t, theirs.ID)
	if len(ds) != 1 || ds[0].EventID != eventOf(t, w.db, elsewhere.ID, ledger.TypeReimbursementSubmitted).EventID {
		t.Fatalf("the other bank's endpoint's deliveries: %+v, want its own bank's submission only", ds)
	}
	var n int
	if err := w.db.SQL().QueryRow(`SELECT count(*) FROM webhook_deliveries`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("%d deliveries written in all (%v), want 2", n, err)
	}
}
