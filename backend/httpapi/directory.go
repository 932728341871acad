package httpapi

import (
	"context"
	"net/http"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

type createBankRequest struct {
	Name     string `json:"name"`
	Location string `json:"location"`
}

func (s *Server) createBank(c echo.Context) error {
	var req createBankRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if err := requiredFields(c, "name", "location"); err != nil {
		return err
	}
	bank := ledger.Bank{ID: newID(), Name: req.Name, Location: req.Location}
	p := principal(c)
	return s.command(c, p, func(ctx context.Context, a *app.App) (reply, error) {
		bank, err := a.CreateBank(ctx, p, bank)
		return reply{http.StatusCreated, map[string]string{echo.HeaderLocation: "/v1/banks/" + bank.ID.String()}, bankOut(bank)}, err
	})
}

func (s *Server) getBank(c echo.Context) error {
	id, err := pathID(c, "bank_id", "bank")
	if err != nil {
		return err
	}
	bank, err := s.app.Bank(c.Request().Context(), principal(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, bankOut(bank))
}

type personRequest struct {
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	Email     string `json:"email"`
}

func (s *Server) createMember(c echo.Context) error {
	var req personRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if err := requiredFields(c, "first_name", "last_name", "email"); err != nil {
		return err
	}
	member := ledger.Member{ID: newID(), FirstName: req.FirstName, LastName: req.LastName, Email: req.Email}
	p := principal(c)
	return s.command(c, p, func(ctx context.Context, a *app.App) (reply, error) {
		m, err := a.CreateMember(ctx, p, member)
		return reply{http.StatusCreated, map[string]string{echo.HeaderLocation: "/v1/members/" + m.ID.String()}, memberOut(m)}, err
	})
}

func (s *Server) getMember(c echo.Context) error {
	id, err := pathID(c, "member_id", "member")
	if err != nil {
		return err
	}
	m, err := s.app.Member(c.Request().Context(), principal(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, memberOut(m))
}

// eraseMember erases a member's personal data (operators only).
func (s *Server) eraseMember(c echo.Context) error {
	id, err := pathID(c, "member_id", "member")
	if err != nil {
		return err
	}
	var req struct {
		Reason *string `json:"reason"`
	}
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if req.Reason == nil {
		return &ledger.Error{Code: ledger.EInvalid, Message: "the request is invalid",
			Fields: []ledger.FieldError{{Field: "reason", Message: "is required"}}}
	}
	p := principal(c)
	return s.command(c, p, func(ctx context.Context, a *app.App) (reply, error) {
		e, err := a.ErasePersonalData(ctx, p, id, *req.Reason)
		if err != nil {
			return reply{}, err
		}
		return reply{status: http.StatusOK, body: erasureOut(e)}, nil
	})
}

// getPersonalData answers everything the ledger holds about a member.
func (s *Server) getPersonalData(c echo.Context) error {
	id, err := pathID(c, "member_id", "member")
	if err != nil {
		return err
	}
	copy, err := s.app.PersonalDataOf(c.Request().Context(), principal(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, personalDataOut(copy))
}

func (s *Server) createAdministrator(c echo.Context) error {
	bankID, err := pathID(c, "bank_id", "bank")
	if err != nil {
		return err
	}
	var req personRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if err := requiredFields(c, "first_name", "last_name", "email"); err != nil {
		return err
	}
	admin := ledger.Administrator{ID: newID(), BankID: bankID, FirstName: req.FirstName, LastName: req.LastName, Email: req.Email}
	p := principal(c)
	return s.command(c, p, func(ctx context.Context, a *app.App) (reply, error) {
		created, err := a.CreateAdministrator(ctx, p, admin)
		return reply{http.StatusCreated, nil, administratorOut(created)}, err
	})
}

type openAccountRequest struct {
	BankMemberID string `json:"bank_member_id"`
	Currency     string `json:"currency"`
	Nickname     string `json:"nickname"`
	// Bank details: absent or null is not given, "" is refused.
	RoutingNumber *string `json:"routing_number"`
	AccountNumber *string `json:"account_number"`
	AccountType   *string `json:"account_type"`
}

func (s *Server) openAccount(c echo.Context) error {
	bankID, err := pathID(c, "bank_id", "bank")
	if err != nil {
		return err
	}
	var req openAccountRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	var fields []ledger.FieldError
	memberID := bodyID(&fields, "bank_member_id", req.BankMemberID)
	details := ledger.BankDetails{
		RoutingNumber: nonEmpty(&fields, "routing_number", req.RoutingNumber),
		AccountNumber: nonEmpty(&fields, "account_number", req.AccountNumber),
		AccountType:   nonEmpty(&fields, "account_type", req.AccountType),
	}
	if err := invalidFields(fields); err != nil {
		return err
	}
	account := ledger.Account{ID: newID(), BankID: bankID, MemberID: memberID, Currency: req.Currency, Nickname: req.Nickname}
	p := principal(c)
	return s.command(c, p, func(ctx context.Context, a *app.App) (reply, error) {
		opened, err := a.OpenAccount(ctx, p, account, details)
		return reply{http.StatusCreated, nil, accountOut(opened)}, err
	})
}

func (s *Server) listMemberAccounts(c echo.Context) error {
	id, err := pathID(c, "member_id", "member")
	if err != nil {
		return err
	}
	accounts, err := s.app.MemberAccounts(c.Request().Context(), principal(c), id)
	if err != nil {
		return err
	}
	out := list[accountJSON]{Items: make([]accountJSON, 0, len(accounts))}
	for _, a := range accounts {
		out.Items = append(out.Items, accountOut(a))
	}
	return c.JSON(http.StatusOK, out)
}

// pageQuery reads a directory list's limit and cursor.
func pageQuery(c echo.Context, bankID uuid.UUID) (app.PageQuery, error) {
	q := app.PageQuery{BankID: bankID}
	var err error
	if q.Limit, err = queryLimit(c, maxLimit); err != nil {
		return app.PageQuery{}, err
	}
	if raw := c.QueryParam("cursor"); raw != "" {
		key, ok := decodeKey(directoryCursorPrefix, raw)
		if !ok {
			return app.PageQuery{}, badRequest("cursor must be a next_cursor value from a previous page of this list",
				ledger.FieldError{Field: "cursor", Message: "is not a cursor this API handed out"})
		}
		q.After = key
	}
	return q, nil
}

// bankPageQuery is pageQuery for a list of the bank in the path.
func bankPageQuery(c echo.Context) (app.PageQuery, error) {
	id, err := pathID(c, "bank_id", "bank")
	if err != nil {
		return app.PageQuery{}, err
	}
	return pageQuery(c, id)
}

// writePage answers a page of a directory list.
func writePage[T, J any](c echo.Context, page app.Page[T], err error, out func(T) J) error {
	if err != nil {
		return err
	}
	body := list[J]{Items: make([]J, 0, len(page.Items)), NextCursor: encodeKey(directoryCursorPrefix, page.Next)}
	for _, item := range page.Items {
		body.Items = append(body.Items, out(item))
	}
	return c.JSON(http.StatusOK, body)
}

func (s *Server) listBanks(c echo.Context) error {
	q, err := pageQuery(c, uuid.Nil)
	if err != nil {
		return err
	}
	page, err := s.app.Banks(c.Request().Context(), principal(c), q)
	return writePage(c, page, err, bankOut)
}

func (s *Server) listBankAdministrators(c echo.Context) error {
	q, err := bankPageQuery(c)
	if err != nil {
		return err
	}
	page, err := s.app.BankAdministrators(c.Request().Context(), principal(c), q)
	return writePage(c, page, err, administratorOut)
}

func (s *Server) listBankAccounts(c echo.Context) error {
	q, err := bankPageQuery(c)
	if err != nil {
		return err
	}
	page, err := s.app.BankAccounts(c.Request().Context(), principal(c), q)
	return writePage(c, page, err, accountOut)
}

func (s *Server) listBankMembers(c echo.Context) error {
	q, err := bankPageQuery(c)
	if err != nil {
		return err
	}
	page, err := s.app.BankMembers(c.Request().Context(), principal(c), q)
	return writePage(c, page, err, memberOut)
}

func (s *Server) getAdministrator(c echo.Context) error {
	id, err := pathID(c, "administrator_id", "administrator")
	if err != nil {
		return err
	}
	admin, err := s.app.Administrator(c.Request().Context(), principal(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, administratorOut(admin))
}

func (s *Server) getAccount(c echo.Context) error {
	id, err := pathID(c, "account_id", "account")
	if err != nil {
		return err
	}
	acct, err := s.app.Account(c.Request().Context(), principal(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, accountOut(acct))
}

// listAccountCorrections answers the notifications of change received
// about an account, oldest first: all of them, a handful at most.
func (s *Server) listAccountCorrections(c echo.Context) error {
	id, err := pathID(c, "account_id", "account")
	if err != nil {
		return err
	}
	got, err := s.app.AccountCorrections(c.Request().Context(), principal(c), id)
	if err != nil {
		return err
	}
	out := list[correctionJSON]{Items: make([]correctionJSON, len(got))}
	for i, corr := range got {
		out.Items[i] = correctionOut(corr)
	}
	return c.JSON(http.StatusOK, out)
}

// newID returns a new time-ordered id (UUIDv7), which keeps indexes compact.
func newID() uuid.UUID {
	return uuid.Must(uuid.NewV7())
}

// nonEmpty reads an optional text field: absent or null is "", and an
// empty string given is refused.
func nonEmpty(fields *[]ledger.FieldError, name string, value *string) string {
	if value == nil {
		return ""
	}
	if *value == "" {
		*fields = append(*fields, ledger.FieldError{Field: name, Message: "must not be empty"})
	}
	return *value
}
