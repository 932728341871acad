package saga

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// Notifications e-mails each member once per decision: the approval e-mail
// when the payment has its outcome, the denial e-mail when the denial is
// recorded. Each e-mail sent is recorded as MemberNotified.
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

// Handle reacts to one event; other types are ignored.
func (n *Notifications) Handle(ctx context.Context, rec ledger.RecordedEvent) error {
	switch rec.Type {
	case ledger.TypePaymentSettled, ledger.TypePaymentFailed, ledger.TypeReimbursementDenied:
	default:
		return nil // most events are submissions: not worth decoding
	}
	e, err := rec.Decode()
	if err != nil {
		return err
	}
	switch e := e.(type) {
	case ledger.PaymentSettled:
		return n.notify(ctx, rec, e.ReimbursementID)
	case ledger.PaymentFailed:
		return n.notify(ctx, rec, e.ReimbursementID)
	case ledger.ReimbursementDenied:
		return n.notify(ctx, rec, e.ReimbursementID)
	}
	return nil
}

func (n *Notifications) notify(ctx context.Context, rec ledger.RecordedEvent, id uuid.UUID) error {
	log := logWith(n.logger, rec).With("reimbursement_id", id)
	version, err := n.store.StreamVersion(ctx, ledger.NotificationStreamID(id))
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
	event, err := ledger.Notify(*r, member, version, n.now())
	if err != nil {
		return err
	}
	email := compose(*r, member)
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

// compose writes the e-mail for a decided reimbursement.
func compose(r ledger.Reimbursement, m ledger.Member) Email {
	amount := ledger.FormatAmount(r.Amount, r.Currency) + " " + r.Currency
	email := Email{ID: ledger.NotificationStreamID(r.ID).String(), To: m.Email}
	switch {
	case r.Status == ledger.StatusDenied:
		email.Subject = "Your reimbursement request was denied"
		email.Body = fmt.Sprintf("Dear %s,\n\nyour request for %s (%q) was denied.\nReason: %s\n",
			m.FirstName, amount, r.Description, r.DenialReason)
	case r.PaymentStatus == ledger.PaymentStatusFailed:
		email.Subject = "Your reimbursement was approved; the payment could not be made"
		email.Body = fmt.Sprintf("Dear %s,\n\nyour request for %s (%q) was approved, but the transfer to your account failed. Your bank will contact you.\n",
			m.FirstName, amount, r.Description)
	default:
		email.Subject = "Your reimbursement was approved and paid"
		email.Body = fmt.Sprintf("Dear %s,\n\nyour request for %s (%q) was approved and paid into your account.\n",
			m.FirstName, amount, r.Description)
	}
	return email
}
