package saga

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// Notifications e-mails each member once per outcome: the denial e-mail
// when the denial is recorded, and for an approval one e-mail per payment
// attempt's outcome (paid, or failed with the rail's reason), and one more
// when an attempt's ACH credit is returned (with the return's code and
// reason), even after its "paid" e-mail. Each e-mail
// has a notification stream of its own, and sending it is recorded there
// as MemberNotified. A withdrawal is the member's own doing: no e-mail.
type Notifications struct {
	store  Store
	mailer Mailer
	logger *slog.Logger
	now    clock
}

// NewNotifications returns the notification saga.
func NewNotifications(store Store, mailer Mailer, logger *slog.Logger, now func() time.Time) *Notifications {
	return &Notifications{store: store, mailer: mailer, logger: logger, now: now}
}

const notificationsActor = "saga:notifications"

// outcome is what one e-mail reports: a denial (attempt 0), or one payment
// attempt's outcome.
type outcome struct {
	attempt int
	failed  bool
	reason  string
	// returned is an ACH credit the member's bank sent back: its e-mail
	// has a stream of its own, as it may follow the attempt's "paid" one.
	returned bool
}

// stream is the notification stream of the outcome's e-mail.
func (o outcome) stream(id uuid.UUID) uuid.UUID {
	if o.returned {
		return ledger.ReturnNotificationStreamID(id, o.attempt)
	}
	return ledger.AttemptNotificationStreamID(id, o.attempt)
}

// NotificationTypes are the event types the notification saga reacts to;
// its subscriber reads no others.
var NotificationTypes = []string{ledger.TypePaymentSettled, ledger.TypePaymentFailed, ledger.TypePaymentReturned, ledger.TypeReimbursementDenied}

// Handle reacts to one event of NotificationTypes; others are ignored.
func (n *Notifications) Handle(ctx context.Context, rec ledger.RecordedEvent) error {
	if !slices.Contains(NotificationTypes, rec.Type) {
		return nil
	}
	e, err := rec.Decode()
	if err != nil {
		return err
	}
	switch e := e.(type) {
	case ledger.PaymentSettled:
		return n.notify(ctx, rec, e.ReimbursementID, outcome{attempt: e.Attempt})
	case ledger.PaymentFailed:
		return n.notify(ctx, rec, e.ReimbursementID, outcome{attempt: e.Attempt, failed: true, reason: e.Reason})
	case ledger.PaymentReturned:
		return n.notify(ctx, rec, e.ReimbursementID, outcome{attempt: e.Attempt, failed: true, returned: true, reason: ledger.ReturnReason(e.Code, e.Reason)})
	case ledger.ReimbursementDenied:
		return n.notify(ctx, rec, e.ReimbursementID, outcome{})
	}
	return nil
}

func (n *Notifications) notify(ctx context.Context, rec ledger.RecordedEvent, id uuid.UUID, o outcome) error {
	log := logWith(n.logger, rec).With("reimbursement_id", id, "attempt", o.attempt)
	stream := o.stream(id)
	version, err := n.store.StreamVersion(ctx, stream)
	if err != nil {
		return err
	}
	if version > 0 {
		log.InfoContext(ctx, "member already notified")
		return nil
	}
	r, err := n.store.Reimbursement(ctx, id)
	if err != nil {
		return err
	}
	member, err := n.store.Member(ctx, r.MemberID)
	if err != nil {
		return err
	}
	account, err := n.store.Account(ctx, r.AccountID)
	if err != nil {
		return err
	}
	decide := ledger.Notify
	if o.returned {
		decide = ledger.NotifyReturn
	}
	event, err := decide(*r, member, o.attempt, version, n.now())
	if err != nil {
		return err
	}
	email := compose(*r, member, account, o, n.now())
	if err := n.mailer.Send(ctx, email); err != nil {
		log.WarnContext(ctx, "mailer failed; will retry", "error", err)
		return fmt.Errorf("e-mail member %s: %w", member.ID, err)
	}
	log.InfoContext(ctx, "member notified", "kind", event.Event.(ledger.MemberNotified).Kind)
	err = n.store.Append(ctx, caused(rec, notificationsActor), event)
	if alreadyRecorded(err) {
		return nil
	}
	return err
}

// compose writes the e-mail about one outcome of a reimbursement: what the
// outcome was, not what the reimbursement is now, which a later attempt
// may have changed. Its id, the provider's idempotency key, is the
// outcome's notification stream.
func compose(r ledger.Reimbursement, m ledger.Member, a ledger.Account, o outcome, at time.Time) Email {
	amount := ledger.FormatAmount(r.Amount, r.Currency) + " " + r.Currency
	email := Email{ID: o.stream(r.ID).String(), To: m.Email,
		Kind: EmailPaid, FirstName: m.FirstName, Amount: amount, Description: r.Description, Reason: o.reason,
		Attempt: o.attempt, AccountID: r.AccountID, AccountName: a.Nickname, AccountLast4: a.AccountNumberLast4, At: at}
	switch {
	case o.attempt == 0:
		email.Kind, email.Reason = EmailDenied, r.DenialReason
		email.Subject = "Your reimbursement request was denied"
		email.Body = fmt.Sprintf("Dear %s,\n\nyour request for %s (%q) was denied.\nReason: %s\n",
			m.FirstName, amount, r.Description, r.DenialReason)
	case o.failed:
		email.Kind = EmailPaymentFailed
		email.Subject = "Your reimbursement was approved; the payment could not be made"
		email.Body = fmt.Sprintf("Dear %s,\n\nyour request for %s (%q) was approved, but the transfer to your account failed (%s). Your bank will contact you.\n",
			m.FirstName, amount, r.Description, o.reason)
	default:
		email.Subject = "Your reimbursement was approved and paid"
		email.Body = fmt.Sprintf("Dear %s,\n\nyour request for %s (%q) was approved and paid into your account.\n",
			m.FirstName, amount, r.Description)
	}
	return email
}
