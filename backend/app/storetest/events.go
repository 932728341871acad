package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/audit"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

func testAppendAndLoad(t *testing.T, h Harness) {
	ctx := context.Background()
	a, b := uuid.New(), uuid.New()
	recorded := mustAppend(t, h.Stores.Events, note(a, 1), note(a, 2), note(b, 1))
	recorded = append(recorded, mustAppend(t, h.Stores.Events, note(a, 3))...)
	loaded := mustLoad(t, h.Stores.Events, a, b)
	if len(loaded) != 4 {
		t.Fatalf("loaded %d events, want 4", len(loaded))
	}
	metaJSON, _ := json.Marshal(meta)
	prev := map[uuid.UUID][]byte{}
	for i, got := range loaded {
		want := recorded[i]
		if got.EventID != want.EventID || got.Position != want.Position || got.StreamVersion != want.StreamVersion ||
			string(got.Data) != string(want.Data) || got.Metadata != meta || !got.RecordedAt.Equal(want.RecordedAt) {
			t.Fatalf("event %d loaded as %+v, appended as %+v", i, got, want)
		}
		if i > 0 && got.Position <= loaded[i-1].Position {
			t.Fatalf("positions %d then %d", loaded[i-1].Position, got.Position)
		}
		// The chain an auditor recomputes: the stores must hash as package audit does.
		content := audit.Content{EventID: got.EventID, StreamID: got.StreamID, StreamType: got.StreamType, StreamVersion: got.StreamVersion,
			Type: got.Type, Data: got.Data, Metadata: metaJSON, RecordedAt: got.RecordedAt}
		if string(got.PrevHash) != string(prev[got.StreamID]) || string(got.Hash) != string(audit.EventHash(content, prev[got.StreamID])) ||
			string(got.Hash) != string(want.Hash) {
			t.Fatalf("event %d (%s v%d) is not chained to its stream's previous event", i, got.StreamID, got.StreamVersion)
		}
		prev[got.StreamID] = got.Hash
	}
	if only := mustLoad(t, h.Stores.Events, b); len(only) != 1 || only[0].EventID != recorded[2].EventID {
		t.Fatalf("loading one stream: %+v", only)
	}
	if none := mustLoad(t, h.Stores.Events, uuid.New()); len(none) != 0 {
		t.Fatalf("an unknown stream has %d events", len(none))
	}
	for stream, want := range map[uuid.UUID]int64{a: 3, b: 1, uuid.New(): 0} {
		if v, err := h.Stores.Events.StreamVersion(ctx, stream); err != nil || v != want {
			t.Fatalf("stream version %d, %v; want %d", v, err, want)
		}
	}
	report, err := h.Stores.Audit.Verify(ctx, auditKeys, nil)
	if err != nil || !report.OK() || report.Events != 4 || report.Streams != 2 {
		t.Fatalf("verify an intact log: %+v, %v", report, err)
	}
	if cps, err := h.Stores.Audit.Checkpoints(ctx, 0, 10); err != nil || len(cps) != 0 {
		t.Fatalf("checkpoints nobody recorded: %v, %v", cps, err)
	}
	if heads, err := h.Stores.Audit.Heads(ctx, 0, 10); err != nil || len(heads) != 0 {
		t.Fatalf("heads nobody signed: %v, %v", heads, err)
	}
}

func testTakenVersion(t *testing.T, h Harness) {
	ctx := context.Background()
	a, b := uuid.New(), uuid.New()
	mustAppend(t, h.Stores.Events, note(a, 1))
	// The new stream's event comes first: the conflict must undo it.
	if _, err := h.Stores.Events.Append(ctx, meta, note(b, 1), note(a, 1)); !errors.Is(err, ledger.ErrVersionConflict) {
		t.Fatalf("append at a taken version: %v, want ledger.ErrVersionConflict", err)
	}
	if _, err := h.Stores.Events.Append(ctx, meta, note(a, 3)); err == nil {
		t.Fatal("appended version 3 after version 1")
	}
	if got := mustLoad(t, h.Stores.Events, a, b); len(got) != 1 {
		t.Fatalf("refused appends left %d events, want 1", len(got))
	}
}

// testGivenStream: an event decided on another stream's state (Given) is
// appended only while that stream is at the version given, whether it is
// appended alone, with others, or in a transaction, which stays usable.
func testGivenStream(t *testing.T, h Harness) {
	ctx := context.Background()
	given, stream := uuid.New(), uuid.New()
	at := func(e ledger.PendingEvent, version int64) ledger.PendingEvent {
		e.Given = &ledger.StreamAt{StreamID: given, Version: version}
		return e
	}
	mustAppend(t, h.Stores.Events, at(note(stream, 1), 0)) // a stream with no events is at 0
	mustAppend(t, h.Stores.Events, note(given, 1))
	if _, err := h.Stores.Events.Append(ctx, meta, at(note(stream, 2), 0)); !errors.Is(err, ledger.ErrStaleRead) {
		t.Fatalf("appended on a stream read at 0, now at 1: %v, want ledger.ErrStaleRead", err)
	}
	other := uuid.New()
	if _, err := h.Stores.Events.Append(ctx, meta, note(other, 1), at(note(stream, 2), 0)); !errors.Is(err, ledger.ErrStaleRead) {
		t.Fatalf("appended two events, the second on a stale read: %v, want ledger.ErrStaleRead", err)
	}
	if got := mustLoad(t, h.Stores.Events, stream, other); len(got) != 1 {
		t.Fatalf("stale appends left %d events, want 1", len(got))
	}
	err := h.Stores.Transact(ctx, func(tx app.Tx) error {
		if _, err := tx.Events.Append(ctx, meta, at(note(stream, 2), 0)); !errors.Is(err, ledger.ErrStaleRead) {
			t.Errorf("in a transaction, appended on a stale read: %v", err)
		}
		_, err := tx.Events.Append(ctx, meta, at(note(stream, 2), 1))
		return err
	})
	if err != nil {
		t.Fatalf("a transaction that decided again after a stale read: %v", err)
	}
	if got := mustLoad(t, h.Stores.Events, stream); len(got) != 2 {
		t.Fatalf("the stream holds %d events, want 2", len(got))
	}
}

func testTransact(t *testing.T, h Harness) {
	ctx := context.Background()
	errRefused := errors.New("refused")
	for _, refuse := range []bool{true, false} {
		stream := uuid.New()
		bank := ledger.Bank{ID: uuid.New(), Name: "Harbor Savings", Location: "Shelbyville", CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
		err := h.Stores.Transact(ctx, func(tx app.Tx) error {
			mustAppend(t, tx.Events, note(stream, 1))
			if err := tx.Directory.AddBank(ctx, bank); err != nil {
				return err
			}
			if v, err := tx.Events.StreamVersion(ctx, stream); err != nil || v != 1 {
				t.Errorf("the transaction does not see its own append: %d, %v", v, err)
			}
			if v, err := h.Stores.Events.StreamVersion(ctx, stream); err != nil || v != 0 {
				t.Errorf("an uncommitted append is seen outside its transaction: %d, %v", v, err)
			}
			if refuse {
				return errRefused
			}
			return nil
		})
		stored, bankErr := h.Stores.Directory.Bank(ctx, bank.ID)
		events := mustLoad(t, h.Stores.Events, stream)
		switch {
		case refuse && (!errors.Is(err, errRefused) || len(events) != 0 || ledger.ErrorCode(bankErr) != ledger.ENotFound):
			t.Fatalf("rolled back: Transact %v, %d events, bank %v", err, len(events), bankErr)
		case !refuse && (err != nil || len(events) != 1 || bankErr != nil || stored != bank):
			t.Fatalf("committed: Transact %v, %d events, bank %+v %v", err, len(events), stored, bankErr)
		}
	}

	// A failed statement aborts the transaction: carrying on commits nothing.
	taken, fresh := uuid.New(), uuid.New()
	mustAppend(t, h.Stores.Events, note(taken, 1))
	err := h.Stores.Transact(ctx, func(tx app.Tx) error {
		mustAppend(t, tx.Events, note(fresh, 1))
		if _, err := tx.Events.Append(ctx, meta, note(taken, 1)); !errors.Is(err, ledger.ErrVersionConflict) {
			t.Errorf("append at a taken version in a transaction: %v", err)
		}
		return nil
	})
	if err == nil || len(mustLoad(t, h.Stores.Events, fresh)) != 0 {
		t.Fatalf("a transaction that ignored its failed append committed: %v", err)
	}
}

// testConcurrentAppend: a version another transaction appended is taken once
// that one commits, and free again if it rolls back.
func testConcurrentAppend(t *testing.T, h Harness) {
	ctx := context.Background()
	for _, commit := range []bool{true, false} {
		stream := uuid.New()
		mustAppend(t, h.Stores.Events, note(stream, 1))
		appended, release, first := make(chan struct{}), make(chan struct{}), make(chan error, 1)
		go func() {
			first <- h.Stores.Transact(ctx, func(tx app.Tx) error {
				_, err := tx.Events.Append(ctx, meta, note(stream, 2))
				close(appended)
				<-release
				if err == nil && !commit {
					err = errors.New("rolled back")
				}
				return err
			})
		}()
		<-appended
		second := make(chan error, 1)
		go func() {
			_, err := h.Stores.Events.Append(ctx, meta, note(stream, 2))
			second <- err
		}()
		// Whether the second append waits for the first or starts after it
		// ends, its outcome is the same.
		close(release)
		<-first
		err := <-second
		if commit && !errors.Is(err, ledger.ErrVersionConflict) || !commit && err != nil {
			t.Fatalf("first transaction committed %v: second append got %v", commit, err)
		}
		if v, _ := h.Stores.Events.StreamVersion(ctx, stream); v != 2 {
			t.Fatalf("stream at version %d, want 2", v)
		}
	}
}

func testFeed(t *testing.T, h Harness) {
	ctx := context.Background()
	feed := func(q app.FeedQuery) []ledger.RecordedEvent {
		t.Helper()
		events, err := h.Stores.Feed.Feed(ctx, q)
		if err != nil {
			t.Fatalf("feed %+v: %v", q, err)
		}
		return events
	}
	s, other := uuid.New(), uuid.New()
	mustAppend(t, h.Stores.Events, note(s, 1))
	mustAppend(t, h.Stores.Events, ledger.PendingEvent{StreamID: other, StreamType: ledger.StreamPayment, Version: 1,
		Event: ledger.PaymentFailed{PaymentID: other, Reason: "closed account"}})
	mustAppend(t, h.Stores.Events, note(s, 2))
	// A running transaction holds back every event committed after it began writing.
	appended, release, held := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		held <- h.Stores.Transact(ctx, func(tx app.Tx) error {
			_, err := tx.Events.Append(ctx, meta, note(s, 3))
			close(appended)
			<-release
			return err
		})
	}()
	<-appended
	mustAppend(t, h.Stores.Events, note(other, 2))
	for _, e := range feed(app.FeedQuery{Limit: 100}) {
		if e.StreamVersion > 2 || e.StreamID == other && e.StreamVersion == 2 {
			t.Fatalf("the feed shows %s v%d while an older transaction runs", e.StreamID, e.StreamVersion)
		}
	}
	close(release)
	must(t, <-held)
	all := eventually(t, func() []ledger.RecordedEvent { return feed(app.FeedQuery{Limit: 100}) }, 5)
	if all[3].StreamID != s || all[3].StreamVersion != 3 {
		t.Fatalf("commit order: the held transaction's event comes fourth, got %+v", all[3])
	}
	if got := feed(app.FeedQuery{Limit: 2}); len(got) != 2 || got[1].EventID != all[1].EventID {
		t.Fatalf("limit 2: %+v", got)
	}
	if got := feed(app.FeedQuery{After: all[1].Position, Limit: 100}); len(got) != 3 || got[0].EventID != all[2].EventID {
		t.Fatalf("after the second: %+v", got)
	}
	if got := feed(app.FeedQuery{Types: []string{ledger.TypePaymentFailed}, Limit: 100}); len(got) != 1 || got[0].EventID != all[1].EventID {
		t.Fatalf("by type: %+v", got)
	}
	if got := feed(app.FeedQuery{StreamID: other, Limit: 100}); len(got) != 2 || got[0].StreamID != other || got[1].StreamID != other {
		t.Fatalf("by stream: %+v", got)
	}
	// recorded_at in [From, To): the two split the feed at the event at From.
	at := all[2].RecordedAt
	from, to := feed(app.FeedQuery{From: at, Limit: 100}), feed(app.FeedQuery{To: at, Limit: 100})
	if len(from)+len(to) != len(all) || slices.ContainsFunc(from, func(e ledger.RecordedEvent) bool { return e.RecordedAt.Before(at) }) ||
		slices.ContainsFunc(to, func(e ledger.RecordedEvent) bool { return !e.RecordedAt.Before(at) }) {
		t.Fatalf("from %v: %d events, to it: %d; want %d in all", at, len(from), len(to), len(all))
	}
	var invalid *ledger.Error
	if _, err := h.Stores.Feed.Feed(ctx, app.FeedQuery{After: all[4].Position + 1000, Limit: 10}); !errors.As(err, &invalid) ||
		invalid.Code != ledger.EInvalid || len(invalid.Fields) != 1 || invalid.Fields[0].Field != "after" {
		t.Fatalf("after no event's position: %v, want invalid naming after", err)
	}
}

// eventually returns read's answer once it holds n events. Transactions of
// other tests on a shared PostgreSQL server may hold the feed back a moment:
// that wait is the server's, so it is polled, with a generous limit.
func eventually(t *testing.T, read func() []ledger.RecordedEvent, n int) []ledger.RecordedEvent {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if events := read(); len(events) == n {
			return events
		} else if time.Now().After(deadline) {
			t.Fatalf("the feed shows %d events, want %d", len(events), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
