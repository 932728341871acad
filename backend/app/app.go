// Package app holds the ledger's use cases: submitting and deciding
// reimbursements, the directory of banks, members, administrators and
// accounts, the queries the API serves, and what the worker's consumer
// groups write (batch.go, webhookqueue.go). Every use case of a caller
// receives the Principal who acts, decides with the domain (package
// ledger) and stores through the interfaces in store.go, which
// backend/postgres and backend/inmem implement. It does no I/O of its own.
package app

import (
	"context"
	"time"

	"github.com/reimbursement-ledger/ledger/backend/audit"
)

// App runs the use cases over its stores.
type App struct {
	stores Stores
	// tx, when set, binds the App to one transaction: every use case joins it
	// instead of beginning its own (see Idempotently).
	tx             *Tx
	now            func() time.Time
	auditKeys      audit.Keys
	idempotencyTTL time.Duration
	readWait       time.Duration
	exportBatch    int
	webhooks       WebhookConfig
	positions      positionTokens
	accountNumbers accountNumbers
	paymentRail    string
	personal       *personalData
	receiptMax     int64
	// policies keeps approval policies folded at committed versions of
	// their streams. A bound App that set a policy reads without it: its
	// transaction sees a version that may never commit.
	policies    *policyCache
	wrotePolicy bool
}

// Config is what the use cases need.
type Config struct {
	Stores Stores
	// AuditKeys check the signed tree heads and the HMAC checkpoints
	// recorded before them.
	AuditKeys audit.Keys
	// IdempotencyTTL is how long an Idempotency-Key is remembered.
	IdempotencyTTL time.Duration
	// ReadWait bounds how long a list waits for the read model to reach
	// the position it asks for (ListQuery.MinPosition).
	ReadWait time.Duration
	// ExportBatch is how many reimbursements an export reads at a time
	// (default DefaultExportBatch): what it holds in memory at once.
	ExportBatch int
	// Webhooks checks destinations and makes signing secrets.
	Webhooks WebhookConfig
	// Now returns the current time; tests may fix it.
	Now func() time.Time
	// PositionKey seals the position tokens commands answer and lists
	// wait on (PositionKeySize bytes, see ParsePositionKey); every
	// process of a deployment needs the same one. Empty: a random key,
	// whose tokens open only in this process (for tests).
	PositionKey []byte
	// AccountNumberKey wraps the data keys that encrypt account numbers
	// (AccountNumberKeySize bytes, see ParseAccountNumberKey). Empty: a
	// random key, whose numbers open only in this process (for tests).
	AccountNumberKey []byte
	// PaymentRail is how payouts are paid: ledger.PaymentRailStub (the
	// default) or ledger.PaymentRailACH, which needs every account's bank
	// details.
	PaymentRail string
	// PIIKey (32 bytes) wraps the members' personal data keys; a random
	// key of the process when empty (personal data stored then opens only
	// in this process).
	PIIKey []byte
	// ReceiptMaxBytes is the largest receipt accepted (default
	// DefaultReceiptMaxBytes).
	ReceiptMaxBytes int64
}

// DefaultIdempotencyTTL is how long Idempotency-Keys live unless configured.
const DefaultIdempotencyTTL = 24 * time.Hour

// DefaultReadWait is how long a list waits for the read model unless
// configured: the projection is milliseconds behind when it runs, so a
// longer wait means it is stalled, and the caller is better told so.
const DefaultReadWait = 2 * time.Second

// DefaultExportBatch is how many reimbursements an export reads at a time
// unless configured: large enough that each query's round trip is a small
// share of its work, small enough to hold.
const DefaultExportBatch = 1000

// New returns the use cases over cfg's stores.
func New(cfg Config) *App {
	if cfg.IdempotencyTTL <= 0 {
		cfg.IdempotencyTTL = DefaultIdempotencyTTL
	}
	if cfg.ReadWait <= 0 {
		cfg.ReadWait = DefaultReadWait
	}
	if cfg.ExportBatch <= 0 {
		cfg.ExportBatch = DefaultExportBatch
	}
	if cfg.Webhooks.RotationWindow <= 0 {
		cfg.Webhooks.RotationWindow = DefaultRotationWindow
	}
	if cfg.ReceiptMaxBytes <= 0 {
		cfg.ReceiptMaxBytes = DefaultReceiptMaxBytes
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	// PostgreSQL keeps microseconds: so does every time the ledger records,
	// so an answer never shows a time that reads back differently.
	now := cfg.Now
	positions, err := newPositionTokens(cfg.PositionKey)
	if err != nil {
		panic("app.New: " + err.Error()) // the configuration checks the key (ParsePositionKey)
	}
	numbers, err := newAccountNumbers(cfg.AccountNumberKey)
	if err != nil {
		panic("app.New: " + err.Error()) // the configuration checks the key (ParseAccountNumberKey)
	}
	personal, err := newPersonalData(cfg.PIIKey)
	if err != nil {
		panic("app.New: " + err.Error()) // the configuration checks the key (ParsePIIKey)
	}
	return &App{policies: newPolicyCache(), personal: personal, positions: positions, accountNumbers: numbers, paymentRail: cfg.PaymentRail, receiptMax: cfg.ReceiptMaxBytes, stores: cfg.Stores, auditKeys: cfg.AuditKeys, idempotencyTTL: cfg.IdempotencyTTL, readWait: cfg.ReadWait, exportBatch: cfg.ExportBatch, webhooks: cfg.Webhooks,
		now: func() time.Time { return now().UTC().Truncate(time.Microsecond) }}
}

// bind returns a copy of a whose use cases run in tx.
func (a *App) bind(tx Tx) *App {
	bound := *a
	bound.tx = &tx
	return &bound
}

// transact runs fn in a's transaction when it is bound to one, and in a new
// one otherwise.
func (a *App) transact(ctx context.Context, fn func(Tx) error) error {
	if a.tx != nil {
		tx := *a.tx
		tx.Events = a.withPersonalData(tx.Events, tx.SubjectKeys)
		return fn(tx)
	}
	return a.stores.Transact(ctx, func(tx Tx) error {
		tx.Events = a.withPersonalData(tx.Events, tx.SubjectKeys)
		return fn(tx)
	})
}

// events is the event store of a's transaction, or the stores' own.
func (a *App) events() EventStore {
	if a.tx != nil {
		return a.withPersonalData(a.tx.Events, a.tx.SubjectKeys)
	}
	return a.withPersonalData(a.stores.Events, a.stores.SubjectKeys)
}

// Streams is what the sagas read and append through: the aggregates
// folded with their personal data opened.
func (a *App) Streams() Streams { return a.streams() }

// directory is the directory of a's transaction, or the stores' own.
func (a *App) directory() Directory {
	if a.tx != nil {
		return a.tx.Directory
	}
	return a.stores.Directory
}

// streams folds aggregates from the event store a uses.
func (a *App) streams() Streams {
	s := Streams{Events: a.events(), Directory: a.directory()}
	if !a.wrotePolicy {
		s.policies = a.policies
	}
	return s
}
