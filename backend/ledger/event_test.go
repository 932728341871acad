package ledger

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// The event table is the one list of event types: each entry decodes as
// its own type, names a stream, and is written with the schema version
// its upcasters reach.
func TestEventTable(t *testing.T) {
	seen, webhooks := map[string]bool{}, map[string]bool{}
	streams := []string{StreamReimbursement, StreamPayment, StreamNotification, StreamApprovalPolicy, StreamDeadLetter, StreamPersonalData}
	for _, k := range eventKinds {
		if seen[k.Type] {
			t.Fatalf("%s is listed twice", k.Type)
		}
		seen[k.Type] = true
		e, err := DecodeEvent(k.Type, []byte(`{}`))
		if err != nil || e.EventType() != k.Type {
			t.Fatalf("%s decodes as %T (%v), whose EventType is %q", k.Type, e, err, e.EventType())
		}
		if !slices.Contains(streams, k.Stream) {
			t.Errorf("%s: stream type %q", k.Type, k.Stream)
		}
		data, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if versioned := strings.HasPrefix(string(data), schemaField); versioned != (SchemaVersion(k.Type) > 1) {
			t.Errorf("%s is at schema version %d but encodes as %s: a type with upcasters needs a MarshalJSON that calls withSchema",
				k.Type, SchemaVersion(k.Type), data)
		}
		if k.Webhook != "" {
			if webhooks[k.Webhook] || !strings.HasPrefix(k.Webhook, "reimbursement.") {
				t.Errorf("%s: webhook type %q (listed twice: %v)", k.Type, k.Webhook, webhooks[k.Webhook])
			}
			webhooks[k.Webhook] = true
		}
	}
	if !slices.Equal(EventTypes, TypesOf()) || len(EventTypes) != len(eventKinds) {
		t.Fatalf("EventTypes %v", EventTypes)
	}
	byEvent := WebhookTypesByEvent()
	if len(byEvent) != len(WebhookTypes()) {
		t.Fatalf("WebhookTypesByEvent %v, WebhookTypes %v", byEvent, WebhookTypes())
	}
	for typ, hook := range byEvent {
		if !slices.Contains(WebhookTypes(), hook) || !seen[typ] {
			t.Fatalf("WebhookTypesByEvent maps %s to %s", typ, hook)
		}
	}
}

// The personal-data fields each event type names are exactly those
// WithPersonalFields rewrites, and each is a string field of its JSON.
func TestPersonalFieldsAgreeWithTheTable(t *testing.T) {
	for _, k := range eventKinds {
		e, err := DecodeEvent(k.Type, []byte(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		var rewritten []string
		e, err = WithPersonalFields(e, func(field string, v *string) error {
			rewritten = append(rewritten, field)
			*v = "sealed:" + field
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(rewritten, PersonalFieldsOf(k.Type)) {
			t.Errorf("%s: WithPersonalFields rewrites %v, the table names %v", k.Type, rewritten, PersonalFieldsOf(k.Type))
		}
		data, _ := json.Marshal(e)
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(data, &fields); err != nil {
			t.Fatal(err)
		}
		for _, f := range PersonalFieldsOf(k.Type) {
			if string(fields[f]) != `"sealed:`+f+`"` {
				t.Errorf("%s: field %s encodes as %s", k.Type, f, fields[f])
			}
		}
	}
}

// Every event of a reimbursement's story says whose it is, and the
// projection reads exactly those its fold moves.
func TestReimbursementOf(t *testing.T) {
	id := uuid.New()
	data := []byte(`{"reimbursement_id":"` + id.String() + `"}`)
	story := TypesOf(StreamReimbursement, StreamPayment, StreamNotification)
	for _, typ := range EventTypes {
		e, err := DecodeEvent(typ, data)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := ReimbursementOf(e)
		if want := slices.Contains(story, typ); ok != want || (ok && got != id) {
			t.Errorf("ReimbursementOf(%s) = %s, %v; want it %v", typ, got, ok, want)
		}
	}
}

// The payout fields of a reimbursement are the payment's own fold.
func TestReimbursementFoldsItsPaymentAsThePaymentDoes(t *testing.T) {
	id := uuid.New()
	pay := PaymentID(id)
	story := []RecordedEvent{
		mustRecord(t, id, StreamReimbursement, 1, ReimbursementSubmitted{ReimbursementID: id, Currency: "USD", ApprovalsRequired: 1}),
		mustRecord(t, id, StreamReimbursement, 2, ReimbursementApproved{ReimbursementID: id}),
		mustRecord(t, pay, StreamPayment, 1, PaymentRequested{PaymentID: pay, ReimbursementID: id, Attempt: 1}),
		mustRecord(t, pay, StreamPayment, 2, PaymentFailed{PaymentID: pay, ReimbursementID: id, Reason: "account closed", Attempt: 1}),
		mustRecord(t, pay, StreamPayment, 3, PaymentRequested{PaymentID: pay, ReimbursementID: id, Attempt: 2}),
		mustRecord(t, pay, StreamPayment, 4, PaymentSettled{PaymentID: pay, ReimbursementID: id, Attempt: 2}),
	}
	for n := 3; n <= len(story); n++ {
		r, err := FoldReimbursement(id, story[:n])
		if err != nil {
			t.Fatal(err)
		}
		p, err := FoldPayment(pay, story[2:n])
		if err != nil {
			t.Fatal(err)
		}
		if r.PaymentStatus != p.Status || r.PaymentAttempt != p.Attempt || r.PaymentFailureReason != p.FailureReason || r.Version != 2 {
			t.Fatalf("after %d events: reimbursement %s/%d/%q (version %d), payment %s/%d/%q",
				n, r.PaymentStatus, r.PaymentAttempt, r.PaymentFailureReason, r.Version, p.Status, p.Attempt, p.FailureReason)
		}
	}
}

func mustRecord(t *testing.T, stream uuid.UUID, streamType string, version int64, e Event) RecordedEvent {
	t.Helper()
	data, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return RecordedEvent{StreamID: stream, StreamType: streamType, StreamVersion: version, Type: e.EventType(), Data: data}
}

// The banks hear of every event that moves a claim's status or ends a
// payout attempt, and only of those: such an event without a webhook type
// (or a webhook type for one that moves nothing) fails here.
func TestEventsThatMoveAClaimHaveAWebhookType(t *testing.T) {
	hooks := WebhookTypesByEvent()
	for _, k := range eventKinds {
		if k.Stream != StreamReimbursement && k.Stream != StreamPayment {
			if hooks[k.Type] != "" {
				t.Errorf("%s moves no claim but has webhook type %s", k.Type, hooks[k.Type])
			}
			continue
		}
		e, err := DecodeEvent(k.Type, []byte(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		// A claim where its stream's events may move it: pending, or
		// approved with a payout attempt under way; a submission starts
		// from nothing.
		var r Reimbursement
		switch {
		case k.Type == TypeReimbursementSubmitted:
		case k.Stream == StreamReimbursement:
			r = Reimbursement{Status: StatusPending, PaymentStatus: PaymentStatusNone}
		default:
			r = Reimbursement{Status: StatusApproved, PaymentStatus: PaymentStatusRequested}
		}
		status, payment := r.Status, r.PaymentStatus
		r.ApplyEvent(RecordedEvent{StreamType: k.Stream, Type: k.Type}, e)
		if moved := r.Status != status || r.PaymentStatus != payment; moved != (hooks[k.Type] != "") {
			t.Errorf("%s moves the claim from %s/%s to %s/%s, and its webhook type is %q", k.Type, status, payment, r.Status, r.PaymentStatus, hooks[k.Type])
		}
	}
}
