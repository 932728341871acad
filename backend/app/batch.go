package app

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/reimbursement-ledger/ledger/backend/audit"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// The use cases of the worker's consumer groups. A batch handler runs in
// its subscriber's batch transaction (tx), so what it writes commits with
// the group's position or not at all; a saga's event it keeps failing on is
// parked as a dead letter.

// AppendAuditTree adds a delivered batch of events, in commit order, to the
// Merkle tree over the log and signs the tree's head: one head per batch.
func AppendAuditTree(ctx context.Context, tx Tx, signer *audit.Signer, events []ledger.RecordedEvent) error {
	return tx.AuditTree.AppendLeaves(ctx, signer, events)
}

// Project folds a delivered batch of events into p's read model.
func Project(ctx context.Context, tx Tx, p Projection, events []ledger.RecordedEvent) error {
	return tx.Projections.Project(ctx, p, events)
}

// MaxDeadLetterError bounds the error text a dead letter keeps: a
// handler's error can quote a whole answer from the outside world.
const MaxDeadLetterError = 2000

// ParkDeadLetter parks an event its consumer group gave up on, so that the
// group moves on, and returns the dead letter's id. The error is kept as
// valid UTF-8 of at most MaxDeadLetterError characters, and at least one
// attempt is counted.
func ParkDeadLetter(ctx context.Context, d DeadLetters, p Parked) (int64, error) {
	p.Error = deadLetterError(p.Error)
	p.Attempts = max(p.Attempts, 1)
	return d.Park(ctx, p)
}

// FinishDeadLetterRetry records how the retry of a dead letter ended:
// resolved when the handler succeeded (failure nil), parked again with its
// error otherwise.
func FinishDeadLetterRetry(ctx context.Context, d DeadLetters, id int64, failure error, at time.Time) error {
	if failure == nil {
		return d.Resolve(ctx, id, at)
	}
	return d.RetryFailed(ctx, id, deadLetterError(failure.Error()), at)
}

// deadLetterError is an error message as a dead letter keeps it.
func deadLetterError(s string) string {
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
	if utf8.RuneCountInString(s) > MaxDeadLetterError {
		s = string([]rune(s)[:MaxDeadLetterError]) + "…"
	}
	return s
}
