package app

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/wire"
)

// WebhookQueue is the webhooks' delivery log as the worker writes it: the
// webhooks consumer group enqueues in its batch transaction (Tx.Deliveries),
// the delivery loop claims due deliveries and records their attempts.
type WebhookQueue interface {
	// ErasePayloads rewrites, with rewrite, the body of every delivery
	// about one of the reimbursements (their member's personal data was
	// erased).
	ErasePayloads(ctx context.Context, reimbursementIDs []uuid.UUID, rewrite func(payload []byte) ([]byte, error)) error
	// Listeners reads which banks have an enabled endpoint subscribing to
	// each of types.
	Listeners(ctx context.Context, types []string) (WebhookListeners, error)
	// EnqueueDeliveries writes a pending delivery for each enabled endpoint
	// of the bank that subscribes to the type. A redelivered event writes
	// nothing twice.
	EnqueueDeliveries(ctx context.Context, e WebhookEnqueue) error
	// ClaimDue claims up to limit due deliveries of endpoints not in busy,
	// and holds them until lease has passed: a worker that dies mid-send
	// lets them go, and another sends them.
	ClaimDue(ctx context.Context, now time.Time, busy []uuid.UUID, limit int, lease time.Duration) ([]DueDelivery, error)
	// RecordAttempt records an attempt and its outcome; a failed one
	// disables the endpoint with o.DisableReason.
	RecordAttempt(ctx context.Context, deliveryID, endpointID uuid.UUID, o WebhookOutcome) error
	// OldestPending returns, per endpoint, when its oldest delivery not yet
	// delivered was created.
	OldestPending(ctx context.Context) (map[uuid.UUID]time.Time, error)
}

// WebhookListeners are the (bank, webhook type) pairs that some enabled
// endpoint subscribes to: for each type, its banks.
type WebhookListeners map[string]map[uuid.UUID]bool

// Type reports whether any bank listens to typ.
func (l WebhookListeners) Type(typ string) bool { return len(l[typ]) > 0 }

// Bank reports whether the bank listens to typ.
func (l WebhookListeners) Bank(bankID uuid.UUID, typ string) bool { return l[typ][bankID] }

// DueDelivery is a delivery claimed for sending, with what signs it.
type DueDelivery struct {
	WebhookDelivery
	Endpoint WebhookEndpoint
	Payload  []byte
}

// WebhookType returns the webhook type an event of the ledger is sent as,
// false for an event no webhook carries.
func WebhookType(eventType string) (string, bool) {
	typ, ok := webhookTypes[eventType]
	return typ, ok
}

// webhookTypes maps the ledger's events to the webhooks' types, from the
// domain's table of event types.
var webhookTypes = ledger.WebhookTypesByEvent()

// EnqueueWebhooks writes a delivery for each event of a subscriber's batch
// that a bank's endpoints subscribe to, in the batch's transaction tx. The
// body holds the claim as of its event: the reimbursement folded from its
// streams up to and including that event, and its sequence, the count of
// the claim's events so far, so a receiver keeps the message of the
// highest sequence.
//
// Folding a reimbursement costs a read of its streams, so it first asks,
// once a batch and in the batch's snapshot, which banks listen to which of
// its types: an event nobody listens to is passed over unread, and one
// whose bank does not listen costs one shared lookup of the banks (a
// submission names its own). The deliveries written are the same as if
// every event were folded: the queue selects the endpoints in the same
// snapshot.
//
// The messages carry the claims' personal data opened with pd.
func EnqueueWebhooks(ctx context.Context, tx Tx, pd PersonalData, events []ledger.RecordedEvent, now time.Time) (err error) {
	defer ledger.Wrap(&err, "EnqueueWebhooks")
	tx.Events = pd.events(tx.Events, tx.SubjectKeys)
	var types []string
	for _, rec := range events {
		if typ, ok := webhookTypes[rec.Type]; ok && !slices.Contains(types, typ) {
			types = append(types, typ)
		}
	}
	if len(types) == 0 {
		return nil
	}
	listeners, err := tx.Deliveries.Listeners(ctx, types)
	if err != nil || len(listeners) == 0 {
		return err
	}
	type heard struct {
		rec                 ledger.RecordedEvent
		typ                 string
		reimbursement, bank uuid.UUID
	}
	var candidates []heard
	var unknown []uuid.UUID // reimbursements whose bank the event does not name
	for _, rec := range events {
		typ, ok := webhookTypes[rec.Type]
		if !ok || !listeners.Type(typ) {
			continue
		}
		id, bank, err := reimbursementOf(rec)
		if err != nil {
			return err
		}
		if bank == uuid.Nil {
			unknown = append(unknown, id)
		}
		candidates = append(candidates, heard{rec: rec, typ: typ, reimbursement: id, bank: bank})
	}
	if len(unknown) > 0 {
		banks, err := tx.Events.ReimbursementBanks(ctx, unknown)
		if err != nil {
			return err
		}
		for i := range candidates {
			if candidates[i].bank == uuid.Nil {
				candidates[i].bank = banks[candidates[i].reimbursement]
			}
		}
	}
	// A claim's story is read once a batch, however many of its events
	// the batch brings: each message folds it up to its own event.
	stories := map[uuid.UUID][]ledger.RecordedEvent{}
	for _, c := range candidates {
		if !listeners.Bank(c.bank, c.typ) {
			continue
		}
		story, read := stories[c.reimbursement]
		if !read {
			if story, err = tx.Events.Load(ctx, c.reimbursement, ledger.PaymentID(c.reimbursement)); err != nil {
				return err
			}
			stories[c.reimbursement] = story
		}
		claim, err := claimAt(c.reimbursement, story, c.rec.EventID)
		if err != nil {
			return err
		}
		body, err := json.Marshal(wire.WebhookMessage{Type: c.typ, Timestamp: c.rec.RecordedAt.UTC(),
			Data: wire.WebhookData{EventID: c.rec.EventID, Reimbursement: wire.NewClaim(claim.Reimbursement, claim.Sequence)}})
		if err != nil {
			return err
		}
		if err := tx.Deliveries.EnqueueDeliveries(ctx, WebhookEnqueue{
			BankID: claim.BankID, EventID: c.rec.EventID, EventType: c.typ, Payload: body, At: now.UTC(),
		}); err != nil {
			return err
		}
	}
	return nil
}

// reimbursementOf returns the reimbursement an event is about, and its bank
// when the event names it (a submission does).
func reimbursementOf(rec ledger.RecordedEvent) (id, bank uuid.UUID, err error) {
	e, err := rec.Decode()
	if err != nil {
		return uuid.Nil, uuid.Nil, err
	}
	if s, ok := e.(ledger.ReimbursementSubmitted); ok {
		return s.ReimbursementID, s.BankID, nil
	}
	if id, ok := ledger.ReimbursementOf(e); ok {
		return id, uuid.Nil, nil
	}
	return uuid.Nil, uuid.Nil, fmt.Errorf("event %s has no reimbursement", rec.Type)
}
