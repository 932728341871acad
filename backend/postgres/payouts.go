package postgres

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// Payouts stores the ACH rail's state (migration 00020).
type Payouts struct {
	q    querier
	pool *sql.DB
}

var _ app.Payouts = (*Payouts)(nil)

// Accept records an attempt for its bank's next file, once.
func (s *Payouts) Accept(ctx context.Context, p app.AcceptedPayout) (err error) {
	defer ledger.Wrap(&err, "Payouts.Accept")
	_, err = s.q.ExecContext(ctx, `INSERT INTO ach_accepted (payment_id, attempt, bank_id, accepted_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT DO NOTHING`, p.PaymentID, p.Attempt, p.BankID, p.AcceptedAt)
	return err
}

// Accepted lists the attempts waiting, oldest first.
func (s *Payouts) Accepted(ctx context.Context, limit int) (_ []app.AcceptedPayout, err error) {
	defer ledger.Wrap(&err, "Payouts.Accepted")
	rows, err := s.q.QueryContext(ctx, `SELECT payment_id, attempt, bank_id, accepted_at FROM ach_accepted
		ORDER BY accepted_at, payment_id, attempt LIMIT $1`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []app.AcceptedPayout
	for rows.Next() {
		var p app.AcceptedPayout
		if err := rows.Scan(&p.PaymentID, &p.Attempt, &p.BankID, &p.AcceptedAt); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// Drop takes an attempt off the waiting list.
func (s *Payouts) Drop(ctx context.Context, paymentID uuid.UUID, attempt int) (err error) {
	defer ledger.Wrap(&err, "Payouts.Drop")
	_, err = s.q.ExecContext(ctx, `DELETE FROM ach_accepted WHERE payment_id = $1 AND attempt = $2`, paymentID, attempt)
	return err
}

// ReserveTraces takes n sequences of the ODFI's; the row stays locked
// until the transaction ends. A reservation that does not fit takes
// nothing, in a transaction or not: the UPDATE moves the counter only when
// the sequences fit, in one statement.
func (s *Payouts) ReserveTraces(ctx context.Context, odfi string, n, maxSequence int) (first int, err error) {
	defer ledger.Wrap(&err, "Payouts.ReserveTraces")
	if _, err := s.q.ExecContext(ctx, `INSERT INTO ach_trace_sequences (odfi_routing, next) VALUES ($1, 1)
		ON CONFLICT (odfi_routing) DO NOTHING`, odfi); err != nil {
		return 0, err
	}
	err = s.q.QueryRowContext(ctx, `UPDATE ach_trace_sequences SET next = next + $2
		WHERE odfi_routing = $1 AND next + $2 - 1 <= $3
		RETURNING next - $2`, odfi, n, maxSequence).Scan(&first)
	if errors.Is(err, sql.ErrNoRows) {
		var next int
		if err := s.q.QueryRowContext(ctx, `SELECT next FROM ach_trace_sequences WHERE odfi_routing = $1`, odfi).Scan(&next); err != nil {
			return 0, err
		}
		return 0, ledger.Errorf(ledger.EConflict, "the ODFI %s's trace sequences are used up (%d of %d)", odfi, next-1, maxSequence)
	}
	if err != nil {
		return 0, err
	}
	return first, nil
}

// FilesCreatedSince counts the files created at or after since.
func (s *Payouts) FilesCreatedSince(ctx context.Context, since time.Time) (n int, err error) {
	defer ledger.Wrap(&err, "Payouts.FilesCreatedSince")
	err = s.q.QueryRowContext(ctx, `SELECT count(*) FROM ach_files WHERE created_at >= $1`, since).Scan(&n)
	return n, err
}

// AddFile stores a file with its entries, in one statement so that a
// file refused stores nothing outside a transaction too.
func (s *Payouts) AddFile(ctx context.Context, f app.ACHFile) (err error) {
	defer ledger.Wrap(&err, "Payouts.AddFile")
	traces, payments, attempts, accounts, cents := make([]string, len(f.Entries)), make([]string, len(f.Entries)),
		make([]int64, len(f.Entries)), make([]string, len(f.Entries)), make([]int64, len(f.Entries))
	for i, e := range f.Entries {
		traces[i], payments[i], attempts[i], accounts[i], cents[i] = e.TraceNumber, e.PaymentID.String(), int64(e.Attempt), e.AccountID.String(), e.Cents
	}
	_, err = s.q.ExecContext(ctx, `WITH file AS (
			INSERT INTO ach_files (id, bank_id, name, content, total_cents, state, created_at, updated_at)
			VALUES ($1, $8, $9, $10, $11, $12, $2, $2) RETURNING id
		)
		INSERT INTO ach_entries (trace_number, file_id, payment_id, attempt, account_id, cents, sent_at)
		SELECT t, file.id, p::uuid, a, acct::uuid, c, $2
		FROM file, unnest($3::text[], $4::text[], $5::bigint[], $6::text[], $7::bigint[]) AS u (t, p, a, acct, c)`,
		f.ID, f.CreatedAt, pq.Array(traces), pq.Array(payments), pq.Array(attempts), pq.Array(accounts), pq.Array(cents),
		f.BankID, f.Name, f.Content, f.TotalCents, f.State)
	if constraintViolated(err, "ach_entries_pkey") || constraintViolated(err, "ach_entries_payment_id_attempt_key") {
		return ledger.Errorf(ledger.EConflict, "file %s: an entry's trace number or attempt is in a file already", f.Name)
	}
	return err
}

// Unpublished lists the files not yet in the outbox, oldest first.
func (s *Payouts) Unpublished(ctx context.Context) (_ []app.ACHFile, err error) {
	defer ledger.Wrap(&err, "Payouts.Unpublished")
	rows, err := s.q.QueryContext(ctx, `SELECT id, bank_id, name, content, total_cents, state, created_at FROM ach_files
		WHERE state <> 'published' ORDER BY created_at, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []app.ACHFile
	for rows.Next() {
		var f app.ACHFile
		if err := rows.Scan(&f.ID, &f.BankID, &f.Name, &f.Content, &f.TotalCents, &f.State, &f.CreatedAt); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		if out[i].Entries, err = s.entries(ctx, `file_id = $1`, out[i].ID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// SetFileState moves a file to state.
func (s *Payouts) SetFileState(ctx context.Context, id uuid.UUID, state app.ACHFileState, at time.Time) (err error) {
	defer ledger.Wrap(&err, "Payouts.SetFileState")
	_, err = s.q.ExecContext(ctx, `UPDATE ach_files SET state = $2, updated_at = $3 WHERE id = $1`, id, state, at)
	return err
}

const entryColumns = `trace_number, file_id, payment_id, attempt, account_id, cents, sent_at, outcome`

func (s *Payouts) entries(ctx context.Context, where string, args ...any) ([]app.ACHEntry, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT `+entryColumns+` FROM ach_entries WHERE `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []app.ACHEntry
	for rows.Next() {
		var e app.ACHEntry
		if err := rows.Scan(&e.TraceNumber, &e.FileID, &e.PaymentID, &e.Attempt, &e.AccountID, &e.Cents, &e.SentAt, &e.Outcome); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Entry returns the entry with a trace number.
func (s *Payouts) Entry(ctx context.Context, trace string) (_ app.ACHEntry, _ bool, err error) {
	defer ledger.Wrap(&err, "Payouts.Entry")
	out, err := s.entries(ctx, `trace_number = $1`, trace)
	if err != nil || len(out) == 0 {
		return app.ACHEntry{}, false, err
	}
	return out[0], true, nil
}

// Unsettled lists the entries sent before sentBefore with no outcome.
func (s *Payouts) Unsettled(ctx context.Context, sentBefore time.Time, limit int) (_ []app.ACHEntry, err error) {
	defer ledger.Wrap(&err, "Payouts.Unsettled")
	return s.entries(ctx, `outcome = '' AND sent_at < $1 ORDER BY sent_at, trace_number LIMIT $2`, sentBefore, limit)
}

// SetEntryOutcome records what became of an entry.
func (s *Payouts) SetEntryOutcome(ctx context.Context, trace string, outcome app.ACHEntryOutcome, at time.Time) (err error) {
	defer ledger.Wrap(&err, "Payouts.SetEntryOutcome")
	_, err = s.q.ExecContext(ctx, `UPDATE ach_entries SET outcome = $2, outcome_at = $3 WHERE trace_number = $1`, trace, outcome, at)
	return err
}

// ReturnFileSeen reports whether a return file with this content was read.
func (s *Payouts) ReturnFileSeen(ctx context.Context, sha256 string) (seen bool, err error) {
	defer ledger.Wrap(&err, "Payouts.ReturnFileSeen")
	err = s.q.QueryRowContext(ctx, `SELECT EXISTS (SELECT FROM ach_return_files WHERE sha256 = $1)`, sha256).Scan(&seen)
	return seen, err
}

// AddReturnFile records a return file read.
func (s *Payouts) AddReturnFile(ctx context.Context, f app.ACHReturnFile) (err error) {
	defer ledger.Wrap(&err, "Payouts.AddReturnFile")
	problems := f.Problems
	if problems == nil {
		problems = []string{}
	}
	_, err = s.q.ExecContext(ctx, `INSERT INTO ach_return_files (sha256, name, read_at, rejected, error, returns, corrections, problems)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, f.SHA256, f.Name, f.ReadAt, f.Rejected, f.Error, f.Returns, f.Corrections, pq.Array(problems))
	if constraintViolated(err, "ach_return_files_pkey") {
		return ledger.Errorf(ledger.EConflict, "return file %s was read already", f.Name)
	}
	return err
}

// ReturnFiles lists the return files read, newest first.
func (s *Payouts) ReturnFiles(ctx context.Context, limit int) (_ []app.ACHReturnFile, err error) {
	defer ledger.Wrap(&err, "Payouts.ReturnFiles")
	rows, err := s.q.QueryContext(ctx, `SELECT sha256, name, read_at, rejected, error, returns, corrections, problems
		FROM ach_return_files ORDER BY read_at DESC, sha256 LIMIT $1`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []app.ACHReturnFile
	for rows.Next() {
		var f app.ACHReturnFile
		if err := rows.Scan(&f.SHA256, &f.Name, &f.ReadAt, &f.Rejected, &f.Error, &f.Returns, &f.Corrections, pq.Array(&f.Problems)); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// AddCorrection records a notification of change, once per trace and code.
func (s *Payouts) AddCorrection(ctx context.Context, c app.AccountCorrection) (err error) {
	defer ledger.Wrap(&err, "Payouts.AddCorrection")
	_, err = s.q.ExecContext(ctx, `INSERT INTO account_corrections (account_id, bank_id, trace_number, code, reason, routing_number,
		account_number_last4, account_type, name, return_file, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		ON CONFLICT DO NOTHING`, c.AccountID, c.BankID, c.TraceNumber, c.Code, c.Reason, c.RoutingNumber, c.AccountNumberLast4,
		c.AccountType, c.Name, c.ReturnFile, c.ReceivedAt)
	return err
}

// Corrections lists an account's notifications of change, oldest first.
func (s *Payouts) Corrections(ctx context.Context, accountID uuid.UUID) (_ []app.AccountCorrection, err error) {
	defer ledger.Wrap(&err, "Payouts.Corrections")
	rows, err := s.q.QueryContext(ctx, `SELECT account_id, bank_id, trace_number, code, reason, routing_number, account_number_last4,
		account_type, name, return_file, received_at FROM account_corrections WHERE account_id = $1 ORDER BY received_at, trace_number, code`, accountID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []app.AccountCorrection
	for rows.Next() {
		var c app.AccountCorrection
		if err := rows.Scan(&c.AccountID, &c.BankID, &c.TraceNumber, &c.Code, &c.Reason, &c.RoutingNumber, &c.AccountNumberLast4,
			&c.AccountType, &c.Name, &c.ReturnFile, &c.ReceivedAt); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// Exclusive runs fn under a session advisory lock on a connection of its
// own: it is let go when fn returns, or when the process dies and its
// connection with it.
func (s *Payouts) Exclusive(ctx context.Context, name string, fn func(context.Context) error) (ran bool, err error) {
	defer ledger.Wrap(&err, "Payouts.Exclusive(%s)", name)
	conn, err := s.pool.Conn(ctx)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	var locked bool
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock(hashtext('ledger.' || $1))`, name).Scan(&locked); err != nil {
		return false, err
	}
	if !locked {
		return false, nil
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(hashtext('ledger.' || $1))`, name)
	return true, fn(ctx)
}
