package app

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/reimbursement-ledger/ledger/backend/audit"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// The stores the use cases need. backend/postgres implements them over one
// database; backend/inmem over memory, for tests of the layers above. A
// contract test (app/storetest) holds both to the same behaviour.

// Stores are the ledger's stores outside any transaction. Each store here
// runs its statements on its own; Transact gives stores bound to one
// transaction.
type Stores struct {
	Transactor
	Events         EventStore
	Directory      Directory
	Reimbursements ReadModel
	Feed           Feed
	Audit          AuditLog
	Idempotency    IdempotencyKeys
	DeadLetters    DeadLetters
	Webhooks       WebhookEndpoints
	Deliveries     WebhookQueue
	// Payouts is the ACH rail's state.
	Payouts Payouts
	// SubjectKeys are the members' personal data keys.
	SubjectKeys SubjectKeys
	// Receipts holds receipts' bytes (receiptstore.go).
	Receipts ReceiptBlobs
}

// Transactor runs work in one transaction.
type Transactor interface {
	// Transact runs fn with stores bound to one new transaction and commits
	// when fn returns nil; otherwise it rolls back and returns fn's error.
	Transact(ctx context.Context, fn func(Tx) error) error
}

// Tx holds the stores bound to one transaction: Transact's, or a
// subscriber's batch transaction, which backend/worker's batch handlers
// get. The last three are what the batch handlers write through.
type Tx struct {
	Events      EventStore
	Directory   Directory
	Idempotency IdempotencyKeys
	DeadLetters DeadLetters
	// AuditTree appends to the Merkle tree over the commit order.
	AuditTree AuditTree
	// Deliveries is the webhooks' delivery queue.
	Deliveries WebhookQueue
	// Projections writes the read models a projector keeps.
	Projections ProjectionWriter
	// Payouts is the ACH rail's state.
	Payouts Payouts
	// SubjectKeys are the members' personal data keys.
	SubjectKeys SubjectKeys
}

// AuditTree is the Merkle tree over the commit order, written by the
// audit tree's consumer group in its batch transaction.
type AuditTree interface {
	// AppendLeaves adds events, delivered in commit order, as leaves of the
	// tree and stores the tree's head signed by signer. Events that are
	// leaves already are skipped, so a redelivered batch adds nothing.
	AppendLeaves(ctx context.Context, signer *audit.Signer, events []ledger.RecordedEvent) error
}

// ProjectionWriter writes a projection's read model in a batch transaction.
type ProjectionWriter interface {
	// Project folds events into p's read model. It is idempotent: a
	// redelivered batch changes nothing.
	Project(ctx context.Context, p Projection, events []ledger.RecordedEvent) error
}

// Projection is a read model a projector keeps live in its own consumer
// group (backend/postgres's projections).
type Projection interface {
	// ConsumerGroup names the projector's consumer group.
	ConsumerGroup() string
}

// SubscriberStatus is where one consumer group stands.
type SubscriberStatus struct {
	Group    string
	Position int64 // the last event it acknowledged; 0 before the first
	Head     int64 // the newest event's position
	Lag      int64 // events committed after its position
	// LagSeconds is the age of the oldest event it has not handled yet.
	LagSeconds float64
}

// EventStore reads and appends event streams.
type EventStore interface {
	// Load returns every event of the given streams, in position order.
	Load(ctx context.Context, streamIDs ...uuid.UUID) ([]ledger.RecordedEvent, error)
	// Append records events decided on their streams' current versions and
	// returns them as recorded. It returns ledger.ErrVersionConflict when
	// another append took one of the versions first, and then records none.
	Append(ctx context.Context, meta ledger.Metadata, events ...ledger.PendingEvent) ([]ledger.RecordedEvent, error)
	// StreamVersion returns the version of a stream, 0 when it has no events.
	StreamVersion(ctx context.Context, streamID uuid.UUID) (int64, error)
	// ReimbursementBanks returns the bank of each of the reimbursements,
	// read from its submission. A reimbursement without one is an error.
	ReimbursementBanks(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]uuid.UUID, error)
	// MemberReimbursements lists the reimbursements a member submitted,
	// oldest first.
	MemberReimbursements(ctx context.Context, memberID uuid.UUID) ([]uuid.UUID, error)
}

// Directory stores the reference data: banks, members, administrators and
// accounts. They are created once and never change.
type Directory interface {
	// AddBank stores a validated bank.
	AddBank(ctx context.Context, b ledger.Bank) error
	// Bank returns ENotFound for an unknown id.
	Bank(ctx context.Context, id uuid.UUID) (ledger.Bank, error)
	// AddMember stores a validated member; EConflict when the e-mail is taken.
	AddMember(ctx context.Context, m ledger.Member) error
	// Member returns ENotFound for an unknown id.
	Member(ctx context.Context, id uuid.UUID) (ledger.Member, error)
	// AddAdministrator stores a validated administrator: ENotFound for an
	// unknown bank, EConflict when the bank has one with the e-mail.
	AddAdministrator(ctx context.Context, a ledger.Administrator) error
	// Administrator returns ENotFound for an unknown id.
	Administrator(ctx context.Context, id uuid.UUID) (ledger.Administrator, error)
	// AddAccount stores a validated account: ENotFound for an unknown bank,
	// EInvalid naming bank_member_id for an unknown member.
	AddAccount(ctx context.Context, a ledger.Account) error
	// Account returns ENotFound for an unknown id.
	Account(ctx context.Context, id uuid.UUID) (ledger.Account, error)
	// MemberAccounts lists a member's accounts, oldest first.
	MemberAccounts(ctx context.Context, memberID uuid.UUID) ([]ledger.Account, error)
	// EraseMember overwrites a member's names and e-mail address: from
	// then on Member answers them as ledger.Erased, with ErasedAt set.
	// (The directory's one change to an entry: caches of members hold an
	// entry for at most a few seconds.)
	EraseMember(ctx context.Context, id uuid.UUID, at time.Time) error

	// The directory's lists: at most q.Limit items after q.After, oldest
	// first (by creation time, then id). An unknown bank lists nothing.

	// Banks lists every bank; q.BankID is ignored.
	Banks(ctx context.Context, q PageQuery) ([]ledger.Bank, error)
	// BankAdministrators lists the administrators of bank q.BankID.
	BankAdministrators(ctx context.Context, q PageQuery) ([]ledger.Administrator, error)
	// BankAccounts lists the accounts at bank q.BankID.
	BankAccounts(ctx context.Context, q PageQuery) ([]ledger.Account, error)
	// BankMembers lists the members with an account at bank q.BankID, each once.
	BankMembers(ctx context.Context, q PageQuery) ([]ledger.Member, error)
}

// PageQuery selects a page of a directory list.
type PageQuery struct {
	// BankID is the bank whose administrators, accounts or members are listed.
	BankID uuid.UUID
	Limit  int
	// After is the cursor: the key of the previous page's last item; the
	// zero key for the first page.
	After PageKey
}

// PageKey orders the directory's lists, the webhook deliveries and the
// reimbursement lists: a time (creation, or for a reimbursement its
// submission), then id (byte by byte, as PostgreSQL orders uuids).
type PageKey struct {
	CreatedAt time.Time
	ID        uuid.UUID
}

// IsZero reports whether k is the zero key, before every item.
func (k PageKey) IsZero() bool { return k.CreatedAt.IsZero() && k.ID == uuid.Nil }

// ReadModel is the reimbursements read model the projector keeps.
type ReadModel interface {
	// ListReimbursements reads a page, newest submission first: by
	// submitted_at, then id, both descending. An unknown bank or member is
	// an empty page.
	ListReimbursements(ctx context.Context, q ListQuery) (ListPage, error)
	// CountReimbursements counts what q selects, every page of it (q.Limit
	// and q.Before are ignored).
	CountReimbursements(ctx context.Context, q ListQuery) (int64, error)
	// Reached reports whether the read model shows the event at position,
	// and so every event delivered before it. Delivery follows commit
	// order, not position order: a projector at a later position may not
	// have reached this one yet. ENotFound when no committed event has the
	// position.
	Reached(ctx context.Context, position int64) (bool, error)
}

// ListQuery selects a page of one bank's or one member's reimbursements,
// or of one member's at one bank.
type ListQuery struct {
	BankID   uuid.UUID // at least one of BankID and MemberID is set
	MemberID uuid.UUID
	Status   ledger.Status // "" for every status
	// Filters; zero values select everything (see ParseListFilters).
	PaymentStatus ledger.PaymentStatus
	// SubmittedFrom <= submitted_at < SubmittedBefore.
	SubmittedFrom, SubmittedBefore time.Time
	// AmountMin <= amount <= AmountMax, compared as numbers whatever the
	// currency.
	AmountMin, AmountMax decimal.NullDecimal
	Limit                int
	// Before is the cursor: the key (submitted_at, id) of the last item of
	// the previous page, whose CreatedAt is the submission time; the zero
	// key for the first page. The page holds the items ordered after it.
	Before PageKey
	// MinPosition, when set, is a position token (App.PositionToken) of an
	// event the page must reflect: the use case waits a bounded time for
	// the read model to reach it. The stores ignore it.
	MinPosition string
}

// ListPage is a page of reimbursements, newest submission first.
type ListPage struct {
	Items []ledger.Reimbursement
	// NextBefore is the cursor of the next page, the zero key when this is
	// the last.
	NextBefore PageKey
}

// SubmissionKey is a reimbursement's place in the lists: its submission
// time, then its id.
func SubmissionKey(r ledger.Reimbursement) PageKey {
	return PageKey{CreatedAt: r.SubmittedAt, ID: r.ID}
}

// Feed reads the global event feed.
type Feed interface {
	// Feed returns committed events in commit order (see FeedQuery). It
	// returns EInvalid naming after when After is not an event's position.
	Feed(ctx context.Context, q FeedQuery) ([]ledger.RecordedEvent, error)
}

// FeedQuery selects a page of the global feed.
type FeedQuery struct {
	// After is the position of the last event the reader has; 0 starts at the beginning.
	After int64
	Limit int
	// Filters; zero values select everything.
	Types    []string
	StreamID uuid.UUID
	From, To time.Time // recorded_at in [From, To)
}

// AuditLog reads the signed tree heads, their proofs and the HMAC
// checkpoints recorded before them, and verifies the log.
type AuditLog interface {
	// Heads lists signed heads by increasing tree size, after size after.
	Heads(ctx context.Context, after int64, limit int) ([]audit.Head, error)
	// LatestHead returns the newest signed head, nil before the first.
	LatestHead(ctx context.Context) (*audit.Head, error)
	// InclusionProof proves the event at position is in the tree of
	// treeSize leaves (the newest head's when 0). Errors: ENotFound for an
	// unknown position or one not yet in the tree; EInvalid naming
	// tree_size for a size the tree has not reached or too small to hold
	// the event.
	InclusionProof(ctx context.Context, position, treeSize int64) (audit.InclusionProof, error)
	// ConsistencyProof proves the tree of from leaves is a prefix of the
	// tree of to leaves. Errors: EInvalid naming from or to unless
	// 1 <= from <= to <= the tree's size.
	ConsistencyProof(ctx context.Context, from, to int64) ([]tlog.Hash, error)
	// Checkpoints lists the HMAC checkpoints in recording order, after the
	// one with id after.
	Checkpoints(ctx context.Context, after int64, limit int) ([]audit.Checkpoint, error)
	// Verify checks every stream chain, the tree against every head and
	// the HMAC checkpoints, in one consistent snapshot: against the stored
	// checkpoints when exported is nil, otherwise an auditor's copy.
	Verify(ctx context.Context, keys audit.Keys, exported audit.Checkpoints) (audit.Report, error)
	// VerifySince checks only what follows the newest head: the head, its
	// last leaf, and the stream chains of the events after it. With no
	// head it checks the whole log.
	VerifySince(ctx context.Context, keys audit.Keys) (audit.Report, error)
	// Export calls events for every event in commit order, with its
	// content as hashed, then heads for every signed head by increasing
	// size, all from one snapshot.
	Export(ctx context.Context, events func(audit.StoredEvent) error, heads func(audit.Head) error) error
}

// IdempotencyKeys stores the answers of commands sent with an Idempotency-Key.
type IdempotencyKeys interface {
	// Lock takes key for the rest of the transaction; false when another
	// transaction holds it.
	Lock(ctx context.Context, key string) (bool, error)
	// Find returns the answer stored under key after since.
	Find(ctx context.Context, key string, since time.Time) (resp StoredResponse, found bool, err error)
	// Save stores an answer under key, replacing an expired one.
	Save(ctx context.Context, key string, resp StoredResponse, at time.Time) error
	// Prune deletes answers stored before before and reports how many.
	Prune(ctx context.Context, before time.Time) (int64, error)
	// ForgetMentioning deletes the answers whose body holds text (an
	// erased member's id: the answers about them carry their personal
	// data) and reports how many.
	ForgetMentioning(ctx context.Context, text string) (int64, error)
}

// StoredResponse is the answer to a command, kept for replays of its
// Idempotency-Key.
type StoredResponse struct {
	// Fingerprint identifies the request the answer belongs to.
	Fingerprint []byte
	Status      int
	Headers     map[string]string
	Body        []byte
}

// DeadLetters holds the events a saga gave up on after repeated failures
// (backend/worker parks them and retries one when asked) until an operator
// retries or discards them.
type DeadLetters interface {
	// List returns dead letters in the order they were first parked.
	List(ctx context.Context, q DeadLetterQuery) ([]DeadLetter, error)
	// Get returns ENotFound for an unknown id.
	Get(ctx context.Context, id int64) (DeadLetter, error)
	// Lock is Get that, in a transaction, holds the dead letter until the
	// transaction ends.
	Lock(ctx context.Context, id int64) (DeadLetter, error)
	// SetStatus moves a dead letter to status; reason is an operator's
	// reason for discarding it, "" otherwise.
	SetStatus(ctx context.Context, id int64, status DeadLetterStatus, reason string, at time.Time) error
	// Park records p as a parked dead letter and returns its id. The same
	// group's event parked again is the same dead letter, parked again,
	// with the attempts added up.
	Park(ctx context.Context, p Parked) (int64, error)
	// ClaimRetry takes up the oldest retry asked for of a dead letter of
	// one of groups that no live worker has taken up (or whose claim is
	// older than RetryClaimTimeout), and returns it with its event; false
	// when there is none.
	ClaimRetry(ctx context.Context, groups []string, now time.Time) (DeadLetter, ledger.RecordedEvent, bool, error)
	// Resolve marks a retrying dead letter resolved: its saga handled it.
	Resolve(ctx context.Context, id int64, at time.Time) error
	// RetryFailed parks a retrying dead letter again with the retry's error.
	RetryFailed(ctx context.Context, id int64, failure string, at time.Time) error
	// Waiting counts the dead letters that wait for an operator or a
	// worker (parked or retrying), by group and status.
	Waiting(ctx context.Context) ([]DeadLetterCount, error)
}

// RetryClaimTimeout is how long a worker's claim on a dead letter's retry
// holds: one whose worker died is taken up again after it.
const RetryClaimTimeout = 5 * time.Minute

// Parked is an event a consumer group gave up on, as the worker parks it.
type Parked struct {
	Group         string
	Event         ledger.RecordedEvent // its position, id and type are kept
	Error         string
	Attempts      int
	FirstFailedAt time.Time
	LastFailedAt  time.Time
}

// DeadLetterCount is how many of a group's dead letters have a status.
type DeadLetterCount struct {
	Group  string
	Status DeadLetterStatus
	Count  int64
}

// DeadLetter is a consumer group's event parked after repeated failures.
type DeadLetter struct {
	ID            int64
	Group         string
	Position      int64
	EventID       uuid.UUID
	EventType     string
	Error         string // the last failure's message
	Attempts      int
	FirstFailedAt time.Time
	LastFailedAt  time.Time
	Status        DeadLetterStatus
	Reason        string // why an operator discarded it
	UpdatedAt     time.Time
}

// DeadLetterStatus is where a dead letter stands.
type DeadLetterStatus string

// A dead letter is parked until an operator retries it (retrying, until the
// worker has run it: resolved when the saga's handler succeeded, parked
// again when it failed) or discards it.
const (
	DeadLetterParked    DeadLetterStatus = "parked"
	DeadLetterRetrying  DeadLetterStatus = "retrying"
	DeadLetterResolved  DeadLetterStatus = "resolved"
	DeadLetterDiscarded DeadLetterStatus = "discarded"
)

// DeadLetterQuery selects dead letters.
type DeadLetterQuery struct {
	Status DeadLetterStatus // "" for every status
	After  int64            // the id of the last one read; 0 starts at the first
	Limit  int
}
