package main

import (
	"context"
	"fmt"
	"io"

	"github.com/google/uuid"

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
	// A second bank, so that deciding with the wrong bank's administrator can be tried.
	seedOtherBank  = ledger.Bank{ID: uuid.MustParse("0193a000-0000-7000-8000-000000000002"), Name: "Harbor Savings", Location: "Shelbyville"}
	seedOtherAdmin = ledger.Administrator{ID: uuid.MustParse("0193a000-0000-7000-8000-000000000202"), BankID: seedOtherBank.ID, FirstName: "Edsger", LastName: "Dijkstra", Email: "edsger@harbor.example"}
)

func seed(ctx context.Context, db *postgres.DB, out io.Writer) error {
	a, dir := newApp(config{}, db, nil), db.Directory
	ensure := func(what string, id uuid.UUID, get func() error, create func() error) error {
		err := get()
		if ledger.ErrorCode(err) == ledger.ENotFound {
			err = create()
		}
		if err != nil {
			return fmt.Errorf("seed %s %s: %w", what, id, err)
		}
		fmt.Fprintf(out, "%-14s %s\n", what, id)
		return nil
	}
	for _, b := range []ledger.Bank{seedBank, seedOtherBank} {
		if err := ensure("bank", b.ID, func() error { _, err := dir.Bank(ctx, b.ID); return err },
			func() error { _, err := a.CreateBank(ctx, operator, b); return err }); err != nil {
			return err
		}
	}
	for _, m := range seedMembers {
		if err := ensure("member", m.ID, func() error { _, err := dir.Member(ctx, m.ID); return err },
			func() error { _, err := a.CreateMember(ctx, operator, m); return err }); err != nil {
			return err
		}
	}
	for _, admin := range append(seedAdministrators, seedOtherAdmin) {
		if err := ensure("administrator", admin.ID, func() error { _, err := dir.Administrator(ctx, admin.ID); return err },
			func() error { _, err := a.CreateAdministrator(ctx, operator, admin); return err }); err != nil {
			return err
		}
	}
	for _, acct := range seedAccounts {
		if err := ensure("account", acct.ID, func() error { _, err := dir.Account(ctx, acct.ID); return err },
			func() error { _, err := a.OpenAccount(ctx, operator, acct); return err }); err != nil {
			return err
		}
	}
	return nil
}
