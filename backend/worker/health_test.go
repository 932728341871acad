package worker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/postgres"
	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
	"github.com/reimbursement-ledger/ledger/backend/saga/sagatest"
	"github.com/reimbursement-ledger/ledger/backend/worker"
	"github.com/reimbursement-ledger/ledger/backend/worker/workertest"
)

// countedReadings is the bus, counting the watch's readings of the groups'
// positions.
type countedReadings struct {
	worker.Bus
	n atomic.Int64
}

func (c *countedReadings) Statuses(ctx context.Context, groups []string, reads map[string][]string) ([]app.SubscriberStatus, error) {
	defer c.n.Add(1)
	return c.Bus.Statuses(ctx, groups, reads)
}

// recorder is an Observer that keeps what it is told.
type recorder struct {
	mu       sync.Mutex
	failures map[string]int
	parked   map[string]int
	halted   map[string]bool
	stalled  map[string]bool
}

func newRecorder() *recorder {
	return &recorder{failures: map[string]int{}, parked: map[string]int{}, halted: map[string]bool{}, stalled: map[string]bool{}}
}

func (r *recorder) HandlerDone(group string, err error) {
	if err != nil {
		r.mu.Lock()
		r.failures[group]++
		r.mu.Unlock()
	}
}
func (r *recorder) HandlerRetried(string)           {}
func (r *recorder) WebhookDelivered(string)         {}
func (r *recorder) ACHCutoff(int, int, int, error)  {}
func (r *recorder) ACHReturns(int, int, int, error) {}
func (r *recorder) EventParked(group string) {
	r.mu.Lock()
	r.parked[group]++
	r.mu.Unlock()
}
func (r *recorder) SubscriberHalted(group string, halted bool) {
	r.mu.Lock()
	r.halted[group] = halted
	r.mu.Unlock()
}
func (r *recorder) SubscriberStalled(group string, stalled bool) {
	r.mu.Lock()
	r.stalled[group] = stalled
	r.mu.Unlock()
}

func (r *recorder) get(m map[string]int, group string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return m[group]
}

func (r *recorder) is(m map[string]bool, group string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return m[group]
}

// logBuffer collects a logger's JSON lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// find returns the first line at level whose message starts with msg.
func (b *logBuffer) find(level, msg string) (map[string]any, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for line := range strings.Lines(b.buf.String()) {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["level"] == level && strings.HasPrefix(rec["msg"].(string), msg) {
			return rec, true
		}
	}
	return nil, false
}

// last returns the last line at level whose message starts with msg and
// that names group.
func (b *logBuffer) last(level, msg, group string) (map[string]any, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var found map[string]any
	for line := range strings.Lines(b.buf.String()) {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["level"] == level && strings.HasPrefix(rec["msg"].(string), msg) &&
			rec["group"] == group {
			found = rec
		}
	}
	return found, found != nil
}

func newLog() (*logBuffer, *slog.Logger) {
	b := &logBuffer{}
	return b, slog.New(slog.NewJSONHandler(b, nil))
}

// runWorker runs a worker with cfg, filled in with fast test settings,
// until the test ends.
func runWorker(t *testing.T, cfg worker.Config) *worker.Worker {
	t.Helper()
	w, _ := workertest.Start(t, cfg)
	return w
}

func status(t *testing.T, db *postgres.DB, group string) app.SubscriberStatus {
	t.Helper()
	st, err := db.Subscriptions.Statuses(context.Background(), []string{group}, worker.GroupTypes)
	if err != nil {
		t.Fatal(err)
	}
	return st[0]
}

// flaky is a projection for these tests that fails while broken and
// otherwise records the positions it applied.
type flaky struct {
	broken   atomic.Bool
	mu       sync.Mutex
	applied  []int64
	failures []time.Time
}

func (f *flaky) projection() *postgres.Projection {
	return &postgres.Projection{Name: "flaky", Group: "projector.flaky", Table: "unused",
		Types: []string{ledger.TypeReimbursementSubmitted}, Fold: func(bool) postgres.ProjectionBatch { return &flakyBatch{f: f} }}
}

func (f *flaky) failed() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.failures)
}

func (f *flaky) positions() []int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.applied)
}

type flakyBatch struct {
	f         *flaky
	positions []int64
}

func (b *flakyBatch) Add(rec ledger.RecordedEvent, _ ledger.Event) {
	b.positions = append(b.positions, rec.Position)
}

func (b *flakyBatch) Apply(context.Context, postgres.Querier, string) error {
	b.f.mu.Lock()
	if b.f.broken.Load() {
		b.f.failures = append(b.f.failures, time.Now())
		b.f.mu.Unlock()
		return errors.New("disk full")
	}
	b.f.applied = append(b.f.applied, b.positions...)
	b.f.mu.Unlock()
	return nil
}

// A projector never skips an event: after MaxAttempts failures it halts,
// says so (an ERROR line naming the event, the observer, Ready), retries
// only slowly, and carries on by itself once the fault is gone. Its batch
// stays usable meanwhile under a tight session bound.
func TestProjectorHaltsReportsAndResumesWithoutSkipping(t *testing.T) {
	db := postgrestest.NewDBWith(t, postgres.Options{Timeouts: postgres.Timeouts{IdleInTransaction: 2 * time.Second}})
	d := postgrestest.MustDirectory(t, db)
	f := &flaky{}
	f.broken.Store(true)
	obs := newRecorder()
	logs, logger := newLog()
	w := runWorker(t, workertest.On(db, worker.Config{Logger: logger, Observer: obs, MaxAttempts: 3, HaltedRetryInterval: 1500 * time.Millisecond,
		StallAfter: time.Hour, Projections: []app.Projection{postgres.ReimbursementsProjection, f.projection()}}))

	id := submit(t, db, d)
	story, _ := db.Events.Load(context.Background(), id)
	position := story[0].Position
	postgrestest.Eventually(t, "the projector halts", func() bool { return obs.is(obs.halted, "projector.flaky") })

	line, ok := logs.find("ERROR", "subscriber halted")
	if !ok || line["group"] != "projector.flaky" || line["position"] != float64(position) || line["error"] != "disk full" || line["attempts"] != float64(3) {
		t.Fatalf("halt logged as %v", line)
	}
	err := w.Ready()
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("projector.flaky is halted on the event at position %d after 3 failed attempts", position)) {
		t.Fatalf("Ready = %v", err)
	}
	if strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Ready shows the handler's error text: %v", err)
	}
	// Halted, it tries once every HaltedRetryInterval, where it had tried
	// three times in a few milliseconds: wait for two slow retries, however
	// long the machine takes to get there, and measure the gaps.
	postgrestest.Eventually(t, "two retries of the halted projector", func() bool { return len(f.failed()) >= 5 })
	failures := f.failed()
	if failures[2].Sub(failures[0]) > time.Second {
		t.Fatalf("failures at %v: want three at once, then slow retries", failures)
	}
	for i := 3; i < len(failures); i++ {
		if gap := failures[i].Sub(failures[i-1]); gap < 1400*time.Millisecond {
			t.Fatalf("a halted projector tried again after %s", gap)
		}
	}
	// The observer hears of each failure just after the handler returns it.
	postgrestest.Eventually(t, "the observer counted every failure", func() bool {
		return obs.get(obs.failures, "projector.flaky") == len(f.failed())
	})
	if st := status(t, db, "projector.flaky"); st.Lag == 0 || len(f.positions()) != 0 {
		t.Fatalf("the halted projector moved on: %+v, applied %v", st, f.positions())
	}

	f.broken.Store(false)
	postgrestest.Eventually(t, "the projector resumes", func() bool { return !obs.is(obs.halted, "projector.flaky") && w.Ready() == nil })
	postgrestest.Eventually(t, "the projector catches up", func() bool { return status(t, db, "projector.flaky").Lag == 0 })
	if got := f.positions(); len(got) == 0 || got[0] != position {
		t.Fatalf("applied %v, want the event at %d first", got, position)
	}
	if _, ok := logs.find("INFO", "subscriber resumed"); !ok {
		t.Fatal("no log line says the projector resumed")
	}
}

// The audit tree never skips an event either: a head signed over a tree
// that leaves one out would be a false statement of the log.
func TestAuditTreeHaltsInsteadOfSkipping(t *testing.T) {
	db := postgrestest.NewDB(t)
	d := postgrestest.MustDirectory(t, db)
	obs := newRecorder()
	w := runWorker(t, workertest.On(db, worker.Config{Observer: obs, MaxAttempts: 2, HaltedRetryInterval: 200 * time.Millisecond, StallAfter: time.Hour}))
	// A head cannot be written while the table refuses it.
	if _, err := db.SQL().Exec(`ALTER TABLE audit_heads ADD CONSTRAINT test_refuse CHECK (false) NOT VALID`); err != nil {
		t.Fatal(err)
	}
	submit(t, db, d)
	postgrestest.Eventually(t, "the audit tree halts", func() bool { return obs.is(obs.halted, worker.GroupAuditTree) })
	if err := w.Ready(); err == nil || !strings.Contains(err.Error(), worker.GroupAuditTree+" is halted") {
		t.Fatalf("Ready = %v", err)
	}
	if _, err := db.SQL().Exec(`ALTER TABLE audit_heads DROP CONSTRAINT test_refuse`); err != nil {
		t.Fatal(err)
	}
	postgrestest.Eventually(t, "the audit tree catches up", func() bool {
		return w.Ready() == nil && status(t, db, worker.GroupAuditTree).Lag == 0
	})
	report, err := postgrestest.App(db).Verify(context.Background(), postgrestest.Auditor, nil)
	if err != nil || !report.OK() || report.Events != 1 || report.Heads != 1 {
		t.Fatalf("verify after the halt: %+v, %v", report, err)
	}
}

// failingSaga fails on every event while broken.
type failingSaga struct{ broken atomic.Bool }

func (s *failingSaga) Handle(context.Context, ledger.RecordedEvent) error {
	if s.broken.Load() {
		return errors.New("rail unreachable")
	}
	return nil
}

// A group held back by a failing handler is stalled once its position has
// not moved for StallAfter; groups that are idle with nothing to do are not.
//
// A healthy group is not promised to handle an event within StallAfter: on
// a loaded machine one may take longer, and is then rightly reported until
// it moves. So the test asserts what holds whatever the timing: a group that
// has caught up is not reported (after the watch's next reading), and the
// stall logged for the payments saga is its own.
func TestStalledGroupIsReportedAndIdleGroupsAreNot(t *testing.T) {
	db := postgrestest.NewDB(t)
	d := postgrestest.MustDirectory(t, db)
	payments := &failingSaga{}
	obs := newRecorder()
	logs, logger := newLog()
	readings := &countedReadings{Bus: db.Subscriptions.Bus(nil)}
	w := runWorker(t, workertest.On(db, worker.Config{Logger: logger, Observer: obs, Payments: payments, MaxAttempts: 1_000_000,
		StallAfter: 300 * time.Millisecond, Bus: readings}))
	var others []string
	for _, g := range worker.Groups(postgres.AllProjections()) {
		if g != worker.GroupPayments {
			others = append(others, g)
		}
	}

	id := submit(t, db, d)
	postgrestest.Eventually(t, "every group caught up and none reported", func() bool { return caughtUp(t, db) && w.Ready() == nil })
	// Idle for three times StallAfter: a dozen of the watch's readings
	// (one each StallAfter/4) after everything caught up.
	from := readings.n.Load()
	postgrestest.Eventually(t, "a dozen readings of the idle groups", func() bool { return readings.n.Load() >= from+12 })
	if err := w.Ready(); err != nil {
		t.Fatalf("idle groups reported: %v", err)
	}

	// The payment saga reads approvals only (saga.PaymentTypes).
	payments.broken.Store(true)
	decide(t, db, d, id, false)
	postgrestest.Eventually(t, "the payments saga is stalled", func() bool { return obs.is(obs.stalled, worker.GroupPayments) })
	postgrestest.Eventually(t, "every other group caught up", func() bool {
		for _, g := range others {
			if status(t, db, g).Lag != 0 {
				return false
			}
		}
		return true
	})
	var err error
	postgrestest.Eventually(t, "the payments saga alone is reported, not the groups that caught up", func() bool {
		err = w.Ready()
		if err == nil || !strings.Contains(err.Error(), worker.GroupPayments+" has not moved from position") {
			return false
		}
		for _, g := range others {
			if obs.is(obs.stalled, g) || strings.Contains(err.Error(), g) {
				return false
			}
		}
		return true
	})
	if !obs.is(obs.stalled, worker.GroupPayments) {
		t.Fatalf("the observer no longer sees the payments saga stalled; Ready = %v", err)
	}
	if line, ok := logs.last("WARN", "subscriber stalled", worker.GroupPayments); !ok || line["lag_events"] != float64(1) {
		t.Fatalf("stall logged as %v", line)
	}

	payments.broken.Store(false)
	postgrestest.Eventually(t, "the payments saga moves again", func() bool { return !obs.is(obs.stalled, worker.GroupPayments) && w.Ready() == nil })
}

// Dead letters: the operators' use cases, as the command line calls them.
var operator = app.Principal{Role: app.RoleOperator, Subject: "ops"}

func deadLetters(t *testing.T, db *postgres.DB) []app.DeadLetter {
	t.Helper()
	list, err := postgrestest.App(db).DeadLetters(context.Background(), operator, app.DeadLetterQuery{})
	if err != nil {
		t.Fatal(err)
	}
	return list
}

func eventOf(t *testing.T, db *postgres.DB, stream uuid.UUID, eventType string) ledger.RecordedEvent {
	t.Helper()
	events, err := db.Events.Load(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range events {
		if rec.Type == eventType {
			return rec
		}
	}
	t.Fatalf("no %s in stream %s", eventType, stream)
	return ledger.RecordedEvent{}
}

// A saga that fails MaxAttempts times on an event parks it and moves on:
// the next reimbursement is paid; the parked one waits for an operator.
func TestSagaParksAnEventAfterMaxAttemptsAndMovesOn(t *testing.T) {
	db := postgrestest.NewDB(t)
	d := postgrestest.MustDirectory(t, db)
	gw := &sagatest.Gateway{FailFirst: 3}
	obs := newRecorder()
	logs, logger := newLog()
	w := runWorker(t, workertest.On(db, worker.Config{Logger: logger, Observer: obs, MaxAttempts: 3,
		Payments: workertest.Payments(workertest.On(db, worker.Config{}), gw)}))

	first := submit(t, db, d)
	decide(t, db, d, first, false)
	postgrestest.Eventually(t, "the payment is parked", func() bool { return len(deadLetters(t, db)) == 1 })
	requested := eventOf(t, db, ledger.PaymentID(first), ledger.TypePaymentRequested)
	dl := deadLetters(t, db)[0]
	if dl.Group != worker.GroupPayments || dl.Position != requested.Position || dl.EventID != requested.EventID ||
		dl.EventType != ledger.TypePaymentRequested || dl.Attempts != 3 || !strings.Contains(dl.Error, sagatest.ErrInjected.Error()) ||
		dl.Status != app.DeadLetterParked || dl.LastFailedAt.Before(dl.FirstFailedAt) {
		t.Fatalf("dead letter %+v", dl)
	}
	if obs.get(obs.parked, worker.GroupPayments) != 1 {
		t.Fatal("the observer was not told of the parked event")
	}
	line, ok := logs.find("ERROR", "event parked")
	if !ok || line["group"] != worker.GroupPayments || line["position"] != float64(requested.Position) || line["dead_letter_id"] != float64(dl.ID) {
		t.Fatalf("parking logged as %v", line)
	}

	second := submit(t, db, d)
	decide(t, db, d, second, false)
	postgrestest.Eventually(t, "the next payment settles", func() bool { return count(storyTypes(t, db, second), ledger.TypeMemberNotified) == 1 })
	postgrestest.Eventually(t, "the payments saga caught up", func() bool { return status(t, db, worker.GroupPayments).Lag == 0 })
	if types := storyTypes(t, db, first); count(types, ledger.TypePaymentSettled) != 0 {
		t.Fatalf("the parked payment was made: %v", types)
	}
	if err := w.Ready(); err != nil {
		t.Fatalf("a saga that parked an event is reported: %v", err)
	}
}

// A saga's batch transaction sits idle while the saga retries (its steps
// use connections of their own), so a session bound may end it before the
// event is parked: the event is parked all the same, and its delivery in
// the next batch is acknowledged at once.
func TestSagaParksEvenWhenItsBatchSessionHasEnded(t *testing.T) {
	db := postgrestest.NewDBWith(t, postgres.Options{Timeouts: postgres.Timeouts{IdleInTransaction: time.Second}})
	d := postgrestest.MustDirectory(t, db)
	gw := &sagatest.Gateway{FailFirst: 6}
	obs := newRecorder()
	// Six tries 0.1, 0.2, 0.4, 0.8 and 1.6 s apart: the batch's session
	// has ended by the sixth.
	runWorker(t, workertest.On(db, worker.Config{Observer: obs, MaxAttempts: 6, RetryInterval: 100 * time.Millisecond,
		Payments: workertest.Payments(workertest.On(db, worker.Config{}), gw)}))

	id := submit(t, db, d)
	decide(t, db, d, id, false)
	postgrestest.Eventually(t, "the payment is parked", func() bool { return len(deadLetters(t, db)) == 1 })
	postgrestest.Eventually(t, "the payments saga moves on", func() bool { return status(t, db, worker.GroupPayments).Lag == 0 })
	// Six calls: the delivery that came again after the parking was
	// acknowledged without a seventh (which would have paid).
	if dl := deadLetters(t, db)[0]; dl.Attempts != 6 || len(gw.Calls()) != 6 || obs.get(obs.parked, worker.GroupPayments) != 1 {
		t.Fatalf("dead letter %+v after %d calls, parked %d times", dl, len(gw.Calls()), obs.get(obs.parked, worker.GroupPayments))
	}
}

// An operator retries a parked event: the worker runs the saga's handler
// again; a retry that fails parks it again with the new error, one after
// the fault is fixed resolves it and the story completes.
func TestRetriedDeadLetterResolvesOnceTheFaultIsFixed(t *testing.T) {
	db := postgrestest.NewDB(t)
	d := postgrestest.MustDirectory(t, db)
	gw := &sagatest.Gateway{FailFirst: 4} // three to park, one more for the first retry
	runWorker(t, workertest.On(db, worker.Config{MaxAttempts: 3, Payments: workertest.Payments(workertest.On(db, worker.Config{}), gw)}))
	a := postgrestest.App(db)
	ctx := context.Background()

	id := submit(t, db, d)
	decide(t, db, d, id, false)
	postgrestest.Eventually(t, "the payment is parked", func() bool { return len(deadLetters(t, db)) == 1 })
	dl := deadLetters(t, db)[0]

	if _, err := a.RetryDeadLetter(ctx, operator, dl.ID); err != nil {
		t.Fatal(err)
	}
	postgrestest.Eventually(t, "the failed retry parks it again", func() bool {
		got, _ := a.DeadLetter(ctx, operator, dl.ID)
		return got.Status == app.DeadLetterParked && got.Attempts == 4
	})

	if _, err := a.RetryDeadLetter(ctx, operator, dl.ID); err != nil {
		t.Fatal(err)
	}
	postgrestest.Eventually(t, "the retry resolves it", func() bool {
		got, _ := a.DeadLetter(ctx, operator, dl.ID)
		return got.Status == app.DeadLetterResolved
	})
	postgrestest.Eventually(t, "the member is told", func() bool { return count(storyTypes(t, db, id), ledger.TypeMemberNotified) == 1 })
	if types := storyTypes(t, db, id); count(types, ledger.TypePaymentSettled) != 1 {
		t.Fatalf("story %v", types)
	}
	if len(gw.Paid()) != 1 || len(gw.Calls()) != 5 {
		t.Fatalf("rail: %d payments in %d calls, want 1 in 5", len(gw.Paid()), len(gw.Calls()))
	}
}

// An operator discards a parked event: the discard is an event in the
// feed, and every subscriber, the sagas and projectors included, takes it
// in its stride.
func TestDiscardedDeadLetterIsRecordedAndDelivered(t *testing.T) {
	db := postgrestest.NewDB(t)
	d := postgrestest.MustDirectory(t, db)
	mailer := &sagatest.Mailer{FailFirst: 2}
	w := runWorker(t, workertest.On(db, worker.Config{MaxAttempts: 2, Notifications: workertest.Notifications(workertest.On(db, worker.Config{}), mailer)}))
	a := postgrestest.App(db)
	ctx := context.Background()

	id := submit(t, db, d)
	decide(t, db, d, id, true)
	postgrestest.Eventually(t, "the e-mail is parked", func() bool { return len(deadLetters(t, db)) == 1 })
	dl := deadLetters(t, db)[0]
	if dl.Group != worker.GroupNotifications || dl.EventType != ledger.TypeReimbursementDenied {
		t.Fatalf("dead letter %+v", dl)
	}
	discarded, err := a.DiscardDeadLetter(ctx, operator, app.DiscardDeadLetterCommand{ID: dl.ID, Reason: "told the member by phone"})
	if err != nil || discarded.Status != app.DeadLetterDiscarded {
		t.Fatalf("discard = %+v, %v", discarded, err)
	}
	rec := eventOf(t, db, ledger.DeadLetterStreamID(dl.Group, dl.EventID), ledger.TypeDeadLetterDiscarded)
	if rec.Metadata.Actor != "operator:ops" {
		t.Fatalf("discard recorded by %q", rec.Metadata.Actor)
	}
	postgrestest.Eventually(t, "every subscriber handles the discard", func() bool { return caughtUp(t, db) })
	if err := w.Ready(); err != nil {
		t.Fatal(err)
	}
	if len(mailer.Sent()) != 0 || count(storyTypes(t, db, id), ledger.TypeMemberNotified) != 0 {
		t.Fatal("the discarded e-mail was sent")
	}
}
