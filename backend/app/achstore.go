package app

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// Payouts is the ACH rail's own state (see ACHRail): the attempts waiting
// for their bank's next file, the files and their entries by trace number,
// the return files read, and the notifications of change received.
type Payouts interface {
	// Accept records an attempt for its bank's next file. Accepting the
	// same attempt again changes nothing.
	Accept(ctx context.Context, p AcceptedPayout) error
	// Accepted lists at most limit attempts waiting for a file, oldest first.
	Accepted(ctx context.Context, limit int) ([]AcceptedPayout, error)
	// Drop takes an attempt off the waiting list.
	Drop(ctx context.Context, paymentID uuid.UUID, attempt int) error
	// ReserveTraces takes n consecutive trace sequences of the ODFI's and
	// returns the first; in a transaction, other callers wait for it to
	// end. ledger.EConflict when fewer than n are left.
	ReserveTraces(ctx context.Context, odfi string, n, max int) (int, error)
	// FilesCreatedSince counts the files created at or after since.
	FilesCreatedSince(ctx context.Context, since time.Time) (int, error)
	// AddFile stores a built file with its entries.
	AddFile(ctx context.Context, f ACHFile) error
	// Unpublished lists the files not yet in the outbox, oldest first.
	Unpublished(ctx context.Context) ([]ACHFile, error)
	// SetFileState moves a file to state.
	SetFileState(ctx context.Context, id uuid.UUID, state ACHFileState, at time.Time) error
	// Entry returns the entry with a trace number; false when no file has it.
	Entry(ctx context.Context, trace string) (ACHEntry, bool, error)
	// Unsettled lists at most limit entries sent before sentBefore that
	// have no outcome yet, oldest first.
	Unsettled(ctx context.Context, sentBefore time.Time, limit int) ([]ACHEntry, error)
	// SetEntryOutcome records what became of an entry.
	SetEntryOutcome(ctx context.Context, trace string, outcome ACHEntryOutcome, at time.Time) error
	// ReturnFileSeen reports whether a return file with this content
	// (its SHA-256, hex) was read already.
	ReturnFileSeen(ctx context.Context, sha256 string) (bool, error)
	// AddReturnFile records a return file read; ledger.EConflict when one
	// with the same content was recorded first.
	AddReturnFile(ctx context.Context, f ACHReturnFile) error
	// ReturnFiles lists the return files read, newest first, at most limit.
	ReturnFiles(ctx context.Context, limit int) ([]ACHReturnFile, error)
	// AddCorrection records a notification of change; one per trace
	// number and code, a repeat changes nothing.
	AddCorrection(ctx context.Context, c AccountCorrection) error
	// Corrections lists an account's notifications of change, oldest first.
	Corrections(ctx context.Context, accountID uuid.UUID) ([]AccountCorrection, error)
	// Exclusive runs fn unless another caller of Exclusive with the same
	// name runs, in this process or another; it reports whether fn ran.
	// A caller that dies lets go.
	Exclusive(ctx context.Context, name string, fn func(context.Context) error) (bool, error)
}

// AcceptedPayout is a payment attempt the ACH rail accepted: it waits for
// its bank's next file.
type AcceptedPayout struct {
	PaymentID  uuid.UUID
	Attempt    int
	BankID     uuid.UUID
	AcceptedAt time.Time
}

// ACHFileState is how far a file has gone towards the ODFI.
type ACHFileState string

// A file is built (stored, its payouts marked sent), then staged (written
// whole beside the outbox), then published (renamed into the outbox).
const (
	ACHFileBuilt     ACHFileState = "built"
	ACHFileStaged    ACHFileState = "staged"
	ACHFilePublished ACHFileState = "published"
)

// ACHFile is one NACHA file of one bank's payouts.
type ACHFile struct {
	ID         uuid.UUID
	BankID     uuid.UUID
	Name       string
	Content    []byte
	Entries    []ACHEntry
	TotalCents int64
	State      ACHFileState
	CreatedAt  time.Time
}

// ACHEntryOutcome is what became of an entry once sent.
type ACHEntryOutcome string

// An entry has no outcome until it settles (the return window passed) or
// is returned.
const (
	ACHEntrySent     ACHEntryOutcome = ""
	ACHEntrySettled  ACHEntryOutcome = "settled"
	ACHEntryReturned ACHEntryOutcome = "returned"
)

// ACHEntry is one credit in a file, named by its trace number.
type ACHEntry struct {
	TraceNumber string
	FileID      uuid.UUID
	PaymentID   uuid.UUID
	Attempt     int
	AccountID   uuid.UUID
	Cents       int64
	SentAt      time.Time
	Outcome     ACHEntryOutcome
}

// ACHReturnFile is a file of returns and notifications of change read
// from ACH_RETURNS_DIR.
type ACHReturnFile struct {
	SHA256 string
	Name   string
	ReadAt time.Time
	// Rejected is a file that could not be read (malformed, truncated),
	// with Error saying why; nothing of it was applied.
	Rejected bool
	Error    string
	// Returns and Corrections count the entries applied.
	Returns     int
	Corrections int
	// Problems lists what could not be applied (an unknown trace number,
	// a return of an entry already returned otherwise, entries that are
	// neither returns nor notifications of change), for an operator.
	Problems []string
}

// AccountCorrection is a notification of change (NOC) the member's bank
// sent about an account: future entries must use the corrected data. An
// administrator acts on it; the ledger changes no account by itself.
type AccountCorrection struct {
	AccountID   uuid.UUID
	BankID      uuid.UUID
	TraceNumber string // the entry it answers
	Code        string // C01, C02, ...
	Reason      string
	// The corrected data the bank sent, by field; a corrected account
	// number is kept as its last 4 digits only.
	RoutingNumber      string
	AccountNumberLast4 string
	AccountType        string
	Name               string
	ReturnFile         string
	ReceivedAt         time.Time
}
