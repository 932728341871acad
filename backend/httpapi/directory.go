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

func (s *Server) createAdministrator(c echo.Context) error {
	bankID, err := pathID(c, "bank_id", "bank")
	if err != nil {
		return err
	}
	var req personRequest
	if err := decodeJSON(c, &req); err != nil {
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
	if err := invalidFields(fields); err != nil {
		return err
	}
	account := ledger.Account{ID: newID(), BankID: bankID, MemberID: memberID, Currency: req.Currency, Nickname: req.Nickname}
	p := principal(c)
	return s.command(c, p, func(ctx context.Context, a *app.App) (reply, error) {
		opened, err := a.OpenAccount(ctx, p, account)
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

// newID returns a new time-ordered id (UUIDv7), which keeps indexes compact.
func newID() uuid.UUID {
	return uuid.Must(uuid.NewV7())
}
