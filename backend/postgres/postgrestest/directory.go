package postgrestest

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/audit"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/postgres"
	"github.com/reimbursement-ledger/ledger/backend/webhook"
)

// Directory is a small set of reference data for a test: two banks, each
// with an administrator, and a member with an account at the first.
type Directory struct {
	Bank, OtherBank   ledger.Bank
	Admin, OtherAdmin ledger.Administrator
	Member            ledger.Member
	Account           ledger.Account
}

// MustDirectory creates a Directory in db.
func MustDirectory(t testing.TB, db *postgres.DB) Directory {
	t.Helper()
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("create directory: %v", err)
		}
	}
	a := App(db)
	operator := app.Principal{Role: app.RoleOperator}
	var d Directory
	var err error
	d.Bank, err = a.CreateBank(ctx, operator, ledger.Bank{ID: uuid.New(), Name: "First Community Bank", Location: "Springfield"})
	must(err)
	d.OtherBank, err = a.CreateBank(ctx, operator, ledger.Bank{ID: uuid.New(), Name: "Harbor Savings", Location: "Shelbyville"})
	must(err)
	d.Admin, err = a.CreateAdministrator(ctx, operator, ledger.Administrator{ID: uuid.New(), BankID: d.Bank.ID, FirstName: "Grace", LastName: "Hopper", Email: "grace@bank.example"})
	must(err)
	d.OtherAdmin, err = a.CreateAdministrator(ctx, operator, ledger.Administrator{ID: uuid.New(), BankID: d.OtherBank.ID, FirstName: "Edsger", LastName: "Dijkstra", Email: "edsger@harbor.example"})
	must(err)
	bankAdmin := app.Administrator(d.Admin.ID, d.Bank.ID)
	d.Member, err = a.CreateMember(ctx, bankAdmin, ledger.Member{ID: uuid.New(), FirstName: "Ada", LastName: "Lovelace", Email: "ada-" + uuid.NewString()[:8] + "@example.com"})
	must(err)
	d.Account, err = a.OpenAccount(ctx, bankAdmin, ledger.Account{ID: uuid.New(), BankID: d.Bank.ID, MemberID: d.Member.ID, Currency: "USD", Nickname: "checking"}, ledger.BankDetails{})
	must(err)
	return d
}

// AuditKey is the HMAC key of the checkpoints recorded before tree heads,
// in tests that store such a log.
var AuditKey = audit.Key("test-audit-key-that-is-long-enough-0123456789")

// AuditSigningKey is the AUDIT_SIGNING_KEY of tests (a key for tests only).
const AuditSigningKey = "PRIVATE+KEY+ledger.test/audit+501ffdf2+AYiSVeyDOmgTB+7GaKNxXSrw7NUg8hu1npbDmWLDpW/P"

// AuditSigner signs tree heads in tests with AuditSigningKey.
var AuditSigner = mustSigner(AuditSigningKey)

// RotatedAuditSigner is a second key of the same name, as a rotation makes.
var RotatedAuditSigner = mustSigner("PRIVATE+KEY+ledger.test/audit+bb06cf01+AZEwN64pPnNHOXoiTlKU8dple3i+G/1i6Dfqdj4Nbakn")

// AuditKeys check what AuditSigner and AuditKey signed.
var AuditKeys = audit.Keys{Public: audit.PublicKeys{AuditSigner.PublicKey()}, HMAC: AuditKey}

func mustSigner(skey string) *audit.Signer {
	s, err := audit.NewSigner(skey)
	if err != nil {
		panic(err) // a constant of this file
	}
	return s
}

// App returns the use cases over db, checking heads and checkpoints with
// AuditKeys.
// Webhooks may go to the tests' receivers on loopback, as under the
// development setting.
func App(db *postgres.DB) *app.App {
	return app.New(app.Config{Stores: db.Stores(), AuditKeys: AuditKeys,
		Webhooks: app.WebhookConfig{Destinations: webhook.Guard{AllowPrivate: true}, NewSecret: webhook.NewSecret}})
}

// Streams returns the aggregates over db, as the sagas use them.
func Streams(db *postgres.DB) app.Streams {
	return app.Streams{Events: db.Events, Directory: db.Directory}
}

// Auditor is an auditor's principal, for tests that read any reimbursement.
var Auditor = app.Principal{Role: app.RoleAuditor, Subject: "test-auditor"}
