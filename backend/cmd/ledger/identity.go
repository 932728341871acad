package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/auth"
	"github.com/reimbursement-ledger/ledger/backend/httpapi"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/postgres"
)

// devAudience is the audience of development tokens unless AUTH_AUDIENCE
// names another.
const devAudience = "ledger"

// authConfig is whose tokens the API accepts.
type authConfig struct {
	Issuer, Audience, JWKSURL string
	// DevIssuer makes the ledger sign and accept its own tokens. Never in
	// production: it cannot be combined with a real issuer.
	DevIssuer bool
}

func loadAuthConfig(getenv func(string) string) (authConfig, error) {
	c := authConfig{Issuer: getenv("AUTH_ISSUER"), Audience: getenv("AUTH_AUDIENCE"), JWKSURL: getenv("AUTH_JWKS_URL")}
	switch raw := getenv("AUTH_DEV_ISSUER"); raw {
	case "", "false":
	case "true":
		c.DevIssuer = true
	default:
		return authConfig{}, fmt.Errorf("AUTH_DEV_ISSUER %q: want true or false (written out)", raw)
	}
	if c.DevIssuer && (c.Issuer != "" || c.JWKSURL != "") {
		return authConfig{}, errors.New("AUTH_DEV_ISSUER=true cannot be combined with AUTH_ISSUER or AUTH_JWKS_URL: a ledger that trusts a real issuer never signs its own tokens")
	}
	if c.DevIssuer && c.Audience == "" {
		c.Audience = devAudience
	}
	return c, nil
}

// tokens returns the verifier of the API's bearer tokens and, with the
// development issuer on, that issuer.
func (c authConfig) tokens(ctx context.Context, db *postgres.DB, logger *slog.Logger) (httpapi.TokenVerifier, *auth.DevIssuer, error) {
	if c.DevIssuer {
		dev, err := c.devIssuer(ctx, db)
		if err != nil {
			return nil, nil, err
		}
		logger.Warn("the development token issuer is on: this ledger accepts tokens it signs itself; never run it so in production")
		v, err := dev.Verifier()
		return v, dev, err
	}
	if c.Issuer == "" || c.Audience == "" {
		return nil, nil, errors.New("serve needs AUTH_ISSUER and AUTH_AUDIENCE to verify tokens (or AUTH_DEV_ISSUER=true on a developer's machine)")
	}
	v, err := auth.NewVerifier(ctx, auth.VerifierConfig{Issuer: c.Issuer, Audience: c.Audience, JWKSURL: c.JWKSURL, Logger: logger})
	return v, nil, err
}

// devIssuer returns the development issuer with the key kept in the
// database, so that serve and `ledger token` agree given one DATABASE_URL.
func (c authConfig) devIssuer(ctx context.Context, db *postgres.DB) (*auth.DevIssuer, error) {
	if !c.DevIssuer {
		return nil, errors.New("the development token issuer is off: set AUTH_DEV_ISSUER=true (never in production)")
	}
	kid, key, err := db.DevKeys.Key(ctx, auth.NewDevKey)
	if err != nil {
		return nil, err
	}
	return auth.NewDevIssuer(kid, key, c.Audience, nil)
}

// runToken prints a development token: `ledger token member ID`,
// `ledger token admin ID`, `ledger token auditor`, `ledger token operator`.
func runToken(ctx context.Context, cfg config, args []string, stdout io.Writer) error {
	role, subject, err := tokenSubject(args)
	if err != nil {
		return err
	}
	if !cfg.Auth.DevIssuer {
		return errors.New("token: the development token issuer is off: set AUTH_DEV_ISSUER=true (never in production)")
	}
	return withDB(ctx, cfg, func(ctx context.Context, db *dbHandle) error {
		token, err := devToken(ctx, cfg, db.DB, role, subject)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(stdout, token)
		return err
	})
}

func tokenSubject(args []string) (app.Role, string, error) {
	const usage = "token: want member MEMBER_ID, admin ADMINISTRATOR_ID, auditor or operator"
	switch {
	case len(args) == 2 && args[0] == "member":
		return app.RoleMember, args[1], nil
	case len(args) == 2 && (args[0] == "admin" || args[0] == "administrator"):
		return app.RoleAdministrator, args[1], nil
	case len(args) == 1 && (args[0] == "auditor" || args[0] == "operator"):
		return app.Role(args[0]), "dev-" + args[0], nil
	}
	return "", "", errors.New(usage)
}

// devToken signs a development token for a subject the directory holds.
func devToken(ctx context.Context, cfg config, db *postgres.DB, role app.Role, subject string) (string, error) {
	dev, err := cfg.Auth.devIssuer(ctx, db)
	if err != nil {
		return "", err
	}
	if role == app.RoleMember || role == app.RoleAdministrator {
		if _, err := uuid.Parse(subject); err != nil {
			return "", fmt.Errorf("token: %q is not a %s id", subject, role)
		}
	}
	_, err = newApp(cfg, db).Identify(ctx, app.Credential{Subject: subject, Issuer: auth.DevIssuerName, Role: string(role)})
	if ledger.ErrorCode(err) == ledger.EUnauthenticated {
		return "", fmt.Errorf("token: no %s has id %s", role, subject)
	}
	if err != nil {
		return "", err
	}
	return dev.Issue(subject, string(role))
}
