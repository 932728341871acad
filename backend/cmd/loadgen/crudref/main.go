// Command crudref is the benchmark's plain-CRUD reference: POST
// /v1/reimbursements as a careful team would write it without event
// sourcing, for scripts/bench to measure beside the ledger. It is benchmark
// code, not part of the product.
//
// It keeps the ledger's contract: the same JSON in and out, the same money
// rules (shopspring/decimal through the ledger's domain package), and the
// same bearer token check: an ES256 JWT verified by backend/auth against the
// development issuer's key that the ledger keeps in its database. Unlike the
// ledger, it caches the caller and the account after their first lookup, and
// each request is one INSERT into a plain table: no events, no subscribers,
// no idempotency keys, no audit chain.
//
//	DATABASE_URL=... HTTP_ADDR=127.0.0.1:8081 crudref
//
// It runs against a ledger database that was seeded with the development
// issuer on (`ledger seed` with AUTH_DEV_ISSUER=true), and creates its own
// table there.
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	_ "github.com/lib/pq"

	"github.com/reimbursement-ledger/ledger/backend/auth"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/wire"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stderr, nil); err != nil {
		fmt.Fprintln(os.Stderr, "crudref:", err)
		os.Exit(1)
	}
}

// maxConns is the ledger's default pool size (postgres.DefaultMaxConns).
const maxConns = 20

// run serves until ctx ends; ready, when not nil, gets the address it listens on.
func run(ctx context.Context, getenv func(string) string, stderr io.Writer, ready func(addr string)) error {
	url := getenv("DATABASE_URL")
	if url == "" {
		return errors.New("DATABASE_URL is not set")
	}
	addr := getenv("HTTP_ADDR")
	if addr == "" {
		addr = "127.0.0.1:8081"
	}
	db, err := sql.Open("postgres", url)
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	if _, err := db.ExecContext(ctx, schema); err != nil {
		return fmt.Errorf("create the table: %w", err)
	}
	var kid string
	var key []byte
	if err := db.QueryRowContext(ctx, `SELECT kid, private_key FROM dev_issuer_keys WHERE id = 1`).Scan(&kid, &key); err != nil {
		return fmt.Errorf("the development issuer's key (seed the ledger with AUTH_DEV_ISSUER=true first): %w", err)
	}
	issuer, err := auth.NewDevIssuer(kid, key, "ledger", nil)
	if err != nil {
		return err
	}
	verifier, err := issuer.Verifier()
	if err != nil {
		return err
	}
	s := &server{db: db, tokens: verifier}

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = problem
	e.GET("/readyz", func(c echo.Context) error { return c.NoContent(http.StatusOK) })
	e.POST("/v1/reimbursements", s.submit, s.authenticate)

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: e, ReadHeaderTimeout: 5 * time.Second}
	if ready != nil {
		ready(ln.Addr().String())
	}
	fmt.Fprintln(stderr, "crudref: serving on", ln.Addr())
	errs := make(chan error, 1)
	go func() { errs <- srv.Serve(ln) }()
	select {
	case err := <-errs:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}

// schema is the reference's one table: the reimbursement as a row.
const schema = `
CREATE TABLE IF NOT EXISTS crudref_reimbursements (
    id           uuid PRIMARY KEY,
    bank_id      uuid NOT NULL,
    member_id    uuid NOT NULL,
    account_id   uuid NOT NULL,
    amount       numeric(12, 2) NOT NULL,
    currency     char(3) NOT NULL,
    description  text NOT NULL,
    status       text NOT NULL,
    submitted_at timestamptz NOT NULL
)`

type account struct {
	bankID, memberID uuid.UUID
	currency         ledger.Currency
}

type server struct {
	db     *sql.DB
	tokens *auth.Verifier
	// members and accounts cache lookups: members by token subject (a
	// member id known to exist), accounts by id.
	members  sync.Map // string -> uuid.UUID
	accounts sync.Map // uuid.UUID -> account
}

const memberKey = "member"

// authenticate verifies the bearer token as the ledger does and finds the
// member it names, once per subject.
func (s *server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		token, ok := strings.CutPrefix(c.Request().Header.Get("Authorization"), "Bearer ")
		if !ok {
			return echo.NewHTTPError(http.StatusUnauthorized, "send a bearer token")
		}
		claims, err := s.tokens.Verify(c.Request().Context(), token)
		if err != nil {
			return echo.NewHTTPError(http.StatusUnauthorized, err.Error())
		}
		if claims.Role != "member" {
			return echo.NewHTTPError(http.StatusForbidden, "only members submit reimbursements")
		}
		if id, ok := s.members.Load(claims.Subject); ok {
			c.Set(memberKey, id)
			return next(c)
		}
		id, err := uuid.Parse(claims.Subject)
		if err != nil {
			return echo.NewHTTPError(http.StatusUnauthorized, "the token's subject is not a member id")
		}
		var found bool
		if err := s.db.QueryRowContext(c.Request().Context(), `SELECT true FROM members WHERE id = $1`, id).Scan(&found); errors.Is(err, sql.ErrNoRows) {
			return echo.NewHTTPError(http.StatusUnauthorized, "the token's subject is no member of this ledger")
		} else if err != nil {
			return err
		}
		s.members.Store(claims.Subject, id)
		c.Set(memberKey, id)
		return next(c)
	}
}

func (s *server) account(ctx context.Context, id uuid.UUID) (account, error) {
	if a, ok := s.accounts.Load(id); ok {
		return a.(account), nil
	}
	var a account
	var code string
	err := s.db.QueryRowContext(ctx, `SELECT bank_id, member_id, currency FROM accounts WHERE id = $1`, id).Scan(&a.bankID, &a.memberID, &code)
	if err != nil {
		return account{}, err
	}
	cur, ok := ledger.LookupCurrency(code)
	if !ok {
		return account{}, fmt.Errorf("account %s: unknown currency %q", id, code)
	}
	a.currency = cur
	s.accounts.Store(id, a)
	return a, nil
}

type submitRequest struct {
	BankAccountID *string `json:"bank_account_id"`
	Amount        *string `json:"amount"`
	Description   *string `json:"description"`
}

func (s *server) submit(c echo.Context) error {
	var req submitRequest
	if !strings.HasPrefix(c.Request().Header.Get(echo.HeaderContentType), echo.MIMEApplicationJSON) {
		return echo.NewHTTPError(http.StatusUnsupportedMediaType, "send the body as application/json")
	}
	if err := c.Bind(&req); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "the body is not valid JSON")
	}
	if req.BankAccountID == nil || req.Amount == nil || req.Description == nil {
		return echo.NewHTTPError(http.StatusUnprocessableEntity, "bank_account_id, amount and description are required")
	}
	accountID, err := uuid.Parse(*req.BankAccountID)
	if err != nil {
		return echo.NewHTTPError(http.StatusUnprocessableEntity, "bank_account_id is not a UUID")
	}
	ctx := c.Request().Context()
	acct, err := s.account(ctx, accountID)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && acct.memberID != c.Get(memberKey).(uuid.UUID)) {
		return echo.NewHTTPError(http.StatusUnprocessableEntity, "bank_account_id is not one of your accounts")
	}
	if err != nil {
		return err
	}
	amount, err := ledger.ParseAmount(*req.Amount, acct.currency)
	if err != nil {
		return echo.NewHTTPError(http.StatusUnprocessableEntity, "amount "+err.Error())
	}
	description := *req.Description
	if strings.TrimSpace(description) == "" || !utf8.ValidString(description) || utf8.RuneCountInString(description) > ledger.MaxDescriptionLength {
		return echo.NewHTTPError(http.StatusUnprocessableEntity, "description must be 1 to 500 characters of valid UTF-8")
	}
	id, err := uuid.NewV7()
	if err != nil {
		return err
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	_, err = s.db.ExecContext(ctx, `
		INSERT INTO crudref_reimbursements (id, bank_id, member_id, account_id, amount, currency, description, status, submitted_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8)`,
		id, acct.bankID, acct.memberID, accountID, amount, acct.currency.Code, description, now)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/v1/reimbursements/"+id.String())
	c.Response().Header().Set("ETag", `"1"`)
	// The ledger's own wire type: the same answer, field for field.
	return c.JSON(http.StatusCreated, wire.Reimbursement{
		ID: id, BankID: acct.bankID, BankMemberID: acct.memberID, BankAccountID: accountID,
		Amount: ledger.FormatAmount(amount, acct.currency.Code), Currency: acct.currency.Code, Description: description,
		Status: "pending", SubmittedAt: now, ApprovalsRequired: 1, Approvals: []wire.Approval{},
		PaymentStatus: "none", Version: 1,
	})
}

// problem answers errors as application/problem+json, as the ledger does.
func problem(err error, c echo.Context) {
	status, detail := http.StatusInternalServerError, "internal error"
	var he *echo.HTTPError
	if errors.As(err, &he) {
		status, detail = he.Code, fmt.Sprint(he.Message)
	} else {
		c.Logger().Error(err)
	}
	body, _ := json.Marshal(map[string]any{"title": http.StatusText(status), "status": status, "detail": detail})
	_ = c.Blob(status, "application/problem+json", body)
}
