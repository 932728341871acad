package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/wire"
)

// submitRequest's fields are pointers so that a field left out or sent as
// null is told from one sent empty.
type submitRequest struct {
	BankAccountID *string `json:"bank_account_id"`
	Amount        *string `json:"amount"`
	Description   *string `json:"description"`
}

func (s *Server) submitReimbursement(c echo.Context) error {
	var req submitRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	// Every missing field is named at once; the values are checked once
	// all are there (the account's currency decides the amount's decimals).
	var fields []ledger.FieldError
	accountID := bodyID(&fields, "bank_account_id", deref(req.BankAccountID))
	for _, f := range []struct {
		name  string
		value *string
	}{{"amount", req.Amount}, {"description", req.Description}} {
		if f.value == nil {
			fields = append(fields, ledger.FieldError{Field: f.name, Message: "is required"})
		}
	}
	if err := invalidFields(fields); err != nil {
		return err
	}
	cmd := app.SubmitCommand{ID: newID(), AccountID: accountID, Amount: *req.Amount, Description: *req.Description, Meta: metadata(c)}
	p := principal(c)
	return s.command(c, p, func(ctx context.Context, a *app.App) (reply, error) {
		r, err := a.Submit(ctx, p, cmd)
		if err != nil {
			return reply{}, err
		}
		out := commandReply(a, p, http.StatusCreated, r)
		out.headers[echo.HeaderLocation] = "/v1/reimbursements/" + r.ID.String()
		return out, nil
	})
}

func reimbursementReply(status int, r *ledger.Reimbursement) reply {
	return reply{status: status, headers: map[string]string{"ETag": etag(r.Version)}, body: wire.NewReimbursement(*r)}
}

// headerLedgerPosition carries the position of the last event a command
// appended, as an opaque token sealed for the caller's tenant
// (App.PositionToken); a list sent it back as min_position shows the
// command's effect.
const headerLedgerPosition = "Ledger-Position"

// commandReply is the answer to p's command that appended the
// reimbursement's newest event. Its headers are stored with an
// Idempotency-Key, so a replay carries the same token.
func commandReply(a *app.App, p app.Principal, status int, r *ledger.Reimbursement) reply {
	out := reimbursementReply(status, r)
	out.headers[headerLedgerPosition] = a.PositionToken(p, r.Position)
	return out
}

func (s *Server) getReimbursement(c echo.Context) error {
	id, err := pathID(c, "id", "reimbursement")
	if err != nil {
		return err
	}
	claim, err := s.app.Claim(c.Request().Context(), principal(c), id)
	if err != nil {
		return err
	}
	out := reimbursementReply(http.StatusOK, claim.Reimbursement)
	out.body = wire.NewClaim(claim.Reimbursement, claim.Sequence)
	return out.write(c)
}

type decisionRequest struct {
	AdministratorID string  `json:"administrator_id"`
	Reason          *string `json:"reason"`
	Note            *string `json:"note"`
}

func (s *Server) approveReimbursement(c echo.Context) error {
	return s.decide(c, false)
}

func (s *Server) denyReimbursement(c echo.Context) error {
	return s.decide(c, true)
}

func (s *Server) decide(c echo.Context, deny bool) error {
	id, err := pathID(c, "id", "reimbursement")
	if err != nil {
		return err
	}
	expected, err := ifMatch(c)
	if err != nil {
		return err
	}
	// An approval needs nothing but the token: it may come without a body.
	var req decisionRequest
	if deny || c.Request().ContentLength != 0 {
		if err := decodeJSON(c, &req); err != nil {
			return err
		}
	}
	// The token names the administrator who decides. A body that still
	// names one must name the same.
	p := principal(c)
	var fields []ledger.FieldError
	if req.AdministratorID != "" {
		if id, err := uuid.Parse(req.AdministratorID); err != nil || id != p.ID {
			fields = append(fields, ledger.FieldError{Field: "administrator_id", Message: "must be the administrator the bearer token names, or left out"})
		}
	}
	if !deny && req.Reason != nil {
		fields = append(fields, ledger.FieldError{Field: "reason", Message: "is only for denials"})
	}
	if deny && req.Reason == nil {
		fields = append(fields, ledger.FieldError{Field: "reason", Message: "is required"})
	}
	if deny && req.Note != nil {
		fields = append(fields, ledger.FieldError{Field: "note", Message: "is only for approvals: a denial gives its reason"})
	}
	if !deny && req.Note != nil && *req.Note == "" {
		fields = append(fields, ledger.FieldError{Field: "note", Message: "must not be empty: leave it out for no note"})
	}
	if err := invalidFields(fields); err != nil {
		return err
	}
	cmd := app.DecideCommand{ReimbursementID: id, IfMatch: expected, Meta: metadata(c)}
	if deny && req.Reason != nil {
		cmd.Reason = *req.Reason
	}
	if !deny && req.Note != nil {
		cmd.Note = *req.Note
	}
	return s.command(c, p, func(ctx context.Context, a *app.App) (reply, error) {
		decide := a.Approve
		if deny {
			decide = a.Deny
		}
		r, err := decide(ctx, p, cmd)
		if err != nil {
			return reply{}, err
		}
		return commandReply(a, p, http.StatusOK, r), nil
	})
}

// decodeOptionalBody reads a body that may be left out: a command that
// needs nothing but its path and token still accepts an empty JSON object.
func decodeOptionalBody(c echo.Context) error {
	if c.Request().ContentLength == 0 {
		return nil
	}
	var none struct{}
	return decodeJSON(c, &none)
}

func (s *Server) withdrawReimbursement(c echo.Context) error {
	id, err := pathID(c, "id", "reimbursement")
	if err != nil {
		return err
	}
	expected, err := ifMatch(c)
	if err != nil {
		return err
	}
	if err := decodeOptionalBody(c); err != nil {
		return err
	}
	p := principal(c)
	cmd := app.WithdrawCommand{ReimbursementID: id, IfMatch: expected, Meta: metadata(c)}
	return s.command(c, p, func(ctx context.Context, a *app.App) (reply, error) {
		r, err := a.Withdraw(ctx, p, cmd)
		if err != nil {
			return reply{}, err
		}
		return commandReply(a, p, http.StatusOK, r), nil
	})
}

// retryPayout answers 202: the new attempt is recorded, and the payment
// saga pays it in the background.
func (s *Server) retryPayout(c echo.Context) error {
	id, err := pathID(c, "id", "reimbursement")
	if err != nil {
		return err
	}
	if err := decodeOptionalBody(c); err != nil {
		return err
	}
	p := principal(c)
	cmd := app.RetryPayoutCommand{ReimbursementID: id, Meta: metadata(c)}
	return s.command(c, p, func(ctx context.Context, a *app.App) (reply, error) {
		r, err := a.RetryPayout(ctx, p, cmd)
		if err != nil {
			return reply{}, err
		}
		return commandReply(a, p, http.StatusAccepted, r), nil
	})
}

func (s *Server) reimbursementEvents(c echo.Context) error {
	id, err := pathID(c, "id", "reimbursement")
	if err != nil {
		return err
	}
	story, err := s.app.Story(c.Request().Context(), principal(c), id)
	if err != nil {
		return err
	}
	out := list[eventJSON]{Items: make([]eventJSON, 0, len(story))}
	for _, e := range story {
		j := eventOut(e)
		if principal(c).Role != app.RoleAuditor {
			j.Position = nil // the story's order is its own; the ledger's count is not theirs to know
		}
		out.Items = append(out.Items, j)
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) listBankReimbursements(c echo.Context) error {
	id, err := pathID(c, "bank_id", "bank")
	if err != nil {
		return err
	}
	q, err := queryFilters(c)
	if err != nil {
		return err
	}
	q.BankID = id
	return s.listReimbursements(c, q)
}

func (s *Server) listMemberReimbursements(c echo.Context) error {
	id, err := pathID(c, "member_id", "member")
	if err != nil {
		return err
	}
	q, err := queryFilters(c)
	if err != nil {
		return err
	}
	q.MemberID = id
	return s.listReimbursements(c, q)
}

// queryFilters reads a reimbursement list's filters from the query (see
// app.ParseListFilters): a bad value is a 400 naming its parameter.
func queryFilters(c echo.Context) (app.ListQuery, error) {
	q, err := app.ParseListFilters(c.QueryParam)
	var invalid *ledger.Error
	if errors.As(err, &invalid) {
		return app.ListQuery{}, badRequest(invalid.Message, invalid.Fields...)
	}
	return q, err
}

func (s *Server) listReimbursements(c echo.Context, q app.ListQuery) error {
	var err error
	if q.Limit, err = queryLimit(c, maxLimit); err != nil {
		return err
	}
	if raw := c.QueryParam("cursor"); raw != "" {
		key, ok := decodeKey(reimbursementCursorPrefix, raw)
		if !ok {
			return badRequest("cursor must be a next_cursor value from a previous page",
				ledger.FieldError{Field: "cursor", Message: "is not a cursor this API handed out"})
		}
		q.Before = key
	}
	q.MinPosition = c.QueryParam("min_position")
	page, err := s.app.ListReimbursements(c.Request().Context(), principal(c), q)
	if err != nil {
		return err
	}
	out := list[wire.Reimbursement]{Items: make([]wire.Reimbursement, 0, len(page.Items)), NextCursor: encodeKey(reimbursementCursorPrefix, page.NextBefore)}
	for _, r := range page.Items {
		out.Items = append(out.Items, wire.NewReimbursement(r))
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) listEvents(c echo.Context) error {
	q := app.FeedQuery{}
	var err error
	if q.Limit, err = queryLimit(c, maxEventLimit); err != nil {
		return err
	}
	if q.After, err = queryInt(c, "after"); err != nil {
		return err
	}
	if raw := c.QueryParam("type"); raw != "" {
		q.Types = strings.Split(raw, ",")
		for _, typ := range q.Types {
			if !slices.Contains(ledger.EventTypes, typ) {
				known := strings.Join(ledger.EventTypes, ", ")
				return badRequest(fmt.Sprintf("type %q is not an event type; the known ones are %s", typ, known),
					ledger.FieldError{Field: "type", Message: "must be event types, comma-separated: " + known})
			}
		}
	}
	if raw := c.QueryParam("stream_id"); raw != "" {
		if q.StreamID, err = uuid.Parse(raw); err != nil {
			return badRequest("stream_id must be a UUID", ledger.FieldError{Field: "stream_id", Message: "must be a UUID"})
		}
	}
	for _, p := range []struct {
		name string
		into *time.Time
	}{{"recorded_from", &q.From}, {"recorded_to", &q.To}} {
		if raw := c.QueryParam(p.name); raw != "" {
			if *p.into, err = time.Parse(time.RFC3339Nano, raw); err != nil {
				return badRequest(p.name+" must be an RFC 3339 time such as 2026-11-25T09:00:00Z",
					ledger.FieldError{Field: p.name, Message: "must be an RFC 3339 time"})
			}
		}
	}
	events, err := s.app.Feed(c.Request().Context(), principal(c), q)
	if err != nil {
		return err
	}
	out := list[eventJSON]{Items: make([]eventJSON, 0, len(events))}
	for _, e := range events {
		out.Items = append(out.Items, eventOut(e))
	}
	if len(events) == q.Limit {
		next := strconv.FormatInt(events[len(events)-1].Position, 10)
		out.NextCursor = &next
	}
	return c.JSON(http.StatusOK, out)
}
