package wire_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/wire"
)

// The shape's rules a client relies on: every field present, absent values
// null rather than left out or empty, approvals a list, amounts in the
// currency's decimal places.
func TestReimbursementOnTheWire(t *testing.T) {
	at := time.Date(2026, 11, 25, 9, 31, 53, 744960000, time.UTC)
	admin := uuid.MustParse("0193a000-0000-7000-8000-000000000201")
	pending := ledger.Reimbursement{ID: uuid.New(), BankID: uuid.New(), MemberID: uuid.New(), AccountID: uuid.New(),
		Amount: decimal.RequireFromString("125.5"), Currency: "USD", Description: "Taxi", Status: ledger.StatusPending,
		SubmittedAt: at, ApprovalsRequired: 1, PaymentStatus: ledger.PaymentStatusNone, Version: 1}
	denied := pending
	denied.Status, denied.DecidedAt, denied.DecidedBy, denied.DenialReason = ledger.StatusDenied, &at, &admin, "No receipt"
	denied.ApprovalsRequired = 2
	denied.Approvals = []ledger.Approval{{AdministratorID: admin, ApprovedAt: at}, {AdministratorID: admin, ApprovedAt: at, Note: "Checked"}}
	failed := pending
	failed.Status, failed.PaymentStatus, failed.PaymentAttempt, failed.PaymentFailureReason = ledger.StatusApproved, ledger.PaymentStatusFailed, 1, "account closed"

	for name, tc := range map[string]struct {
		r    ledger.Reimbursement
		want map[string]any
	}{
		"pending": {pending, map[string]any{"amount": "125.50", "approvals": []any{}, "approvals_required": 1.0, "decided_at": nil,
			"decided_by": nil, "denial_reason": nil, "withdrawn_at": nil, "payment_failure_reason": nil, "payment_attempt": 0.0, "receipt_count": 0.0}},
		"denied after a first approval": {denied, map[string]any{"denial_reason": "No receipt", "approvals_required": 2.0,
			"approvals": []any{
				map[string]any{"administrator_id": admin.String(), "approved_at": "2026-11-25T09:31:53.74496Z", "note": nil},
				map[string]any{"administrator_id": admin.String(), "approved_at": "2026-11-25T09:31:53.74496Z", "note": "Checked"},
			}, "decided_by": admin.String(), "payment_failure_reason": nil}},
		"a failed payout": {failed, map[string]any{"payment_status": "failed", "payment_failure_reason": "account closed", "denial_reason": nil}},
	} {
		raw, err := json.Marshal(wire.NewReimbursement(tc.r))
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		if err := json.Unmarshal(raw, &got); err != nil {
			t.Fatal(err)
		}
		if len(got) != 20 {
			t.Errorf("%s: %d fields, want the 20 of docs/openapi.yaml's Reimbursement: %s", name, len(got), raw)
		}
		for k, v := range tc.want {
			if g, _ := json.Marshal(got[k]); string(g) != mustJSON(t, v) {
				t.Errorf("%s: %s = %s, want %s", name, k, g, mustJSON(t, v))
			}
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
