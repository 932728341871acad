package storetest

import (
	"context"
	"slices"
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
	if d, err := w.Deliveries(ctx, first.ID, 10); err != nil || len(d) != 0 {
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
