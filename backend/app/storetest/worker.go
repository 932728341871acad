package storetest

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/audit"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/wire"
)

// The worker's use cases: what its consumer groups write in their batch
// transactions, and the dead letters it parks.

// claimEvents returns the events of a claim (its stream and its payment's)
// in position order.
func claimEvents(t *testing.T, h Harness, id uuid.UUID) []ledger.RecordedEvent {
	t.Helper()
	return mustLoad(t, h.Stores.Events, id, ledger.PaymentID(id))
}

// testEnqueueWebhooks enqueues the webhooks of a claim submitted, approved
// and paid in one batch, after every event committed: each message shows
// the claim as of its own event, with a sequence that counts the claim's
// events, its payment's included.
func testEnqueueWebhooks(t *testing.T, h Harness) {
	ctx := context.Background()
	a := app.New(app.Config{Stores: h.Stores})
	d := mustDirectory(t, a)
	r := mustSubmit(t, a, d, d.account, "42.50")
	_, err := a.Approve(ctx, d.admin, app.DecideCommand{ReimbursementID: r.ID, Meta: meta})
	must(t, err)
	pay(t, h, a, r.ID, true)
	other := mustSubmit(t, a, d, d.otherAccount, "7.00") // at a bank no endpoint of which listens

	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	endpoint := app.WebhookEndpoint{ID: uuid.New(), BankID: d.bank.ID, URL: "https://hooks.example.com/claims",
		EventTypes: []string{"reimbursement.submitted", "reimbursement.approved", "reimbursement.payout_settled"},
		Secret:     "whsec_x", CreatedAt: at}
	must(t, h.Stores.Webhooks.AddEndpoint(ctx, endpoint))

	events := append(claimEvents(t, h, r.ID), claimEvents(t, h, other.ID)...)
	enqueue := func() {
		t.Helper()
		must(t, h.Stores.Transact(ctx, func(tx app.Tx) error { return app.EnqueueWebhooks(ctx, tx, app.PersonalData{}, events, at) }))
	}
	enqueue()
	enqueue() // the batch delivered again: nothing twice

	due, err := h.Stores.Deliveries.ClaimDue(ctx, at.Add(time.Minute), nil, 100, time.Minute)
	must(t, err)
	type want struct {
		status, payment string
		sequence        int64
	}
	wants := map[string]want{
		"reimbursement.submitted":      {"pending", "none", 1},
		"reimbursement.approved":       {"approved", "none", 2},
		"reimbursement.payout_settled": {"approved", "settled", 4},
	}
	if len(due) != len(wants) {
		t.Fatalf("%d deliveries due, want one for each of %d events", len(due), len(wants))
	}
	streams := app.New(app.Config{Stores: h.Stores}).Streams() // personal data opened, as the webhooks carry it
	last := int64(0)
	for _, dd := range due {
		var msg wire.WebhookMessage
		must(t, json.Unmarshal(dd.Payload, &msg))
		w, ok := wants[msg.Type]
		if !ok || dd.EventType != msg.Type || dd.Endpoint.ID != endpoint.ID {
			t.Fatalf("a delivery of %s (%s) to %s", msg.Type, dd.EventType, dd.Endpoint.ID)
		}
		got := msg.Data.Reimbursement
		if got.ID != r.ID || got.Status != w.status || got.PaymentStatus != w.payment || got.Sequence != w.sequence {
			t.Errorf("%s carries status %s, payment %s, sequence %d; want %s, %s, %d",
				msg.Type, got.Status, got.PaymentStatus, got.Sequence, w.status, w.payment, w.sequence)
		}
		// The payload is what a read of the claim answered at that event.
		claim, err := streams.ClaimAt(ctx, r.ID, msg.Data.EventID)
		must(t, err)
		if want := wire.NewClaim(claim.Reimbursement, claim.Sequence); !sameJSON(t, got, want) {
			t.Errorf("%s carries %+v, want %+v", msg.Type, got, want)
		}
		last = max(last, got.Sequence)
	}
	if now, err := streams.Claim(ctx, r.ID); err != nil || now.Sequence != last || now.Status != ledger.StatusApproved {
		t.Fatalf("the claim now: %+v, %v; want sequence %d", now, err, last)
	}
	oldest, err := h.Stores.Deliveries.OldestPending(ctx)
	if err != nil || !oldest[endpoint.ID].Equal(at) || len(oldest) != 1 {
		t.Fatalf("oldest pending: %v, %v", oldest, err)
	}
	if again, err := h.Stores.Deliveries.ClaimDue(ctx, at.Add(time.Minute), nil, 100, time.Minute); err != nil || len(again) != 0 {
		t.Fatalf("claimed again within the lease: %d, %v", len(again), err)
	}
	must(t, h.Stores.Deliveries.RecordAttempt(ctx, due[0].ID, endpoint.ID, app.WebhookOutcome{
		Attempt: app.WebhookAttempt{At: at.Add(time.Minute), StatusCode: 204}, Status: app.WebhookSucceeded}))
	if after, err := h.Stores.Deliveries.ClaimDue(ctx, at.Add(time.Hour), nil, 100, time.Minute); err != nil || len(after) != 2 {
		t.Fatalf("due after the lease and one success: %d, %v", len(after), err)
	}
}

func sameJSON(t *testing.T, a, b any) bool {
	t.Helper()
	ja, err := json.Marshal(a)
	must(t, err)
	jb, err := json.Marshal(b)
	must(t, err)
	return string(ja) == string(jb)
}

// testDeadLetters parks, retries and resolves dead letters as the worker
// does.
func testDeadLetters(t *testing.T, h Harness) {
	ctx := context.Background()
	a := app.New(app.Config{Stores: h.Stores})
	op := app.Principal{Role: app.RoleOperator, Subject: "storetest"}
	d := mustDirectory(t, a)
	r := mustSubmit(t, a, d, d.account, "42.50")
	rec := claimEvents(t, h, r.ID)[0]
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

	long := strings.Repeat("é", app.MaxDeadLetterError+10)
	id, err := app.ParkDeadLetter(ctx, h.Stores.DeadLetters, app.Parked{Group: "saga.payments", Event: rec, Error: long,
		Attempts: 10, FirstFailedAt: at, LastFailedAt: at.Add(time.Minute)})
	must(t, err)
	again, err := app.ParkDeadLetter(ctx, h.Stores.DeadLetters, app.Parked{Group: "saga.payments", Event: rec, Error: "timeout",
		Attempts: 3, FirstFailedAt: at.Add(time.Hour), LastFailedAt: at.Add(2 * time.Hour)})
	must(t, err)
	if again != id {
		t.Fatalf("the same event parked again is dead letter %d, not %d", again, id)
	}
	other, err := app.ParkDeadLetter(ctx, h.Stores.DeadLetters, app.Parked{Group: "saga.notifications", Event: rec, Error: long,
		FirstFailedAt: at, LastFailedAt: at})
	must(t, err)
	dl, err := h.Stores.DeadLetters.Get(ctx, id)
	if err != nil || dl.Attempts != 13 || dl.Error != "timeout" || !dl.FirstFailedAt.Equal(at) || !dl.LastFailedAt.Equal(at.Add(2*time.Hour)) ||
		dl.Status != app.DeadLetterParked || dl.EventID != rec.EventID || dl.Position != rec.Position || dl.EventType != rec.Type {
		t.Fatalf("parked twice: %+v, %v", dl, err)
	}
	if dl, err := h.Stores.DeadLetters.Get(ctx, other); err != nil || utf8.RuneCountInString(dl.Error) != app.MaxDeadLetterError+1 || dl.Attempts != 1 {
		t.Fatalf("a long error is kept as %d characters, %d attempts: %v", utf8.RuneCountInString(dl.Error), dl.Attempts, err)
	}
	waiting := func() map[string]int64 {
		t.Helper()
		counts, err := h.Stores.DeadLetters.Waiting(ctx)
		must(t, err)
		out := map[string]int64{}
		for _, c := range counts {
			out[c.Group+" "+string(c.Status)] = c.Count
		}
		return out
	}
	if w := waiting(); len(w) != 2 || w["saga.payments parked"] != 1 || w["saga.notifications parked"] != 1 {
		t.Fatalf("waiting: %v", w)
	}

	groups := []string{"saga.payments"}
	if _, _, ok, err := h.Stores.DeadLetters.ClaimRetry(ctx, groups, at); err != nil || ok {
		t.Fatalf("a retry nobody asked for was claimed: %v, %v", ok, err)
	}
	claim := func(now time.Time) (app.DeadLetter, bool) {
		t.Helper()
		dl, event, ok, err := h.Stores.DeadLetters.ClaimRetry(ctx, groups, now)
		must(t, err)
		if ok && (event.EventID != rec.EventID || event.Type != rec.Type || string(event.Data) != string(rec.Data)) {
			t.Fatalf("claimed dead letter %d with event %+v", dl.ID, event)
		}
		return dl, ok
	}
	_, err = a.RetryDeadLetter(ctx, op, id)
	must(t, err)
	if w := waiting(); w["saga.payments retrying"] != 1 || w["saga.payments parked"] != 0 {
		t.Fatalf("waiting with a retry asked for: %v", w)
	}
	if dl, ok := claim(at); !ok || dl.ID != id {
		t.Fatalf("the retry asked for was not claimed: %+v", dl)
	}
	if _, ok := claim(at.Add(time.Minute)); ok {
		t.Fatal("a retry claimed by a live worker was claimed again")
	}
	if dl, ok := claim(at.Add(app.RetryClaimTimeout + time.Minute)); !ok || dl.ID != id {
		t.Fatal("a retry whose worker died was not taken up again")
	}
	must(t, app.FinishDeadLetterRetry(ctx, h.Stores.DeadLetters, id, errString("still failing"), at.Add(time.Hour)))
	if dl, err := h.Stores.DeadLetters.Get(ctx, id); err != nil || dl.Status != app.DeadLetterParked || dl.Attempts != 14 || dl.Error != "still failing" {
		t.Fatalf("after a failed retry: %+v, %v", dl, err)
	}
	_, err = a.RetryDeadLetter(ctx, op, id)
	must(t, err)
	if _, ok := claim(at.Add(2 * time.Hour)); !ok {
		t.Fatal("a retry asked for again was not claimed")
	}
	must(t, app.FinishDeadLetterRetry(ctx, h.Stores.DeadLetters, id, nil, at.Add(2*time.Hour)))
	if dl, err := h.Stores.DeadLetters.Get(ctx, id); err != nil || dl.Status != app.DeadLetterResolved {
		t.Fatalf("after a successful retry: %+v, %v", dl, err)
	}
	if w := waiting(); len(w) != 1 || w["saga.notifications parked"] != 1 {
		t.Fatalf("waiting at the end: %v", w)
	}
	list, err := a.DeadLetters(ctx, op, app.DeadLetterQuery{Status: app.DeadLetterParked})
	if err != nil || len(list) != 1 || list[0].ID != other {
		t.Fatalf("parked: %+v, %v", list, err)
	}

	// An operator gives up on the other one: recorded as an event.
	discarded, err := a.DiscardDeadLetter(ctx, op, app.DiscardDeadLetterCommand{ID: other, Reason: "the member left", Meta: meta})
	if err != nil || discarded.Status != app.DeadLetterDiscarded {
		t.Fatalf("discarded: %+v, %v", discarded, err)
	}
	if dl, err := h.Stores.DeadLetters.Get(ctx, other); err != nil || dl.Status != app.DeadLetterDiscarded || dl.Reason != "the member left" {
		t.Fatalf("after the discard: %+v, %v", dl, err)
	}
	if story := mustLoad(t, h.Stores.Events, ledger.DeadLetterStreamID("saga.notifications", rec.EventID)); len(story) != 1 ||
		story[0].Type != ledger.TypeDeadLetterDiscarded {
		t.Fatalf("the discard's stream: %+v", story)
	}
	if w := waiting(); len(w) != 0 {
		t.Fatalf("waiting after the discard: %v", w)
	}
}

type errString string

func (e errString) Error() string { return string(e) }

// testAuditTree appends the log to the audit tree as its consumer group
// does: a head per batch, nothing twice, and proofs that check.
func testAuditTree(t *testing.T, h Harness) {
	ctx := context.Background()
	skey, _, err := audit.GenerateKey("storetest")
	must(t, err)
	signer, err := audit.NewSigner(skey)
	must(t, err)
	stream := uuid.New()
	mustAppend(t, h.Stores.Events, note(stream, 1))
	mustAppend(t, h.Stores.Events, note(uuid.New(), 1))
	mustAppend(t, h.Stores.Events, note(uuid.New(), 1))
	events, err := h.Stores.Feed.Feed(ctx, app.FeedQuery{Limit: 100})
	must(t, err)
	if len(events) != 3 {
		t.Fatalf("%d events in the feed", len(events))
	}
	appendBatch := func(batch []ledger.RecordedEvent) {
		t.Helper()
		must(t, h.Stores.Transact(ctx, func(tx app.Tx) error { return app.AppendAuditTree(ctx, tx, signer, batch) }))
	}
	appendBatch(events[:2])
	appendBatch(events[:3]) // redelivered in part: only the third is new
	appendBatch(events[1:3])
	heads, err := h.Stores.Audit.Heads(ctx, 0, 10)
	if err != nil || len(heads) != 2 || heads[0].TreeSize != 2 || heads[1].TreeSize != 3 {
		t.Fatalf("heads: %+v, %v", heads, err)
	}
	latest, err := h.Stores.Audit.LatestHead(ctx)
	if err != nil || latest == nil || latest.TreeSize != 3 {
		t.Fatalf("latest head: %+v, %v", latest, err)
	}
	for i, e := range events {
		proof, err := h.Stores.Audit.InclusionProof(ctx, e.Position, 0)
		must(t, err)
		if proof.LeafIndex != int64(i) || proof.LeafHash != audit.LeafHash(e.Hash) {
			t.Fatalf("event %d is leaf %d", i, proof.LeafIndex)
		}
		must(t, audit.CheckInclusion(*latest, proof.LeafIndex, proof.LeafHash, proof.Hashes))
	}
	consistency, err := h.Stores.Audit.ConsistencyProof(ctx, 2, 3)
	must(t, err)
	must(t, audit.CheckConsistency(heads[0], heads[1], consistency))
	_, err = h.Stores.Audit.ConsistencyProof(ctx, 2, 4)
	wantCode(t, "a tree beyond the stored one", err, ledger.EInvalid)
}
