package app_test

import (
	"slices"
	"testing"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// TestEveryWebhookTypeHasItsEvent: the types an endpoint may subscribe to
// (app.WebhookEventTypes) are exactly those some event of the ledger is
// sent as, each by one event type, so no subscription waits for a message
// that never comes.
func TestEveryWebhookTypeHasItsEvent(t *testing.T) {
	var sent []string
	for _, e := range ledger.EventTypes {
		if typ, ok := app.WebhookType(e); ok {
			if slices.Contains(sent, typ) {
				t.Errorf("%s is sent by two event types", typ)
			}
			sent = append(sent, typ)
		}
	}
	slices.Sort(sent)
	want := slices.Sorted(slices.Values(app.WebhookEventTypes))
	if !slices.Equal(sent, want) {
		t.Fatalf("events are sent as %v; endpoints subscribe to %v", sent, want)
	}
}
