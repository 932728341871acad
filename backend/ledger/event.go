package ledger

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"
)

// Event types as they are stored. They are part of the ledger's public record:
// never rename one.
const (
	TypeReimbursementSubmitted        = "ReimbursementSubmitted"
	TypeReceiptAttached               = "ReceiptAttached"
	TypeReimbursementApprovalRecorded = "ReimbursementApprovalRecorded"
	TypeReimbursementApproved         = "ReimbursementApproved"
	TypeReimbursementDenied           = "ReimbursementDenied"
	TypeReimbursementWithdrawn        = "ReimbursementWithdrawn"
	TypePaymentRequested              = "PaymentRequested"
	TypePaymentSent                   = "PaymentSent"
	TypePaymentSettled                = "PaymentSettled"
	TypePaymentFailed                 = "PaymentFailed"
	TypePaymentReturned               = "PaymentReturned"
	TypePersonalDataErased            = "PersonalDataErased"
	TypeMemberNotified                = "MemberNotified"
	TypeApprovalPolicySet             = "ApprovalPolicySet"
	TypeDeadLetterDiscarded           = "DeadLetterDiscarded"
)

// Stream types: which aggregate a stream belongs to.
const (
	StreamReimbursement  = "reimbursement"
	StreamPayment        = "payment"
	StreamPersonalData   = "personal_data"
	StreamNotification   = "notification"
	StreamApprovalPolicy = "approval_policy"
	StreamDeadLetter     = "dead_letter"
)

// Event is the data of one recorded fact. The JSON form of each event is its
// stored, published schema (see docs/events.md). A type whose shape changed
// writes its schema version first ("schema_version", see schema.go), and
// DecodeEvent reads every older version as the newest.
type Event interface {
	EventType() string
}

// eventKind is one event type as the ledger stores, decodes and announces
// it. Adding an event type is its struct (with its EventType method), its
// Type constant, one entry in eventKinds and its fold; everything else
// (EventTypes, DecodeEvent, the schema versions, the webhook types) is
// derived from the table.
type eventKind struct {
	// Type is the stored name: never rename one.
	Type string
	// Stream is the type of the streams its events are written to.
	Stream string
	// decode reads data already in the newest shape; decodeAs[T] for a T.
	decode func(data []byte) (Event, error)
	// upcasters turn each older schema version into the next, from
	// version 1 on: upcasters[v-1] turns version v into version v+1. None
	// while the type is at version 1 (see schema.go).
	upcasters []upcaster
	// Webhook is the webhook type that announces its events to the banks;
	// "" when no webhook does.
	Webhook string
	// Personal names the fields (as the JSON has them) that hold personal
	// data: free text and e-mail addresses. The event store keeps them
	// sealed under the data subject's key (see PendingEvent.Subject), so
	// that erasing the key erases them while every hash still verifies.
	Personal []string
}

// eventKinds lists every event type: a reimbursement's, in the order its
// story meets them, then the operators'.
var eventKinds = []eventKind{
	{Type: TypeReimbursementSubmitted, Stream: StreamReimbursement, decode: decodeAs[ReimbursementSubmitted],
		Webhook: "reimbursement.submitted", Personal: []string{"description"}, upcasters: []upcaster{
			// v2 records how many approvals the claim needs; before dual
			// control every claim needed one.
			setDefault("approvals_required", "1"),
		}},
	// A receipt moves nothing a bank hears of: no webhook type.
	{Type: TypeReceiptAttached, Stream: StreamReimbursement, decode: decodeAs[ReceiptAttached]},
	{Type: TypeReimbursementApprovalRecorded, Stream: StreamReimbursement, decode: decodeAs[ReimbursementApprovalRecorded], Personal: []string{"note"}},
	{Type: TypeReimbursementApproved, Stream: StreamReimbursement, decode: decodeAs[ReimbursementApproved],
		Webhook: "reimbursement.approved", Personal: []string{"note"}, upcasters: []upcaster{
			// v2 may carry the administrator's note; none before.
			setDefault("note", `""`),
		}},
	{Type: TypeReimbursementDenied, Stream: StreamReimbursement, decode: decodeAs[ReimbursementDenied], Webhook: "reimbursement.denied",
		Personal: []string{"reason"}},
	{Type: TypeReimbursementWithdrawn, Stream: StreamReimbursement, decode: decodeAs[ReimbursementWithdrawn], Webhook: "reimbursement.withdrawn"},
	// v2 of the payment events numbers the attempt; before retries there
	// was only the first.
	{Type: TypePaymentRequested, Stream: StreamPayment, decode: decodeAs[PaymentRequested],
		upcasters: []upcaster{setDefault("attempt", "1")}},
	{Type: TypePaymentSent, Stream: StreamPayment, decode: decodeAs[PaymentSent], Webhook: "reimbursement.payout_sent"},
	{Type: TypePaymentSettled, Stream: StreamPayment, decode: decodeAs[PaymentSettled],
		Webhook: "reimbursement.payout_settled", upcasters: []upcaster{setDefault("attempt", "1")}},
	{Type: TypePaymentFailed, Stream: StreamPayment, decode: decodeAs[PaymentFailed],
		Webhook: "reimbursement.payout_failed", upcasters: []upcaster{setDefault("attempt", "1")}},
	{Type: TypePaymentReturned, Stream: StreamPayment, decode: decodeAs[PaymentReturned], Webhook: "reimbursement.payout_returned"},
	{Type: TypeMemberNotified, Stream: StreamNotification, decode: decodeAs[MemberNotified], Personal: []string{"email"}, upcasters: []upcaster{
		// v2 names the payment attempt an approval e-mail reports: before
		// retries, the first; a denial e-mail reports none.
		func(fields map[string]json.RawMessage) {
			if string(fields["kind"]) == strconv.Quote(NotificationApproval) {
				setDefault("attempt", "1")(fields)
			}
		},
	}},
	{Type: TypeApprovalPolicySet, Stream: StreamApprovalPolicy, decode: decodeAs[ApprovalPolicySet], upcasters: []upcaster{
		// v2 may require a receipt above an amount; none before.
		setDefault("receipt_required_above", "null"),
	}},
	{Type: TypeDeadLetterDiscarded, Stream: StreamDeadLetter, decode: decodeAs[DeadLetterDiscarded]},
	{Type: TypePersonalDataErased, Stream: StreamPersonalData, decode: decodeAs[PersonalDataErased]},
}

// decodeAs decodes data as an E.
func decodeAs[E Event](data []byte) (Event, error) {
	var e E
	err := json.Unmarshal(data, &e)
	return e, err
}

// kindOf returns the entry of an event type.
func kindOf(eventType string) (*eventKind, bool) {
	for i := range eventKinds {
		if eventKinds[i].Type == eventType {
			return &eventKinds[i], true
		}
	}
	return nil, false
}

// EventTypes lists every event type, in the order of eventKinds.
// DecodeEvent decodes each of them, and only them.
var EventTypes = TypesOf()

// TypesOf returns the event types written to streams of the given types,
// in the order of EventTypes; every event type when none is given.
func TypesOf(streamTypes ...string) []string {
	var types []string
	for _, k := range eventKinds {
		if len(streamTypes) == 0 || slices.Contains(streamTypes, k.Stream) {
			types = append(types, k.Type)
		}
	}
	return types
}

// WebhookTypes lists the webhook types, the names under which the banks'
// endpoints hear of events, in the order of EventTypes.
func WebhookTypes() []string {
	var types []string
	for _, k := range eventKinds {
		if k.Webhook != "" {
			types = append(types, k.Webhook)
		}
	}
	return types
}

// WebhookTypesByEvent maps each event type a webhook announces to its
// webhook type.
func WebhookTypesByEvent() map[string]string {
	m := map[string]string{}
	for _, k := range eventKinds {
		if k.Webhook != "" {
			m[k.Type] = k.Webhook
		}
	}
	return m
}

// ReimbursementSubmitted records a member's claim. Schema version 2 added
// ApprovalsRequired.
type ReimbursementSubmitted struct {
	ReimbursementID uuid.UUID `json:"reimbursement_id"`
	BankID          uuid.UUID `json:"bank_id"`
	BankMemberID    uuid.UUID `json:"bank_member_id"`
	BankAccountID   uuid.UUID `json:"bank_account_id"`
	Amount          Amount    `json:"amount"`
	Currency        string    `json:"currency"`
	Description     string    `json:"description"`
	SubmittedAt     time.Time `json:"submitted_at"`
	// ApprovalsRequired is how many administrators must approve: 2 when the
	// bank's approval policy at submission asked for a second approval.
	// Version 1 events read as 1.
	ApprovalsRequired int `json:"approvals_required"`
}

// ReceiptAttached records that the member attached a receipt to their
// pending claim. The bytes are stored outside the log, under ReceiptID;
// the event keeps what proves them: their SHA-256 (hex), their size and
// the type judged from their content.
type ReceiptAttached struct {
	ReceiptID       uuid.UUID `json:"receipt_id"`
	ReimbursementID uuid.UUID `json:"reimbursement_id"`
	BankMemberID    uuid.UUID `json:"bank_member_id"`
	SHA256          string    `json:"sha256"`
	Size            int64     `json:"size"`
	ContentType     string    `json:"content_type"`
	AttachedAt      time.Time `json:"attached_at"`
}

// ReimbursementApprovalRecorded records an approval that is not yet the last
// one the reimbursement needs: it stays pending.
type ReimbursementApprovalRecorded struct {
	ReimbursementID   uuid.UUID `json:"reimbursement_id"`
	AdministratorID   uuid.UUID `json:"administrator_id"`
	Note              string    `json:"note,omitempty"`
	ApprovedAt        time.Time `json:"approved_at"`
	Approvals         int       `json:"approvals"`
	ApprovalsRequired int       `json:"approvals_required"`
}

// ReimbursementApproved records the approval that decides a reimbursement:
// the only one, or the last of those its policy asks for. Schema version 2
// added Note.
type ReimbursementApproved struct {
	ReimbursementID uuid.UUID `json:"reimbursement_id"`
	AdministratorID uuid.UUID `json:"administrator_id"`
	Note            string    `json:"note,omitempty"`
	ApprovedAt      time.Time `json:"approved_at"`
}

// ReimbursementDenied records an administrator's denial and its reason.
type ReimbursementDenied struct {
	ReimbursementID uuid.UUID `json:"reimbursement_id"`
	AdministratorID uuid.UUID `json:"administrator_id"`
	Reason          string    `json:"reason"`
	DeniedAt        time.Time `json:"denied_at"`
}

// ReimbursementWithdrawn records that the member took back a pending claim.
type ReimbursementWithdrawn struct {
	ReimbursementID uuid.UUID `json:"reimbursement_id"`
	BankMemberID    uuid.UUID `json:"bank_member_id"`
	WithdrawnAt     time.Time `json:"withdrawn_at"`
}

// PaymentRequested records that the bank owes the member an approved
// amount, and starts an attempt to pay it: the first on approval, another
// on each retry after a failure. Schema version 2 added Attempt.
type PaymentRequested struct {
	PaymentID       uuid.UUID `json:"payment_id"`
	ReimbursementID uuid.UUID `json:"reimbursement_id"`
	BankID          uuid.UUID `json:"bank_id"`
	BankMemberID    uuid.UUID `json:"bank_member_id"`
	BankAccountID   uuid.UUID `json:"bank_account_id"`
	Amount          Amount    `json:"amount"`
	Currency        string    `json:"currency"`
	RequestedAt     time.Time `json:"requested_at"`
	// Attempt counts from 1; version 1 events read as 1.
	Attempt int `json:"attempt"`
}

// PaymentSent records that an attempt went out as an ACH credit: its entry
// is in a NACHA file for the ODFI. TraceNumber names the entry (returns and
// notifications of change name it by nothing else); FileID and FileName the
// file; EffectiveDate (YYYY-MM-DD) is the day it should settle.
type PaymentSent struct {
	PaymentID       uuid.UUID `json:"payment_id"`
	ReimbursementID uuid.UUID `json:"reimbursement_id"`
	Attempt         int       `json:"attempt"`
	TraceNumber     string    `json:"trace_number"`
	FileID          uuid.UUID `json:"file_id"`
	FileName        string    `json:"file_name"`
	EffectiveDate   string    `json:"effective_date"`
	SentAt          time.Time `json:"sent_at"`
}

// PaymentReturned records that the member's bank returned an attempt's ACH
// credit: Code is the NACHA return code (R01, R03, ...), Reason its title
// in NACHA's table, ReturnFile the file it came back in.
type PaymentReturned struct {
	PaymentID       uuid.UUID `json:"payment_id"`
	ReimbursementID uuid.UUID `json:"reimbursement_id"`
	Attempt         int       `json:"attempt"`
	TraceNumber     string    `json:"trace_number"`
	Code            string    `json:"code"`
	Reason          string    `json:"reason"`
	ReturnFile      string    `json:"return_file"`
	ReturnedAt      time.Time `json:"returned_at"`
}

// PaymentSettled records that the payment rail moved the money. Schema
// version 2 added Attempt.
type PaymentSettled struct {
	PaymentID       uuid.UUID `json:"payment_id"`
	ReimbursementID uuid.UUID `json:"reimbursement_id"`
	RailReference   string    `json:"rail_reference"`
	SettledAt       time.Time `json:"settled_at"`
	Attempt         int       `json:"attempt"`
}

// PaymentFailed records that the payment rail refused an attempt for good.
// Schema version 2 added Attempt.
type PaymentFailed struct {
	PaymentID       uuid.UUID `json:"payment_id"`
	ReimbursementID uuid.UUID `json:"reimbursement_id"`
	Reason          string    `json:"reason"`
	FailedAt        time.Time `json:"failed_at"`
	Attempt         int       `json:"attempt"`
}

// Notification kinds: which decision a MemberNotified event reports.
const (
	NotificationApproval = "approval"
	NotificationDenial   = "denial"
	// NotificationReturn reports that an attempt's ACH credit came back.
	NotificationReturn = "return"
)

// MemberNotified records that the member was e-mailed about a decision: a
// denial, or the outcome of one attempt to pay an approval. Schema version
// 2 added Attempt.
type MemberNotified struct {
	ReimbursementID uuid.UUID `json:"reimbursement_id"`
	BankMemberID    uuid.UUID `json:"bank_member_id"`
	Kind            string    `json:"kind"`
	Email           string    `json:"email"`
	NotifiedAt      time.Time `json:"notified_at"`
	// Attempt is the payment attempt whose outcome an approval e-mail
	// reports; 0 for a denial. Version 1 approval e-mails read as 1.
	Attempt int `json:"attempt,omitempty"`
}

// ApprovalPolicySet records a bank's approval policy: amounts above
// SecondApprovalAbove need a second administrator's approval, and amounts
// above ReceiptRequiredAbove (when set) a receipt before any approval. Who
// set it is the event's actor. Schema version 2 added ReceiptRequiredAbove.
type ApprovalPolicySet struct {
	BankID              uuid.UUID `json:"bank_id"`
	SecondApprovalAbove Amount    `json:"second_approval_above"`
	Currency            string    `json:"currency"`
	SetAt               time.Time `json:"set_at"`
	// ReceiptRequiredAbove is nil when the policy requires no receipt;
	// version 1 events read as nil.
	ReceiptRequiredAbove *Amount `json:"receipt_required_above"`
}

// PersonalDataErased records that a member's personal data was erased at
// their request (GDPR Art. 17, CCPA deletion): the key their personal data
// was sealed under is destroyed, their receipts' bytes deleted, and the
// directory's record of them overwritten. Who asked and why stay, as the
// record an auditor needs; the financial record (amounts, dates, statuses,
// ids) stays too.
type PersonalDataErased struct {
	BankMemberID    uuid.UUID `json:"bank_member_id"`
	ErasedBy        string    `json:"erased_by"`
	Reason          string    `json:"reason"`
	ReceiptsDeleted int       `json:"receipts_deleted"`
	ErasedAt        time.Time `json:"erased_at"`
}

// Erased is what a personal-data field reads once erased.
const Erased = "[erased]"

// PersonalFieldsOf names the personal-data fields of an event type (as
// its JSON has them); none for an unknown type.
func PersonalFieldsOf(eventType string) []string {
	if k, ok := kindOf(eventType); ok {
		return k.Personal
	}
	return nil
}

// WithPersonalFields returns a copy of e after fn has had each of its
// personal-data fields (named as in PersonalFieldsOf) to rewrite: to seal
// them, or to open them.
func WithPersonalFields(e Event, fn func(field string, value *string) error) (Event, error) {
	var err error
	switch e := e.(type) {
	case ReimbursementSubmitted:
		err = fn("description", &e.Description)
		return e, err
	case ReimbursementApprovalRecorded:
		err = fn("note", &e.Note)
		return e, err
	case ReimbursementApproved:
		err = fn("note", &e.Note)
		return e, err
	case ReimbursementDenied:
		err = fn("reason", &e.Reason)
		return e, err
	case MemberNotified:
		err = fn("email", &e.Email)
		return e, err
	}
	return e, nil
}

// PersonalDataStreamID returns the id of the stream recording the erasure
// of a member's personal data.
func PersonalDataStreamID(memberID uuid.UUID) uuid.UUID {
	return uuid.NewSHA1(personalDataNamespace, memberID[:])
}

// DeadLetterDiscarded records that an operator gave up on an event a saga
// could not handle (a dead letter): the saga will never act on it. It
// carries what the operator saw, so the auditors' feed explains it.
type DeadLetterDiscarded struct {
	DeadLetterID  int64     `json:"dead_letter_id"`
	ConsumerGroup string    `json:"consumer_group"`
	EventID       uuid.UUID `json:"event_id"`
	EventPosition int64     `json:"event_position"`
	EventTypeName string    `json:"event_type"`
	// Error is the last failure's message, and Attempts how many were made.
	Error       string    `json:"error"`
	Attempts    int       `json:"attempts"`
	Reason      string    `json:"reason"`
	DiscardedAt time.Time `json:"discarded_at"`
}

func (ReimbursementSubmitted) EventType() string        { return TypeReimbursementSubmitted }
func (ReimbursementApprovalRecorded) EventType() string { return TypeReimbursementApprovalRecorded }
func (ReceiptAttached) EventType() string               { return TypeReceiptAttached }
func (ReimbursementApproved) EventType() string         { return TypeReimbursementApproved }
func (ReimbursementDenied) EventType() string           { return TypeReimbursementDenied }
func (ReimbursementWithdrawn) EventType() string        { return TypeReimbursementWithdrawn }
func (PaymentRequested) EventType() string              { return TypePaymentRequested }
func (PaymentSent) EventType() string                   { return TypePaymentSent }
func (PaymentSettled) EventType() string                { return TypePaymentSettled }
func (PaymentReturned) EventType() string               { return TypePaymentReturned }
func (PaymentFailed) EventType() string                 { return TypePaymentFailed }
func (MemberNotified) EventType() string                { return TypeMemberNotified }
func (ApprovalPolicySet) EventType() string             { return TypeApprovalPolicySet }
func (DeadLetterDiscarded) EventType() string           { return TypeDeadLetterDiscarded }
func (PersonalDataErased) EventType() string            { return TypePersonalDataErased }

// DecodeEvent turns a stored event's type and JSON data back into its
// Event, in the type's newest shape whatever schema version was stored.
func DecodeEvent(eventType string, data []byte) (Event, error) {
	k, ok := kindOf(eventType)
	if !ok {
		return nil, fmt.Errorf("unknown event type %q", eventType)
	}
	data, err := upcast(k, data)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", eventType, err)
	}
	e, err := k.decode(data)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", eventType, err)
	}
	return e, nil
}

// Metadata travels with every event: who caused it and as part of what.
type Metadata struct {
	// CorrelationID is shared by every event of one request and its consequences.
	CorrelationID string `json:"correlation_id"`
	// CausationID is the id of the request or event that caused this event.
	CausationID string `json:"causation_id"`
	// Actor is who acted: "member:<id>", "administrator:<id>", "operator:<subject>" or "saga:<name>".
	Actor string `json:"actor"`
	// ActorIssuer is the issuer of the verified token the actor presented;
	// empty for the ledger's own sagas and for events recorded before tokens.
	ActorIssuer string `json:"actor_issuer,omitempty"`
}

// PendingEvent is an event decided but not yet appended.
type PendingEvent struct {
	StreamID   uuid.UUID
	StreamType string
	// Version is the stream version this event will have: one more than the
	// version the decision was made on. Appending fails if it is taken.
	Version int64
	Event   Event
	// Subject is the member whose personal data the event carries (its
	// PersonalFields), sealed under that member's key; uuid.Nil when it
	// carries none.
	Subject uuid.UUID
	// Given, when set, is another stream the decision was made on, at the
	// version it was read: the event is appended only while that stream is
	// still at that version, and the append fails with ErrStaleRead
	// otherwise. A submission names its bank's approval policy so, which
	// lets a process decide on the policy it keeps without first reading
	// the policy stream's version.
	Given *StreamAt
}

// StreamAt is a stream at a version; 0 is a stream with no events yet.
type StreamAt struct {
	StreamID uuid.UUID
	Version  int64
}

// RecordedEvent is an event as the store holds it.
type RecordedEvent struct {
	Position      int64
	EventID       uuid.UUID
	StreamID      uuid.UUID
	StreamType    string
	StreamVersion int64
	Type          string
	Data          json.RawMessage
	Metadata      Metadata
	RecordedAt    time.Time
	// Hash chains the event to the previous one of its stream (see docs/audit.md).
	Hash     []byte
	PrevHash []byte
	// TransactionID orders events by commit; set on events a subscriber reads.
	TransactionID uint64
}

// Decode returns the event's data as its Event type.
func (r RecordedEvent) Decode() (Event, error) { return DecodeEvent(r.Type, r.Data) }

// Derived stream ids: a reimbursement's payment and notification streams,
// and a bank's approval policy stream, have ids computed from the
// reimbursement's or the bank's id, so a saga that runs twice finds the
// stream it created the first time instead of opening a second one.
var (
	paymentNamespace        = uuid.MustParse("6f0b1d1e-6a39-4d5e-9a53-6b1f0e9c2a11")
	notificationNamespace   = uuid.MustParse("0d6f3c4a-8f0e-4b8e-bb5e-2f4c6a7d9e12")
	paymentAttemptNamespace = uuid.MustParse("3c1e8a52-5b7d-4f0e-8d2a-9e6b4c1f7a33")
	approvalPolicyNamespace = uuid.MustParse("9a4d2e71-0c3b-4e8f-a6d5-1b7c8e2f4d54")
	deadLetterNamespace     = uuid.MustParse("3b9e7c52-1d4a-4f60-8e27-5a0c9d13b6f4")
	personalDataNamespace   = uuid.MustParse("c4e1a7d2-6b3f-4e95-8a10-2f7d9c5b3e61")
	// returnNotificationNamespace derives the streams of the e-mails about
	// returned ACH credits.
	returnNotificationNamespace = uuid.MustParse("7e2a9c14-3b5d-4f86-a1c7-0d9e8b6f5a23")
)

// PaymentID returns the id of the payment that pays out a reimbursement.
// Every attempt to pay it is recorded on this one stream.
func PaymentID(reimbursementID uuid.UUID) uuid.UUID {
	return uuid.NewSHA1(paymentNamespace, reimbursementID[:])
}

// PaymentAttemptKey returns the idempotency key of one attempt to pay a
// payment at the rail: the payment id for the first attempt (as before
// retries existed, so that an attempt under way then is still recognised),
// and a key of its own for each retry, so that the rail treats a retry as a
// new transfer and a redelivered attempt as the same one.
func PaymentAttemptKey(paymentID uuid.UUID, attempt int) uuid.UUID {
	if attempt <= 1 {
		return paymentID
	}
	return uuid.NewSHA1(paymentAttemptNamespace, binary.BigEndian.AppendUint64(paymentID[:len(paymentID):len(paymentID)], uint64(attempt)))
}

// NotificationStreamID returns the id of the stream recording the e-mail sent
// about a reimbursement's decision: its denial, or the outcome of its
// payment's first attempt.
func NotificationStreamID(reimbursementID uuid.UUID) uuid.UUID {
	return uuid.NewSHA1(notificationNamespace, reimbursementID[:])
}

// ReturnNotificationStreamID returns the id of the stream recording the
// e-mail about the return of one payment attempt's ACH credit: its own, as
// a return may follow the attempt's "paid" e-mail.
func ReturnNotificationStreamID(reimbursementID uuid.UUID, attempt int) uuid.UUID {
	return uuid.NewSHA1(returnNotificationNamespace, binary.BigEndian.AppendUint64(reimbursementID[:len(reimbursementID):len(reimbursementID)], uint64(attempt)))
}

// AttemptNotificationStreamID returns the id of the stream recording the
// e-mail about the outcome of one payment attempt; attempt 0 (a denial) and
// attempt 1 share NotificationStreamID.
func AttemptNotificationStreamID(reimbursementID uuid.UUID, attempt int) uuid.UUID {
	if attempt <= 1 {
		return NotificationStreamID(reimbursementID)
	}
	return uuid.NewSHA1(notificationNamespace, binary.BigEndian.AppendUint64(reimbursementID[:len(reimbursementID):len(reimbursementID)], uint64(attempt)))
}

// ApprovalPolicyStreamID returns the id of the stream of a bank's approval
// policy.
func ApprovalPolicyStreamID(bankID uuid.UUID) uuid.UUID {
	return uuid.NewSHA1(approvalPolicyNamespace, bankID[:])
}

// DeadLetterStreamID returns the id of the stream recording what operators
// did with one consumer group's dead letter of one event.
func DeadLetterStreamID(consumerGroup string, eventID uuid.UUID) uuid.UUID {
	return uuid.NewSHA1(deadLetterNamespace, append([]byte(consumerGroup+"\x00"), eventID[:]...))
}
