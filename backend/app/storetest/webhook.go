package storetest

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

func testWebhookEndpoints(t *testing.T, h Harness) {
	ctx := context.Background()
	w := h.Stores.Webhooks
	at := time.Date(2026, 3, 1, 9, 0, 0, 123456000, time.UTC)
	bank := ledger.Bank{ID: uuid.New(), Name: "First Community Bank", Location: "Springfield", CreatedAt: at}
	other := ledger.Bank{ID: uuid.New(), Name: "Harbor Savings", Location: "Shelbyville", CreatedAt: at}
	must(t, h.Stores.Directory.AddBank(ctx, bank))
	must(t, h.Stores.Directory.AddBank(ctx, other))

	first := app.WebhookEndpoint{ID: uuid.New(), BankID: bank.ID, URL: "https://hooks.example.com/a",
		EventTypes: []string{"reimbursement.approved"}, Description: "payments", Secret: "whsec_first", CreatedAt: at.Add(time.Minute)}
	second := app.WebhookEndpoint{ID: uuid.New(), BankID: bank.ID, URL: "https://hooks.example.com/b",
		EventTypes: []string{"reimbursement.denied", "reimbursement.paid"}, Secret: "whsec_second", CreatedAt: at}
	theirs := app.WebhookEndpoint{ID: uuid.New(), BankID: other.ID, URL: "https://hooks.example.org/",
		EventTypes: []string{"reimbursement.submitted"}, Secret: "whsec_theirs", CreatedAt: at}
	for _, e := range []app.WebhookEndpoint{first, second, theirs} {
		must(t, w.AddEndpoint(ctx, e))
	}
	wantCode(t, "an endpoint id taken", w.AddEndpoint(ctx, first), ledger.EConflict)

	got, err := w.Endpoint(ctx, bank.ID, first.ID)
	if err != nil || got.URL != first.URL || !slices.Equal(got.EventTypes, first.EventTypes) || got.Secret != first.Secret ||
		got.Description != first.Description || !got.CreatedAt.Equal(first.CreatedAt) || !got.DisabledAt.IsZero() {
		t.Fatalf("endpoint read back as %+v, %v", got, err)
	}
	_, err = w.Endpoint(ctx, other.ID, first.ID)
	wantCode(t, "an endpoint under another bank", err, ledger.ENotFound)

	list, err := w.Endpoints(ctx, bank.ID)
	if err != nil || len(list) != 2 || list[0].ID != second.ID || list[1].ID != first.ID {
		t.Fatalf("the bank's endpoints, oldest first: %+v, %v", list, err)
	}

	expires := at.Add(24 * time.Hour)
	rotated, err := w.RotateSecret(ctx, bank.ID, first.ID, "whsec_next", expires)
	if err != nil || rotated.Secret != "whsec_next" || rotated.PreviousSecret != "whsec_first" || !rotated.PreviousSecretExpiresAt.Equal(expires) {
		t.Fatalf("rotated to %+v, %v", rotated, err)
	}
	if s := rotated.Secrets(at); !slices.Equal(s, []string{"whsec_next", "whsec_first"}) {
		t.Fatalf("signing secrets in the window: %v", s)
	}
	if s := rotated.Secrets(expires); !slices.Equal(s, []string{"whsec_next"}) {
		t.Fatalf("signing secrets after the window: %v", s)
	}
	_, err = w.RotateSecret(ctx, other.ID, first.ID, "whsec_stolen", expires)
	wantCode(t, "rotating another bank's endpoint", err, ledger.ENotFound)
	if got, _ := w.Endpoint(ctx, bank.ID, first.ID); got.Secret != "whsec_next" {
		t.Fatalf("secret after a refused rotation: %q", got.Secret)
	}
	_, err = w.Enable(ctx, other.ID, first.ID)
	wantCode(t, "enabling another bank's endpoint", err, ledger.ENotFound)
	if enabled, err := w.Enable(ctx, bank.ID, first.ID); err != nil || !enabled.DisabledAt.IsZero() || enabled.Secret != "whsec_next" {
		t.Fatalf("enabled as %+v, %v", enabled, err)
	}
	if d, err := w.Deliveries(ctx, app.DeliveryQuery{EndpointID: first.ID, Limit: 10}); err != nil || len(d) != 0 {
		t.Fatalf("deliveries of an endpoint no event reached: %+v, %v", d, err)
	}
	wantCode(t, "redelivering a delivery that does not exist", w.Redeliver(ctx, first.ID, uuid.New(), at), ledger.ENotFound)

	wantCode(t, "deleting another bank's endpoint", w.DeleteEndpoint(ctx, other.ID, first.ID), ledger.ENotFound)
	must(t, w.DeleteEndpoint(ctx, bank.ID, first.ID))
	_, err = w.Endpoint(ctx, bank.ID, first.ID)
	wantCode(t, "a deleted endpoint", err, ledger.ENotFound)
	wantCode(t, "deleting it again", w.DeleteEndpoint(ctx, bank.ID, first.ID), ledger.ENotFound)
	if list, err := w.Endpoints(ctx, other.ID); err != nil || len(list) != 1 || list[0].ID != theirs.ID {
		t.Fatalf("the other bank's endpoints: %+v, %v", list, err)
	}
}

// The delivery log: what the worker writes, each endpoint's deliveries
// listed newest first with their attempts, redelivered only through their
// own endpoint.
func testWebhookDeliveries(t *testing.T, h Harness) {
	ctx := context.Background()
	w, log := h.Stores.Webhooks, h.Stores.Deliveries
	at := time.Date(2026, 3, 1, 9, 0, 0, 123456789, time.UTC)
	stored := func(t time.Time) time.Time { return t.Round(time.Microsecond) } // as timestamptz keeps it
	bank := ledger.Bank{ID: uuid.New(), Name: "First Community Bank", Location: "Springfield", CreatedAt: at}
	other := ledger.Bank{ID: uuid.New(), Name: "Harbor Savings", Location: "Shelbyville", CreatedAt: at}
	must(t, h.Stores.Directory.AddBank(ctx, bank))
	must(t, h.Stores.Directory.AddBank(ctx, other))
	endpoint := func(bankID uuid.UUID, types ...string) app.WebhookEndpoint {
		e := app.WebhookEndpoint{ID: uuid.New(), BankID: bankID, URL: "https://hooks.example.com/" + types[0], EventTypes: types,
			Secret: "whsec_x", CreatedAt: at}
		must(t, w.AddEndpoint(ctx, e))
		return e
	}
	both := endpoint(bank.ID, "reimbursement.approved", "reimbursement.denied")
	approvals := endpoint(bank.ID, "reimbursement.approved")
	theirs := endpoint(other.ID, "reimbursement.approved")
	enqueue := func(bankID uuid.UUID, typ string, at time.Time) uuid.UUID {
		t.Helper()
		e := app.WebhookEnqueue{BankID: bankID, EventID: uuid.New(), EventType: typ, Payload: []byte(`{"type":"` + typ + `"}`), At: at}
		must(t, log.EnqueueDeliveries(ctx, e))
		must(t, log.EnqueueDeliveries(ctx, e)) // redelivered to the consumer group: nothing twice
		return e.EventID
	}
	list := func(endpointID uuid.UUID) []app.WebhookDelivery {
		t.Helper()
		ds, err := w.Deliveries(ctx, app.DeliveryQuery{EndpointID: endpointID, Limit: 100})
		must(t, err)
		return ds
	}
	events := func(ds []app.WebhookDelivery) []uuid.UUID {
		var ids []uuid.UUID
		for _, d := range ds {
			ids = append(ids, d.EventID)
		}
		return ids
	}

	approved := enqueue(bank.ID, "reimbursement.approved", at)
	denied := enqueue(bank.ID, "reimbursement.denied", at.Add(time.Second))
	elsewhere := enqueue(other.ID, "reimbursement.approved", at.Add(2*time.Second))
	ds := list(both.ID)
	if !slices.Equal(events(ds), []uuid.UUID{denied, approved}) {
		t.Fatalf("the endpoint's deliveries, newest first: %v, want %v", events(ds), []uuid.UUID{denied, approved})
	}
	if d := ds[1]; d.EndpointID != both.ID || d.EventType != "reimbursement.approved" || d.Status != app.WebhookPending ||
		d.AttemptCount != 0 || len(d.Attempts) != 0 || !d.CreatedAt.Equal(stored(at)) || !d.NextAttemptAt.Equal(stored(at)) ||
		!d.FirstAttemptAt.IsZero() {
		t.Fatalf("an enqueued delivery read back as %+v", d)
	}
	if got := events(list(approvals.ID)); !slices.Equal(got, []uuid.UUID{approved}) {
		t.Fatalf("an endpoint of approvals only got %v", got)
	}
	if got := events(list(theirs.ID)); !slices.Equal(got, []uuid.UUID{elsewhere}) {
		t.Fatalf("another bank's endpoint got %v, want its own bank's event only", got)
	}
	if first, err := w.Deliveries(ctx, app.DeliveryQuery{EndpointID: both.ID, Limit: 1}); err != nil || !slices.Equal(events(first), []uuid.UUID{denied}) {
		t.Fatalf("at most one delivery: %v, %v", events(first), err)
	}

	// Two attempts: a 503, then no answer at the window's end; the
	// endpoint is disabled with the reason.
	d := ds[1]
	must(t, log.RecordAttempt(ctx, d.ID, both.ID, app.WebhookOutcome{
		Attempt: app.WebhookAttempt{At: at.Add(3 * time.Second), StatusCode: 503, Latency: 1500*time.Microsecond + 300, Answer: "down\x00"},
		Status:  app.WebhookPending, NextAttemptAt: at.Add(8 * time.Second)}))
	if got := list(both.ID)[1]; got.Status != app.WebhookPending || got.AttemptCount != 1 || !got.NextAttemptAt.Equal(stored(at.Add(8*time.Second))) {
		t.Fatalf("after a failed attempt: %+v", got)
	}
	must(t, log.RecordAttempt(ctx, d.ID, both.ID, app.WebhookOutcome{
		Attempt: app.WebhookAttempt{At: at.Add(9 * time.Second), Latency: 5 * time.Second, Error: "timeout"},
		Status:  app.WebhookFailed, DisableReason: "deliveries failed for 72h0m0s; the last attempt: timeout"}))
	got := list(both.ID)[1]
	if got.ID != d.ID || got.Status != app.WebhookFailed || got.AttemptCount != 2 || !got.NextAttemptAt.IsZero() || len(got.Attempts) != 2 {
		t.Fatalf("after the last attempt: %+v", got)
	}
	if a := got.Attempts[0]; !a.At.Equal(stored(at.Add(3*time.Second))) || a.StatusCode != 503 || a.Latency != 1500*time.Microsecond ||
		a.Answer != "down\uFFFD" || a.Error != "" {
		t.Fatalf("the first attempt read back as %+v", a)
	}
	if a := got.Attempts[1]; a.StatusCode != 0 || a.Error != "timeout" || a.Latency != 5*time.Second {
		t.Fatalf("the second attempt read back as %+v", a)
	}
	disabled, err := w.Endpoint(ctx, bank.ID, both.ID)
	if err != nil || !disabled.DisabledAt.Equal(stored(at.Add(9*time.Second))) || !strings.HasPrefix(disabled.DisabledReason, "deliveries failed") {
		t.Fatalf("the endpoint after its delivery failed for good: %+v, %v", disabled, err)
	}
	// A disabled endpoint is given no new deliveries; the other endpoint is.
	enqueue(bank.ID, "reimbursement.approved", at.Add(10*time.Second))
	if n, m := len(list(both.ID)), len(list(approvals.ID)); n != 2 || m != 2 {
		t.Fatalf("after another approval: %d deliveries to the disabled endpoint (want 2), %d to the enabled one (want 2)", n, m)
	}

	// Redelivery goes through the delivery's own endpoint only.
	wantCode(t, "redelivering through another bank's endpoint", w.Redeliver(ctx, theirs.ID, d.ID, at), ledger.ENotFound)
	wantCode(t, "redelivering through another endpoint of the bank", w.Redeliver(ctx, approvals.ID, d.ID, at), ledger.ENotFound)
	wantCode(t, "redelivering a delivery that does not exist", w.Redeliver(ctx, both.ID, uuid.New(), at), ledger.ENotFound)
	if got := list(both.ID)[1]; got.Status != app.WebhookFailed {
		t.Fatalf("a refused redelivery changed the delivery: %+v", got)
	}
	again := at.Add(time.Hour)
	must(t, w.Redeliver(ctx, both.ID, d.ID, again))
	if got := list(both.ID)[1]; got.Status != app.WebhookPending || !got.NextAttemptAt.Equal(stored(again)) || !got.FirstAttemptAt.IsZero() ||
		got.AttemptCount != 2 || len(got.Attempts) != 2 {
		t.Fatalf("redelivered: %+v, want pending now on a fresh schedule, its attempts kept", got)
	}

	// Deleting an endpoint deletes its log.
	must(t, w.DeleteEndpoint(ctx, bank.ID, approvals.ID))
	if got := list(approvals.ID); len(got) != 0 {
		t.Fatalf("a deleted endpoint's deliveries: %+v", got)
	}
}

// The delivery log is paged newest first by (creation time, id): pages
// that follow each other's last key cover the log once, in order, also
// where deliveries were created at the same instant.
func testWebhookDeliveryPages(t *testing.T, h Harness) {
	ctx := context.Background()
	w := h.Stores.Webhooks
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	bank := ledger.Bank{ID: uuid.New(), Name: "First Community Bank", Location: "Springfield", CreatedAt: at}
	must(t, h.Stores.Directory.AddBank(ctx, bank))
	e := app.WebhookEndpoint{ID: uuid.New(), BankID: bank.ID, URL: "https://hooks.example.com/", EventTypes: []string{"reimbursement.submitted"},
		Secret: "whsec_x", CreatedAt: at}
	must(t, w.AddEndpoint(ctx, e))
	// Seven deliveries, three of them at one instant (one batch's).
	for _, offset := range []time.Duration{0, time.Second, time.Second, time.Second, 2 * time.Second, 3 * time.Second, 4 * time.Second} {
		must(t, h.Stores.Deliveries.EnqueueDeliveries(ctx, app.WebhookEnqueue{BankID: bank.ID, EventID: uuid.New(),
			EventType: "reimbursement.submitted", Payload: []byte(`{}`), At: at.Add(offset)}))
	}
	all, err := w.Deliveries(ctx, app.DeliveryQuery{EndpointID: e.ID, Limit: 100})
	if err != nil || len(all) != 7 {
		t.Fatalf("the whole log: %d deliveries, %v", len(all), err)
	}
	for i := 1; i < len(all); i++ {
		prev, cur := all[i-1], all[i]
		if cur.CreatedAt.After(prev.CreatedAt) || cur.CreatedAt.Equal(prev.CreatedAt) && slices.Compare(cur.ID[:], prev.ID[:]) > 0 {
			t.Fatalf("not newest first by (creation time, id): %v then %v", prev, cur)
		}
	}
	var paged []app.WebhookDelivery
	q := app.DeliveryQuery{EndpointID: e.ID, Limit: 2}
	for range 10 {
		page, err := w.Deliveries(ctx, q)
		must(t, err)
		paged = append(paged, page...)
		if len(page) < q.Limit {
			break
		}
		last := page[len(page)-1]
		q.Before = app.PageKey{CreatedAt: last.CreatedAt, ID: last.ID}
	}
	if len(paged) != len(all) {
		t.Fatalf("pages of two held %d deliveries, the log %d", len(paged), len(all))
	}
	for i := range all {
		if paged[i].ID != all[i].ID {
			t.Fatalf("page order differs at %d: %v, want %v", i, paged[i].ID, all[i].ID)
		}
	}
	// The key of the oldest delivery ends the log.
	oldest := all[len(all)-1]
	if rest, err := w.Deliveries(ctx, app.DeliveryQuery{EndpointID: e.ID, Limit: 2, Before: app.PageKey{CreatedAt: oldest.CreatedAt, ID: oldest.ID}}); err != nil || len(rest) != 0 {
		t.Fatalf("before the oldest: %v, %v", rest, err)
	}
}
