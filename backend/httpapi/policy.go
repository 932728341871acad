package httpapi

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/reimbursement-ledger/ledger/backend/app"
)

type approvalPolicyRequest struct {
	SecondApprovalAbove string `json:"second_approval_above"`
	Currency            string `json:"currency"`
	// ReceiptRequiredAbove is optional: left out or null, no receipt is required.
	ReceiptRequiredAbove *string `json:"receipt_required_above"`
}

func (s *Server) getApprovalPolicy(c echo.Context) error {
	id, err := pathID(c, "bank_id", "bank")
	if err != nil {
		return err
	}
	policy, err := s.app.ApprovalPolicy(c.Request().Context(), principal(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, approvalPolicyOut(policy))
}

// setApprovalPolicy replaces the bank's policy: a PUT of the same policy
// again records it again (who and when), and changes nothing else.
func (s *Server) setApprovalPolicy(c echo.Context) error {
	id, err := pathID(c, "bank_id", "bank")
	if err != nil {
		return err
	}
	var req approvalPolicyRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if err := requiredFields(c, "second_approval_above", "currency"); err != nil {
		return err
	}
	p := principal(c)
	cmd := app.SetApprovalPolicyCommand{BankID: id, SecondApprovalAbove: req.SecondApprovalAbove, Currency: req.Currency,
		ReceiptRequiredAbove: req.ReceiptRequiredAbove, Meta: metadata(c)}
	return s.command(c, p, func(ctx context.Context, a *app.App) (reply, error) {
		policy, err := a.SetApprovalPolicy(ctx, p, cmd)
		if err != nil {
			return reply{}, err
		}
		return reply{status: http.StatusOK, headers: map[string]string{headerLedgerPosition: a.PositionToken(p, policy.Position)},
			body: approvalPolicyOut(policy)}, nil
	})
}
