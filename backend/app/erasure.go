package app

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// Erasure is a member's personal data erased: who asked, when and why.
type Erasure struct {
	MemberID        uuid.UUID
	ErasedBy        string
	Reason          string
	ReceiptsDeleted int
	ErasedAt        time.Time
}

// MaxErasureReason bounds the reason an operator gives for an erasure.
const MaxErasureReason = 500

// ErasePersonalData erases a member's personal data at their request
// (operators only): the key their personal data is sealed under is
// destroyed, so every event, read model row, export and webhook shows
// those fields as ledger.Erased (a rebuild too); the directory's record of
// them is overwritten; the queued webhooks about their claims lose the
// fields; their receipts' bytes are deleted (the hashes stay in the
// events). PersonalDataErased records it. Every hash chain and proof still
// verifies: they cover the sealed fields, which stay.
//
// It is EConflict while a claim of theirs is pending, or approved and not
// yet paid (a payout requested or sent). Erasing an erased member answers
// the first erasure again (and deletes any receipt left).
//
// The stored answers of Idempotency-Keys that name the member are
// forgotten: a replay of one is handled as a new request.
//
// An erasure and an append of the member's personal data exclude each
// other: the erasure holds the member's key row while it decides, and an
// append holds it until it commits, so no claim slips in between the check
// and the erasure, and none is recorded after it.
func (a *App) ErasePersonalData(ctx context.Context, p Principal, memberID uuid.UUID, reason string) (e Erasure, err error) {
	defer ledger.Wrap(&err, "ErasePersonalData(%s)", memberID)
	if err := p.must(RoleOperator); err != nil {
		return Erasure{}, err
	}
	reason = strings.TrimSpace(reason)
	switch {
	case reason == "":
		return Erasure{}, fieldError("reason", "is required: why the personal data is erased (the member's request)")
	case utf8.RuneCountInString(reason) > MaxErasureReason:
		return Erasure{}, fieldError("reason", "must be at most 500 characters")
	}
	if _, err := a.directory().Member(ctx, memberID); err != nil {
		return Erasure{}, err
	}
	var receipts []uuid.UUID
	err = a.transact(ctx, func(tx Tx) error {
		now := a.now()
		erasedAt, err := tx.SubjectKeys.Lock(ctx, memberID, now)
		if err != nil {
			return err
		}
		streams := Streams{Events: tx.Events, Directory: tx.Directory}
		claims, err := tx.Events.MemberReimbursements(ctx, memberID)
		if err != nil {
			return err
		}
		receipts = receipts[:0]
		for _, id := range claims {
			r, err := streams.Reimbursement(ctx, id)
			if err != nil {
				return err
			}
			if erasedAt.IsZero() {
				if err := erasable(r); err != nil {
					return err
				}
			}
			for _, rc := range r.Receipts {
				receipts = append(receipts, rc.ID)
			}
		}
		if !erasedAt.IsZero() { // erased before: answer that erasure
			story, err := tx.Events.Load(ctx, ledger.PersonalDataStreamID(memberID))
			if err != nil || len(story) == 0 {
				return err
			}
			ev, err := story[0].Decode()
			if err != nil {
				return err
			}
			d := ev.(ledger.PersonalDataErased)
			e = Erasure{MemberID: memberID, ErasedBy: d.ErasedBy, Reason: d.Reason, ReceiptsDeleted: d.ReceiptsDeleted, ErasedAt: d.ErasedAt}
			return nil
		}
		if err := tx.SubjectKeys.Erase(ctx, memberID, now); err != nil {
			return err
		}
		if err := tx.Directory.EraseMember(ctx, memberID, now); err != nil {
			return err
		}
		if err := tx.Deliveries.ErasePayloads(ctx, claims, erasePayload); err != nil {
			return err
		}
		// The stored answers of Idempotency-Keys about them hold their
		// personal data in clear: a replay of one is a new request now.
		if _, err := tx.Idempotency.ForgetMentioning(ctx, memberID.String()); err != nil {
			return err
		}
		e = Erasure{MemberID: memberID, ErasedBy: p.Actor(), Reason: reason, ReceiptsDeleted: len(receipts), ErasedAt: now}
		event := ledger.PendingEvent{StreamID: ledger.PersonalDataStreamID(memberID), StreamType: ledger.StreamPersonalData, Version: 1,
			Event: ledger.PersonalDataErased{BankMemberID: memberID, ErasedBy: e.ErasedBy, Reason: reason, ReceiptsDeleted: len(receipts), ErasedAt: now}}
		_, err = tx.Events.Append(ctx, p.metadata(ledger.Metadata{}), event)
		return err
	})
	if err != nil {
		return Erasure{}, err
	}
	a.personal.forget(memberID)
	// The bytes go after the erasure commits: what fails here is deleted
	// when the erasure is asked again, which answers the same.
	if a.stores.Receipts != nil {
		for _, id := range receipts {
			if err := a.stores.Receipts.Delete(ctx, id); err != nil {
				return Erasure{}, err
			}
		}
	}
	return e, nil
}

// erasable refuses an erasure while a claim is pending or its payout is
// under way: the bank still has to act on it.
func erasable(r *ledger.Reimbursement) error {
	switch {
	case r.Status == ledger.StatusPending:
		return ledger.Errorf(ledger.EConflict, "reimbursement %s is pending: decide or withdraw it before erasing its member's personal data", r.ID)
	case r.Status == ledger.StatusApproved && (r.PaymentStatus == ledger.PaymentStatusNone ||
		r.PaymentStatus == ledger.PaymentStatusRequested || r.PaymentStatus == ledger.PaymentStatusSent):
		return ledger.Errorf(ledger.EConflict, "reimbursement %s's payout is in flight (%s): erase its member's personal data once it settles or fails",
			r.ID, r.PaymentStatus)
	}
	return nil
}

// erasePayload rewrites a queued webhook's body with the claim's personal
// data erased.
func erasePayload(payload []byte) ([]byte, error) {
	var msg map[string]any
	if err := json.Unmarshal(payload, &msg); err != nil {
		return nil, err
	}
	data, _ := msg["data"].(map[string]any)
	r, _ := data["reimbursement"].(map[string]any)
	if r == nil {
		return payload, nil
	}
	for _, f := range []string{"description", "denial_reason"} {
		if v, ok := r[f].(string); ok && v != "" {
			r[f] = ledger.Erased
		}
	}
	if approvals, ok := r["approvals"].([]any); ok {
		for _, ap := range approvals {
			if m, ok := ap.(map[string]any); ok {
				if v, ok := m["note"].(string); ok && v != "" {
					m["note"] = ledger.Erased
				}
			}
		}
	}
	return json.Marshal(msg)
}

func fieldError(field, message string) error {
	return &ledger.Error{Code: ledger.EInvalid, Message: "the request is invalid", Fields: []ledger.FieldError{{Field: field, Message: message}}}
}

// PersonalDataCopy is everything the ledger holds about a member (GDPR
// Art. 15 and 20): their record, their accounts and each claim with its
// story, personal data opened (or erased).
type PersonalDataCopy struct {
	Member    ledger.Member
	Accounts  []ledger.Account
	Claims    []Claim
	Stories   map[uuid.UUID][]ledger.RecordedEvent
	Erasure   *Erasure
	CreatedAt time.Time
}

// PersonalData returns everything the ledger holds about a member, for
// the member themself or an operator; ENotFound for anyone else.
func (a *App) PersonalDataOf(ctx context.Context, p Principal, memberID uuid.UUID) (c PersonalDataCopy, err error) {
	defer ledger.Wrap(&err, "PersonalDataOf(%s)", memberID)
	if !(p.is(RoleOperator) || p.is(RoleMember) && p.ID == memberID) {
		if err := p.must(RoleOperator, RoleMember); err != nil {
			return PersonalDataCopy{}, err
		}
		return PersonalDataCopy{}, ledger.Errorf(ledger.ENotFound, "member %s not found", memberID)
	}
	if c.Member, err = a.directory().Member(ctx, memberID); err != nil {
		return PersonalDataCopy{}, err
	}
	if c.Accounts, err = a.directory().MemberAccounts(ctx, memberID); err != nil {
		return PersonalDataCopy{}, err
	}
	events := a.events()
	ids, err := events.MemberReimbursements(ctx, memberID)
	if err != nil {
		return PersonalDataCopy{}, err
	}
	// Two reads, whatever the number of claims: their streams, then the
	// e-mails of retried and returned payouts, which have streams of their own.
	var streamIDs []uuid.UUID
	for _, id := range ids {
		streamIDs = append(streamIDs, id, ledger.PaymentID(id), ledger.NotificationStreamID(id))
	}
	all, err := events.Load(ctx, streamIDs...)
	if err != nil {
		return PersonalDataCopy{}, err
	}
	more, err := laterNotificationStreams(all)
	if err != nil {
		return PersonalDataCopy{}, err
	}
	if len(more) > 0 {
		extra, err := events.Load(ctx, more...)
		if err != nil {
			return PersonalDataCopy{}, err
		}
		all = append(all, extra...)
		slices.SortFunc(all, func(x, y ledger.RecordedEvent) int { return cmp.Compare(x.Position, y.Position) })
	}
	c.Stories = map[uuid.UUID][]ledger.RecordedEvent{}
	for _, rec := range all {
		ev, err := rec.Decode()
		if err != nil {
			return PersonalDataCopy{}, err
		}
		if id, ok := ledger.ReimbursementOf(ev); ok {
			c.Stories[id] = append(c.Stories[id], rec)
		}
	}
	for _, id := range ids {
		var folded []ledger.RecordedEvent // the claim's own stream and its payment's
		for _, rec := range c.Stories[id] {
			if rec.StreamID == id || rec.StreamID == ledger.PaymentID(id) {
				folded = append(folded, rec)
			}
		}
		r, err := ledger.FoldReimbursement(id, folded)
		if err != nil {
			return PersonalDataCopy{}, err
		}
		c.Claims = append(c.Claims, Claim{Reimbursement: r, Sequence: int64(len(folded))})
	}
	erased, err := events.Load(ctx, ledger.PersonalDataStreamID(memberID))
	if err != nil {
		return PersonalDataCopy{}, err
	}
	if len(erased) > 0 {
		ev, err := erased[0].Decode()
		if err != nil {
			return PersonalDataCopy{}, err
		}
		d := ev.(ledger.PersonalDataErased)
		c.Erasure = &Erasure{MemberID: memberID, ErasedBy: d.ErasedBy, Reason: d.Reason, ReceiptsDeleted: d.ReceiptsDeleted, ErasedAt: d.ErasedAt}
	}
	c.CreatedAt = a.now()
	return c, nil
}
