package httpapi

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"golang.org/x/time/rate"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/auth"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// TokenVerifier checks a bearer token's signature and claims (package auth).
type TokenVerifier interface {
	Verify(ctx context.Context, token string) (auth.Claims, error)
}

// Rule says who may call one operation: the roles named, each within its
// own tenancy (package app decides which resources are a principal's own,
// and answers 404 for the others). No roles means anyone, without a token.
type Rule struct {
	Method, Path string
	Roles        []app.Role
}

// Public reports whether the operation needs no token.
func (r Rule) Public() bool { return len(r.Roles) == 0 }

// route is an operation, its handler and its rule.
type route struct {
	Rule
	handle echo.HandlerFunc
	// command marks an operation that changes state: rate limited per principal.
	command bool
	// stream marks an answer written as it is read (the export): it is not
	// bounded by the request timeout, and bounds its own writes instead.
	stream bool
}

var (
	anyone        []app.Role
	members       = []app.Role{app.RoleMember}
	administrator = []app.Role{app.RoleAdministrator}
	operators     = []app.Role{app.RoleOperator}
	auditors      = []app.Role{app.RoleAuditor}
	// Readers of one reimbursement: its member, its bank's administrators
	// and the auditors.
	reimbursementReaders = []app.Role{app.RoleMember, app.RoleAdministrator, app.RoleAuditor}
	// Readers of a reimbursement's receipts: its member and its bank's
	// administrators, not the auditors, who verify their hashes.
	receiptReaders = []app.Role{app.RoleMember, app.RoleAdministrator}
	// Readers of banks and their administrators: each bank's own
	// administrators, and the operators, who create them.
	bankReaders = []app.Role{app.RoleAdministrator, app.RoleOperator}
)

// routes is the API's authorization table: every operation and who may
// call it. docs/access.md is printed from it by the tests.
func (s *Server) routes() []route {
	r := func(method, path string, roles []app.Role, h echo.HandlerFunc) route {
		return route{Rule: Rule{Method: method, Path: path, Roles: roles}, handle: h, command: method != http.MethodGet}
	}
	export := r(http.MethodGet, "/v1/banks/:bank_id/reimbursements/export", administrator, s.exportReimbursements)
	export.stream = true
	// A receipt may take longer to send than a JSON body: its upload and
	// download bound their own reads and writes (receipt.go).
	upload := r(http.MethodPost, receiptsPath, members, s.attachReceipt)
	upload.stream = true
	download := r(http.MethodGet, receiptsPath+"/:receipt_id", receiptReaders, s.downloadReceipt)
	download.stream = true
	return []route{
		r(http.MethodPost, "/v1/banks", operators, s.createBank),
		r(http.MethodGet, "/v1/banks", bankReaders, s.listBanks),
		r(http.MethodGet, "/v1/banks/:bank_id", bankReaders, s.getBank),
		r(http.MethodPost, "/v1/banks/:bank_id/administrators", operators, s.createAdministrator),
		r(http.MethodGet, "/v1/banks/:bank_id/administrators", bankReaders, s.listBankAdministrators),
		r(http.MethodPost, "/v1/banks/:bank_id/accounts", administrator, s.openAccount),
		r(http.MethodGet, "/v1/banks/:bank_id/accounts", administrator, s.listBankAccounts),
		r(http.MethodGet, "/v1/banks/:bank_id/members", administrator, s.listBankMembers),
		r(http.MethodGet, "/v1/banks/:bank_id/approval-policy", []app.Role{app.RoleAdministrator, app.RoleOperator}, s.getApprovalPolicy),
		r(http.MethodPut, "/v1/banks/:bank_id/approval-policy", operators, s.setApprovalPolicy),
		r(http.MethodGet, "/v1/banks/:bank_id/reimbursements", administrator, s.listBankReimbursements),
		export,
		r(http.MethodPost, "/v1/banks/:bank_id/webhook-endpoints", administrator, s.createWebhookEndpoint),
		r(http.MethodGet, "/v1/banks/:bank_id/webhook-endpoints", administrator, s.listWebhookEndpoints),
		r(http.MethodGet, "/v1/banks/:bank_id/webhook-endpoints/:endpoint_id", administrator, s.getWebhookEndpoint),
		r(http.MethodDelete, "/v1/banks/:bank_id/webhook-endpoints/:endpoint_id", administrator, s.deleteWebhookEndpoint),
		r(http.MethodPost, "/v1/banks/:bank_id/webhook-endpoints/:endpoint_id/rotate-secret", administrator, s.rotateWebhookSecret),
		r(http.MethodPost, "/v1/banks/:bank_id/webhook-endpoints/:endpoint_id/enable", administrator, s.enableWebhookEndpoint),
		r(http.MethodGet, "/v1/banks/:bank_id/webhook-endpoints/:endpoint_id/deliveries", administrator, s.listWebhookDeliveries),
		r(http.MethodPost, "/v1/banks/:bank_id/webhook-endpoints/:endpoint_id/deliveries/:delivery_id/redeliver", administrator, s.redeliverWebhook),
		r(http.MethodGet, "/v1/administrators/:administrator_id", bankReaders, s.getAdministrator),
		r(http.MethodGet, "/v1/accounts/:account_id", []app.Role{app.RoleMember, app.RoleAdministrator}, s.getAccount),
		r(http.MethodGet, "/v1/accounts/:account_id/corrections", []app.Role{app.RoleMember, app.RoleAdministrator}, s.listAccountCorrections),
		r(http.MethodPost, "/v1/members", administrator, s.createMember),
		r(http.MethodGet, "/v1/members/:member_id", []app.Role{app.RoleMember, app.RoleAdministrator}, s.getMember),
		r(http.MethodGet, "/v1/members/:member_id/accounts", []app.Role{app.RoleMember, app.RoleAdministrator}, s.listMemberAccounts),
		r(http.MethodGet, "/v1/members/:member_id/reimbursements", []app.Role{app.RoleMember, app.RoleAdministrator}, s.listMemberReimbursements),
		r(http.MethodPost, "/v1/members/:member_id/erasure", operators, s.eraseMember),
		r(http.MethodGet, "/v1/members/:member_id/personal-data", []app.Role{app.RoleMember, app.RoleOperator}, s.getPersonalData),
		r(http.MethodPost, "/v1/reimbursements", members, s.submitReimbursement),
		r(http.MethodGet, "/v1/reimbursements/:id", reimbursementReaders, s.getReimbursement),
		r(http.MethodPost, "/v1/reimbursements/:id/approve", administrator, s.approveReimbursement),
		r(http.MethodPost, "/v1/reimbursements/:id/deny", administrator, s.denyReimbursement),
		r(http.MethodPost, "/v1/reimbursements/:id/withdraw", members, s.withdrawReimbursement),
		r(http.MethodPost, "/v1/reimbursements/:id/payout/retry", administrator, s.retryPayout),
		r(http.MethodGet, "/v1/reimbursements/:id/events", reimbursementReaders, s.reimbursementEvents),
		upload,
		r(http.MethodGet, receiptsPath, receiptReaders, s.listReceipts),
		download,
		r(http.MethodGet, "/v1/events", auditors, s.listEvents),
		r(http.MethodGet, "/v1/events/:position/proof", auditors, s.inclusionProof),
		r(http.MethodGet, "/v1/audit/public-key", auditors, s.auditPublicKey),
		r(http.MethodGet, "/v1/audit/heads", auditors, s.listHeads),
		r(http.MethodGet, "/v1/audit/heads/latest", auditors, s.latestHead),
		r(http.MethodGet, "/v1/audit/consistency", auditors, s.consistencyProof),
		r(http.MethodGet, "/v1/audit/checkpoints", auditors, s.listCheckpoints),
		r(http.MethodGet, "/v1/audit/verify", auditors, s.verifyAudit),
		r(http.MethodGet, "/v1/openapi.yaml", anyone, s.openAPI),
		r(http.MethodGet, "/docs", anyone, s.reference),
		r(http.MethodGet, "/docs/:file", anyone, s.referenceAsset),
	}
}

// Access lists the API's operations and who may call each. The health
// probes and /metrics, which every serving role has (/metrics for
// operators only), are registered apart and not listed.
func Access() []Rule {
	var s Server
	var rules []Rule
	for _, rt := range s.routes() {
		rules = append(rules, rt.Rule)
	}
	return rules
}

// principalKey is where a request's principal is kept in its echo.Context.
const principalKey = "ledger.principal"

// principal is who calls: set by authorize on every operation that needs a
// token.
func principal(c echo.Context) app.Principal {
	p, _ := c.Get(principalKey).(app.Principal)
	return p
}

// realm names the protection space in WWW-Authenticate.
const realm = `Bearer realm="ledger"`

// authorize authenticates the request's bearer token, makes its principal
// the request's, and refuses roles the rule does not name. It runs before
// anything that could reveal state.
func (s *Server) authorize(roles []app.Role) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			p, err := s.authenticate(c)
			if err != nil {
				return err
			}
			if !slices.Contains(roles, p.Role) {
				prob := newProblem(http.StatusForbidden, "/problems/forbidden",
					fmt.Sprintf("the %s role may not call %s %s", p.Role, c.Request().Method, c.Path()))
				prob.Title = problemTypes[ledger.EForbidden].title
				prob.headers = map[string]string{echo.HeaderWWWAuthenticate: realm + `, error="insufficient_scope"`}
				return prob
			}
			c.Set(principalKey, p)
			return next(c)
		}
	}
}

// authenticate returns the principal the request's bearer token names
// (RFC 6750): 401 without a bearer token or with one that does not verify
// or names no one the ledger knows, 400 with two Authorization headers.
func (s *Server) authenticate(c echo.Context) (app.Principal, error) {
	values := c.Request().Header.Values(echo.HeaderAuthorization)
	if len(values) > 1 {
		return app.Principal{}, unauthenticated(http.StatusBadRequest, "invalid_request", "send one Authorization header")
	}
	scheme, token, found := strings.Cut(strings.TrimSpace(strings.Join(values, "")), " ")
	if !found || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return app.Principal{}, unauthenticated(http.StatusUnauthorized, "", "send a bearer token: Authorization: Bearer <token>")
	}
	claims, err := s.tokens.Verify(c.Request().Context(), strings.TrimSpace(token))
	if errors.Is(err, auth.ErrInvalidToken) {
		return app.Principal{}, unauthenticated(http.StatusUnauthorized, "invalid_token", strings.TrimPrefix(err.Error(), auth.ErrInvalidToken.Error()+": "))
	}
	if err != nil {
		return app.Principal{}, err
	}
	p, err := s.app.Identify(c.Request().Context(), app.Credential{Subject: claims.Subject, Issuer: claims.Issuer, Role: claims.Role})
	if ledger.ErrorCode(err) == ledger.EUnauthenticated {
		var de *ledger.Error
		errors.As(err, &de)
		return app.Principal{}, unauthenticated(http.StatusUnauthorized, "invalid_token", de.Message)
	}
	return p, err
}

// unauthenticated is a 401 (or 400 for a malformed request) with its
// WWW-Authenticate challenge; code is RFC 6750's error code, if any.
func unauthenticated(status int, code, detail string) *Problem {
	challenge := realm
	if code != "" {
		challenge += fmt.Sprintf(`, error=%q, error_description=%q`, code, detail)
	}
	typ := "/problems/unauthenticated"
	if status == http.StatusBadRequest {
		typ = "/problems/malformed-request"
	}
	p := newProblem(status, typ, detail)
	p.headers = map[string]string{echo.HeaderWWWAuthenticate: challenge}
	return p
}

// RateLimit bounds the commands each principal may send.
type RateLimit struct {
	// PerSecond is the sustained rate; 0 turns the limit off.
	PerSecond float64
	// Burst is how many may come at once.
	Burst int
}

// rateLimit refuses a principal's commands beyond its rate with 429 and
// Retry-After.
func rateLimit(limit RateLimit) echo.MiddlewareFunc {
	retryAfter := strconv.Itoa(int(math.Ceil(1 / limit.PerSecond)))
	return middleware.RateLimiterWithConfig(middleware.RateLimiterConfig{
		Store: middleware.NewRateLimiterMemoryStoreWithConfig(middleware.RateLimiterMemoryStoreConfig{
			Rate: rate.Limit(limit.PerSecond), Burst: max(limit.Burst, 1), ExpiresIn: 10 * time.Minute,
		}),
		IdentifierExtractor: func(c echo.Context) (string, error) {
			p := principal(c)
			return p.Issuer + "\n" + p.Subject, nil
		},
		DenyHandler: func(c echo.Context, _ string, _ error) error {
			p := newProblem(http.StatusTooManyRequests, "/problems/rate-limited",
				"too many commands from this caller; retry after the time Retry-After gives")
			p.headers = map[string]string{"Retry-After": retryAfter}
			return p
		},
	})
}
