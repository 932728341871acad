package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/auth"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/postgres"
)

// The demo directory has fixed ids, so seeding twice changes nothing and the
// README's examples can name them.
var (
	seedBank    = ledger.Bank{ID: uuid.MustParse("0193a000-0000-7000-8000-000000000001"), Name: "First Community Bank", Location: "Springfield"}
	seedMembers = []ledger.Member{
		{ID: uuid.MustParse("0193a000-0000-7000-8000-000000000101"), FirstName: "Ada", LastName: "Lovelace", Email: "ada@example.com"},
		{ID: uuid.MustParse("0193a000-0000-7000-8000-000000000102"), FirstName: "Alan", LastName: "Turing", Email: "alan@example.com"},
	}
	seedAdministrators = []ledger.Administrator{
		{ID: uuid.MustParse("0193a000-0000-7000-8000-000000000201"), BankID: seedBank.ID, FirstName: "Grace", LastName: "Hopper", Email: "grace@firstcommunity.example"},
	}
	seedAccounts = []ledger.Account{
		{ID: uuid.MustParse("0193a000-0000-7000-8000-000000000301"), BankID: seedBank.ID, MemberID: seedMembers[0].ID, Currency: "USD", Nickname: "Ada's checking"},
		{ID: uuid.MustParse("0193a000-0000-7000-8000-000000000302"), BankID: seedBank.ID, MemberID: seedMembers[1].ID, Currency: "USD", Nickname: "Alan's checking"},
	}
	// The demo accounts' bank details (made up, with a real routing
	// number's shape), so that they can be paid by ACH too.
	seedBankDetails = []ledger.BankDetails{
		{RoutingNumber: "021000021", AccountNumber: "000123456789", AccountType: ledger.AccountChecking},
		{RoutingNumber: "021000021", AccountNumber: "000987654321", AccountType: ledger.AccountChecking},
	}
	// A second bank, so that deciding with the wrong bank's administrator can be tried.
	seedOtherBank  = ledger.Bank{ID: uuid.MustParse("0193a000-0000-7000-8000-000000000002"), Name: "Harbor Savings", Location: "Shelbyville"}
	seedOtherAdmin = ledger.Administrator{ID: uuid.MustParse("0193a000-0000-7000-8000-000000000202"), BankID: seedOtherBank.ID, FirstName: "Edsger", LastName: "Dijkstra", Email: "edsger@harbor.example"}
)

// seed creates the demo directory unless it exists, prints it (which
// administrator and which account belong to which bank and member) and,
// with the development issuer on, a token for each person in it.
func seed(ctx context.Context, cfg config, db *postgres.DB, out io.Writer) error {
	a, dir := newApp(cfg, db), db.Directory
	ensure := func(what string, id uuid.UUID, get func() error, create func() error) error {
		err := get()
		if ledger.ErrorCode(err) == ledger.ENotFound {
			err = create()
		}
		if err != nil {
			return fmt.Errorf("seed %s %s: %w", what, id, err)
		}
		return nil
	}
	adminOf := func(bank uuid.UUID) app.Principal {
		for _, admin := range append(seedAdministrators, seedOtherAdmin) {
			if admin.BankID == bank {
				return app.Administrator(admin.ID, bank)
			}
		}
		panic("no demo administrator at bank " + bank.String())
	}
	for _, b := range []ledger.Bank{seedBank, seedOtherBank} {
		if err := ensure("bank", b.ID, func() error { _, err := dir.Bank(ctx, b.ID); return err },
			func() error { _, err := a.CreateBank(ctx, operator, b); return err }); err != nil {
			return err
		}
	}
	for _, admin := range append(seedAdministrators, seedOtherAdmin) {
		if err := ensure("administrator", admin.ID, func() error { _, err := dir.Administrator(ctx, admin.ID); return err },
			func() error { _, err := a.CreateAdministrator(ctx, operator, admin); return err }); err != nil {
			return err
		}
	}
	for _, m := range seedMembers {
		if err := ensure("member", m.ID, func() error { _, err := dir.Member(ctx, m.ID); return err },
			func() error { _, err := a.CreateMember(ctx, adminOf(seedBank.ID), m); return err }); err != nil {
			return err
		}
	}
	for i, acct := range seedAccounts {
		if err := ensure("account", acct.ID, func() error { _, err := dir.Account(ctx, acct.ID); return err },
			func() error {
				_, err := a.OpenAccount(ctx, adminOf(acct.BankID), acct, seedBankDetails[i])
				return err
			}); err != nil {
			return err
		}
	}
	return printDirectory(ctx, cfg, db, out)
}

// printDirectory prints the demo directory, bank by bank, and the tokens.
func printDirectory(ctx context.Context, cfg config, db *postgres.DB, out io.Writer) error {
	name := func(first, last string) string { return first + " " + last }
	fmt.Fprintln(out, "Demo directory:")
	for _, b := range []ledger.Bank{seedBank, seedOtherBank} {
		fmt.Fprintf(out, "  bank %-38s %s\n", b.Name+" ("+b.Location+")", b.ID)
		for _, admin := range append(seedAdministrators, seedOtherAdmin) {
			if admin.BankID == b.ID {
				fmt.Fprintf(out, "    administrator %-29s %s\n", name(admin.FirstName, admin.LastName), admin.ID)
			}
		}
		for _, acct := range seedAccounts {
			if acct.BankID != b.ID {
				continue
			}
			for _, m := range seedMembers {
				if m.ID == acct.MemberID {
					fmt.Fprintf(out, "    account %-35s %s\n", "\""+acct.Nickname+"\" of member "+name(m.FirstName, m.LastName), acct.ID)
				}
			}
		}
	}
	for _, m := range seedMembers {
		fmt.Fprintf(out, "  member %-36s %s\n", name(m.FirstName, m.LastName)+" <"+m.Email+">", m.ID)
	}
	if !cfg.Auth.DevIssuer {
		return nil
	}
	fmt.Fprintf(out, "\nDevelopment tokens (valid %s; paste into the shell, or fetch more with ledger token):\n", auth.DevTokenTTL)
	type holder struct {
		env, role, subject, who string
	}
	holders := []holder{
		{"OPERATOR_TOKEN", "operator", "dev-operator", "operator"},
		{"AUDITOR_TOKEN", "auditor", "dev-auditor", "auditor"},
	}
	for _, admin := range append(seedAdministrators, seedOtherAdmin) {
		holders = append(holders, holder{strings.ToUpper(admin.FirstName) + "_TOKEN", "administrator", admin.ID.String(),
			"administrator " + name(admin.FirstName, admin.LastName)})
	}
	for _, m := range seedMembers {
		holders = append(holders, holder{strings.ToUpper(m.FirstName) + "_TOKEN", "member", m.ID.String(), "member " + name(m.FirstName, m.LastName)})
	}
	for _, h := range holders {
		token, err := devToken(ctx, cfg, db, app.Role(h.role), h.subject)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "  export %s=%s   # %s\n", h.env, token, h.who)
	}
	return nil
}
