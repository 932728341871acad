package httpapi

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/auth"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// DevTokens issues development tokens (auth.DevIssuer).
type DevTokens interface {
	Issue(subject, role string) (string, error)
}

// devTokensPath serves development tokens while the development issuer is
// on, so that Postman and local clients can fetch their own.
const devTokensPath = "/v1/dev/tokens"

type devTokenRequest struct {
	Role    string `json:"role"`
	Subject string `json:"subject"`
}

type devTokenJSON struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
}

// issueDevToken signs a development token for a role and subject: a
// member's or administrator's id, which must exist, or any name for an
// auditor or operator (default dev-auditor, dev-operator).
func (s *Server) issueDevToken(c echo.Context) error {
	var req devTokenRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if err := requiredFields(c, "role"); err != nil {
		return err
	}
	role := app.Role(req.Role)
	switch role {
	case app.RoleMember, app.RoleAdministrator:
		if req.Subject == "" {
			return invalidFields([]ledger.FieldError{{Field: "subject", Message: "is required: the " + req.Role + "'s id"}})
		}
	case app.RoleAuditor, app.RoleOperator:
		if req.Subject == "" {
			req.Subject = "dev-" + req.Role
		}
	default:
		return invalidFields([]ledger.FieldError{{Field: "role", Message: "must be member, administrator, auditor or operator"}})
	}
	_, err := s.app.Identify(c.Request().Context(), app.Credential{Subject: req.Subject, Issuer: auth.DevIssuerName, Role: req.Role})
	if ledger.ErrorCode(err) == ledger.EUnauthenticated {
		return invalidFields([]ledger.FieldError{{Field: "subject", Message: "names no " + req.Role + " of this ledger"}})
	}
	if err != nil {
		return err
	}
	token, err := s.dev.Issue(req.Subject, req.Role)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, devTokenJSON{AccessToken: token, TokenType: "Bearer", ExpiresIn: int(auth.DevTokenTTL.Seconds())})
}
