package inmem

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// Payouts stores the ACH rail's state, as backend/postgres's migration
// 00020 does: outside any transaction, or bound to one (DB.Transact).
type Payouts struct {
	db *DB
	tx *txn
}

var _ app.Payouts = (*Payouts)(nil)

// payoutRows are the ACH rail's tables: the committed rows (DB.payouts),
// or a transaction's writes (txn.payouts), where a nil value is a row the
// transaction deleted. A row is never changed in place: a write puts a
// changed copy among the transaction's writes, which its commit makes the
// committed row and its rollback drops.
type payoutRows struct {
	accepted    map[attemptKey]*app.AcceptedPayout
	traces      map[string]int // the next sequence of each ODFI
	files       map[uuid.UUID]*app.ACHFile
	entries     map[string]*app.ACHEntry
	returnFiles map[string]*app.ACHReturnFile
	corrections map[correctionKey]*app.AccountCorrection
}

type attemptKey struct {
	paymentID uuid.UUID
	attempt   int
}

type correctionKey struct{ trace, code string }

// row returns the row under k as a transaction with writes own sees; nil
// when there is none.
func row[K comparable, V any](own, committed map[K]*V, k K) *V {
	if v, ok := own[k]; ok {
		return v // nil when the transaction deleted it
	}
	return committed[k]
}

// rows returns every row a transaction with writes own sees.
func rows[K comparable, V any](own, committed map[K]*V) []*V {
	var out []*V
	for k, v := range committed {
		if _, ok := own[k]; !ok {
			out = append(out, v)
		}
	}
	for _, v := range own {
		if v != nil {
			out = append(out, v)
		}
	}
	return out
}

// setRow stores v (nil: deletes the row) under k in *m, making the map on first use.
func setRow[K comparable, V any](m *map[K]*V, k K, v *V) {
	if *m == nil {
		*m = map[K]*V{}
	}
	(*m)[k] = v
}

// applyRows makes a transaction's writes own the committed rows.
func applyRows[K comparable, V any](committed *map[K]*V, own map[K]*V) {
	for k, v := range own {
		if v == nil {
			delete(*committed, k)
		} else {
			setRow(committed, k, v)
		}
	}
}

// applyPayouts makes tx's writes of the ACH rail's tables committed.
func (db *DB) applyPayouts(tx *txn) {
	applyRows(&db.payouts.accepted, tx.payouts.accepted)
	for odfi, next := range tx.payouts.traces {
		if db.payouts.traces == nil {
			db.payouts.traces = map[string]int{}
		}
		db.payouts.traces[odfi] = next
	}
	applyRows(&db.payouts.files, tx.payouts.files)
	applyRows(&db.payouts.entries, tx.payouts.entries)
	applyRows(&db.payouts.returnFiles, tx.payouts.returnFiles)
	applyRows(&db.payouts.corrections, tx.payouts.corrections)
}

// own is the writes of p's transaction; none outside a transaction.
func (p *Payouts) own() *payoutRows {
	if p.tx == nil {
		return &payoutRows{}
	}
	return &p.tx.payouts
}

// query runs a read that fails as PostgreSQL's statement would (a
// negative LIMIT): the failure aborts p's transaction.
func (p *Payouts) query(ctx context.Context, fn func() error) error {
	return p.db.read(ctx, p.tx, func() error {
		err := fn()
		if err != nil && p.tx != nil {
			p.tx.abort(err)
		}
		return err
	})
}

func checkLimit(limit int) error {
	if limit < 0 {
		return errors.New("LIMIT must not be negative")
	}
	return nil
}

func foreignKey(table, constraint string) error {
	return fmt.Errorf("insert or update on table %q violates foreign key constraint %q", table, constraint)
}

func checkFileState(state app.ACHFileState) error {
	switch state {
	case app.ACHFileBuilt, app.ACHFileStaged, app.ACHFilePublished:
		return nil
	}
	return errors.New(`new row for relation "ach_files" violates check constraint "ach_files_state_check"`)
}

// Accept records an attempt for its bank's next file, once.
func (p *Payouts) Accept(ctx context.Context, a app.AcceptedPayout) (err error) {
	defer ledger.Wrap(&err, "Payouts.Accept")
	key := attemptKey{a.PaymentID, a.Attempt}
	return p.db.write(ctx, p.tx, func(tx *txn) error {
		// ON CONFLICT DO NOTHING waits for a transaction writing the row.
		if err := p.db.claim(ctx, tx, fmt.Sprintf("ach accepted %s %d", a.PaymentID, a.Attempt)); err != nil {
			return err
		}
		if row(tx.payouts.accepted, p.db.payouts.accepted, key) != nil {
			return nil
		}
		a.AcceptedAt = timestamptz(a.AcceptedAt)
		setRow(&tx.payouts.accepted, key, &a)
		return nil
	})
}

// Accepted lists the attempts waiting, oldest first.
func (p *Payouts) Accepted(ctx context.Context, limit int) (out []app.AcceptedPayout, err error) {
	defer ledger.Wrap(&err, "Payouts.Accepted")
	err = p.query(ctx, func() error {
		if err := checkLimit(limit); err != nil {
			return err
		}
		for _, a := range rows(p.own().accepted, p.db.payouts.accepted) {
			out = append(out, *a)
		}
		// ORDER BY accepted_at, payment_id, attempt: uuids byte by byte.
		slices.SortFunc(out, func(x, y app.AcceptedPayout) int {
			if c := x.AcceptedAt.Compare(y.AcceptedAt); c != 0 {
				return c
			}
			if c := bytes.Compare(x.PaymentID[:], y.PaymentID[:]); c != 0 {
				return c
			}
			return x.Attempt - y.Attempt
		})
		out = out[:min(len(out), limit)]
		return nil
	})
	if err != nil || len(out) == 0 {
		return nil, err
	}
	return out, nil
}

// Drop takes an attempt off the waiting list.
func (p *Payouts) Drop(ctx context.Context, paymentID uuid.UUID, attempt int) (err error) {
	defer ledger.Wrap(&err, "Payouts.Drop")
	key := attemptKey{paymentID, attempt}
	return p.db.write(ctx, p.tx, func(tx *txn) error {
		if row(tx.payouts.accepted, p.db.payouts.accepted, key) == nil {
			return nil // DELETE skips the rows it does not see
		}
		if err := p.db.claim(ctx, tx, fmt.Sprintf("ach accepted %s %d", paymentID, attempt)); err != nil {
			return err
		}
		if row(tx.payouts.accepted, p.db.payouts.accepted, key) != nil {
			setRow(&tx.payouts.accepted, key, nil)
		}
		return nil
	})
}

// ReserveTraces takes n sequences of the ODFI's; the ODFI's counter stays
// claimed until the transaction ends, as its row stays locked in
// PostgreSQL. A reservation that does not fit takes nothing.
func (p *Payouts) ReserveTraces(ctx context.Context, odfi string, n, maxSequence int) (first int, err error) {
	defer ledger.Wrap(&err, "Payouts.ReserveTraces")
	err = p.db.write(ctx, p.tx, func(tx *txn) error {
		if err := p.db.claim(ctx, tx, "ach trace sequence "+odfi); err != nil {
			return err
		}
		next, ok := tx.payouts.traces[odfi]
		if !ok {
			if next, ok = p.db.payouts.traces[odfi]; !ok {
				next = 1
			}
		}
		if next+n-1 > maxSequence {
			// Not a broken constraint: the transaction goes on.
			return ledger.Errorf(ledger.EConflict, "the ODFI %s's trace sequences are used up (%d of %d)", odfi, next-1, maxSequence)
		}
		if tx.payouts.traces == nil {
			tx.payouts.traces = map[string]int{}
		}
		tx.payouts.traces[odfi] = next + n
		first = next
		return nil
	})
	if err != nil {
		return 0, err
	}
	return first, nil
}

// FilesCreatedSince counts the files created at or after since.
func (p *Payouts) FilesCreatedSince(ctx context.Context, since time.Time) (n int, err error) {
	defer ledger.Wrap(&err, "Payouts.FilesCreatedSince")
	since = timestamptz(since)
	err = p.db.read(ctx, p.tx, func() error {
		for _, f := range rows(p.own().files, p.db.payouts.files) {
			if !f.CreatedAt.Before(since) {
				n++
			}
		}
		return nil
	})
	return n, err
}

// AddFile stores a file with its entries. As in PostgreSQL, each entry is
// of the file, sent when the file was created, with no outcome yet.
func (p *Payouts) AddFile(ctx context.Context, f app.ACHFile) (err error) {
	defer ledger.Wrap(&err, "Payouts.AddFile")
	return p.db.write(ctx, p.tx, func(tx *txn) error {
		// The file's row: its key, its unique name, its columns, then its bank.
		if err := p.db.claim(ctx, tx, "ach file "+f.ID.String()); err != nil {
			return err
		}
		if row(tx.payouts.files, p.db.payouts.files, f.ID) != nil {
			return tx.abort(duplicateKey("ach_files_pkey"))
		}
		if err := p.db.claim(ctx, tx, "ach file name "+f.Name); err != nil {
			return err
		}
		for _, other := range rows(tx.payouts.files, p.db.payouts.files) {
			if other.Name == f.Name {
				return tx.abort(duplicateKey("ach_files_name_key"))
			}
		}
		if f.Content == nil {
			return tx.abort(errors.New(`null value in column "content" of relation "ach_files" violates not-null constraint`))
		}
		if err := checkFileState(f.State); err != nil {
			return tx.abort(err)
		}
		if _, ok := find(tx.banks, p.db.banks, f.BankID); !ok {
			return tx.abort(foreignKey("ach_files", "ach_files_bank_id_fkey"))
		}
		conflict := func() error {
			return tx.abort(ledger.Errorf(ledger.EConflict, "file %s: an entry's trace number or attempt is in a file already", f.Name))
		}
		file := f
		file.Content, file.Entries = bytes.Clone(f.Content), nil
		file.CreatedAt = timestamptz(f.CreatedAt)
		entries := map[string]*app.ACHEntry{}
		attempts := map[attemptKey]bool{}
		for _, e := range f.Entries {
			if err := p.db.claim(ctx, tx, "ach entry "+e.TraceNumber); err != nil {
				return err
			}
			if _, ok := entries[e.TraceNumber]; ok || row(tx.payouts.entries, p.db.payouts.entries, e.TraceNumber) != nil {
				return conflict()
			}
			key := attemptKey{e.PaymentID, e.Attempt}
			if err := p.db.claim(ctx, tx, fmt.Sprintf("ach entry attempt %s %d", e.PaymentID, e.Attempt)); err != nil {
				return err
			}
			if attempts[key] {
				return conflict()
			}
			for _, other := range rows(tx.payouts.entries, p.db.payouts.entries) {
				if other.PaymentID == e.PaymentID && other.Attempt == e.Attempt {
					return conflict()
				}
			}
			e.FileID, e.SentAt, e.Outcome = file.ID, file.CreatedAt, app.ACHEntrySent
			entries[e.TraceNumber], attempts[key] = &e, true
		}
		setRow(&tx.payouts.files, file.ID, &file)
		for trace, e := range entries {
			setRow(&tx.payouts.entries, trace, e)
		}
		return nil
	})
}

// Unpublished lists the files not yet in the outbox, oldest first, each
// with its entries by trace number.
func (p *Payouts) Unpublished(ctx context.Context) (out []app.ACHFile, err error) {
	defer ledger.Wrap(&err, "Payouts.Unpublished")
	err = p.db.read(ctx, p.tx, func() error {
		own := p.own()
		for _, f := range rows(own.files, p.db.payouts.files) {
			if f.State != app.ACHFilePublished {
				out = append(out, *f)
			}
		}
		// ORDER BY created_at, id: uuids byte by byte.
		slices.SortFunc(out, func(x, y app.ACHFile) int {
			if c := x.CreatedAt.Compare(y.CreatedAt); c != 0 {
				return c
			}
			return bytes.Compare(x.ID[:], y.ID[:])
		})
		entries := rows(own.entries, p.db.payouts.entries)
		slices.SortFunc(entries, func(x, y *app.ACHEntry) int { return strings.Compare(x.TraceNumber, y.TraceNumber) })
		for i := range out {
			out[i].Content = bytes.Clone(out[i].Content)
			for _, e := range entries {
				if e.FileID == out[i].ID {
					out[i].Entries = append(out[i].Entries, *e)
				}
			}
		}
		return nil
	})
	return out, err
}

// SetFileState moves a file to state.
func (p *Payouts) SetFileState(ctx context.Context, id uuid.UUID, state app.ACHFileState, at time.Time) (err error) {
	defer ledger.Wrap(&err, "Payouts.SetFileState")
	return p.db.write(ctx, p.tx, func(tx *txn) error {
		if row(tx.payouts.files, p.db.payouts.files, id) == nil {
			return nil
		}
		if err := p.db.claim(ctx, tx, "ach file "+id.String()); err != nil {
			return err
		}
		f := row(tx.payouts.files, p.db.payouts.files, id)
		if f == nil {
			return nil
		}
		if err := checkFileState(state); err != nil {
			return tx.abort(err)
		}
		changed := *f
		changed.State = state
		setRow(&tx.payouts.files, id, &changed)
		return nil
	})
}

// Entry returns the entry with a trace number.
func (p *Payouts) Entry(ctx context.Context, trace string) (e app.ACHEntry, found bool, err error) {
	defer ledger.Wrap(&err, "Payouts.Entry")
	err = p.db.read(ctx, p.tx, func() error {
		if r := row(p.own().entries, p.db.payouts.entries, trace); r != nil {
			e, found = *r, true
		}
		return nil
	})
	return e, found, err
}

// Unsettled lists the entries sent before sentBefore with no outcome,
// oldest first.
func (p *Payouts) Unsettled(ctx context.Context, sentBefore time.Time, limit int) (out []app.ACHEntry, err error) {
	defer ledger.Wrap(&err, "Payouts.Unsettled")
	sentBefore = timestamptz(sentBefore)
	err = p.query(ctx, func() error {
		if err := checkLimit(limit); err != nil {
			return err
		}
		for _, e := range rows(p.own().entries, p.db.payouts.entries) {
			if e.Outcome == app.ACHEntrySent && e.SentAt.Before(sentBefore) {
				out = append(out, *e)
			}
		}
		slices.SortFunc(out, func(x, y app.ACHEntry) int {
			if c := x.SentAt.Compare(y.SentAt); c != 0 {
				return c
			}
			return strings.Compare(x.TraceNumber, y.TraceNumber)
		})
		out = out[:min(len(out), limit)]
		return nil
	})
	if err != nil || len(out) == 0 {
		return nil, err
	}
	return out, nil
}

// SetEntryOutcome records what became of an entry.
func (p *Payouts) SetEntryOutcome(ctx context.Context, trace string, outcome app.ACHEntryOutcome, at time.Time) (err error) {
	defer ledger.Wrap(&err, "Payouts.SetEntryOutcome")
	return p.db.write(ctx, p.tx, func(tx *txn) error {
		if row(tx.payouts.entries, p.db.payouts.entries, trace) == nil {
			return nil
		}
		if err := p.db.claim(ctx, tx, "ach entry "+trace); err != nil {
			return err
		}
		e := row(tx.payouts.entries, p.db.payouts.entries, trace)
		if e == nil {
			return nil
		}
		changed := *e
		changed.Outcome = outcome
		setRow(&tx.payouts.entries, trace, &changed)
		return nil
	})
}

// ReturnFileSeen reports whether a return file with this content was read.
func (p *Payouts) ReturnFileSeen(ctx context.Context, sha256 string) (seen bool, err error) {
	defer ledger.Wrap(&err, "Payouts.ReturnFileSeen")
	err = p.db.read(ctx, p.tx, func() error {
		seen = row(p.own().returnFiles, p.db.payouts.returnFiles, sha256) != nil
		return nil
	})
	return seen, err
}

// AddReturnFile records a return file read; ledger.EConflict when one with
// the same content was.
func (p *Payouts) AddReturnFile(ctx context.Context, f app.ACHReturnFile) (err error) {
	defer ledger.Wrap(&err, "Payouts.AddReturnFile")
	return p.db.write(ctx, p.tx, func(tx *txn) error {
		if err := p.db.claim(ctx, tx, "ach return file "+f.SHA256); err != nil {
			return err
		}
		if row(tx.payouts.returnFiles, p.db.payouts.returnFiles, f.SHA256) != nil {
			return tx.abort(ledger.Errorf(ledger.EConflict, "return file %s was read already", f.Name))
		}
		f.ReadAt = timestamptz(f.ReadAt)
		f.Problems = append([]string{}, f.Problems...)
		setRow(&tx.payouts.returnFiles, f.SHA256, &f)
		return nil
	})
}

// ReturnFiles lists the return files read, newest first.
func (p *Payouts) ReturnFiles(ctx context.Context, limit int) (out []app.ACHReturnFile, err error) {
	defer ledger.Wrap(&err, "Payouts.ReturnFiles")
	err = p.query(ctx, func() error {
		if err := checkLimit(limit); err != nil {
			return err
		}
		for _, f := range rows(p.own().returnFiles, p.db.payouts.returnFiles) {
			c := *f
			c.Problems = slices.Clone(f.Problems)
			out = append(out, c)
		}
		// ORDER BY read_at DESC, sha256
		slices.SortFunc(out, func(x, y app.ACHReturnFile) int {
			if c := y.ReadAt.Compare(x.ReadAt); c != 0 {
				return c
			}
			return strings.Compare(x.SHA256, y.SHA256)
		})
		out = out[:min(len(out), limit)]
		return nil
	})
	if err != nil || len(out) == 0 {
		return nil, err
	}
	return out, nil
}

// AddCorrection records a notification of change, once per trace and code.
func (p *Payouts) AddCorrection(ctx context.Context, c app.AccountCorrection) (err error) {
	defer ledger.Wrap(&err, "Payouts.AddCorrection")
	key := correctionKey{c.TraceNumber, c.Code}
	return p.db.write(ctx, p.tx, func(tx *txn) error {
		if err := p.db.claim(ctx, tx, "account correction "+c.TraceNumber+" "+c.Code); err != nil {
			return err
		}
		if row(tx.payouts.corrections, p.db.payouts.corrections, key) != nil {
			return nil // ON CONFLICT DO NOTHING
		}
		if _, ok := find(tx.accounts, p.db.accounts, c.AccountID); !ok {
			return tx.abort(foreignKey("account_corrections", "account_corrections_account_id_fkey"))
		}
		c.ReceivedAt = timestamptz(c.ReceivedAt)
		setRow(&tx.payouts.corrections, key, &c)
		return nil
	})
}

// Corrections lists an account's notifications of change, oldest first.
func (p *Payouts) Corrections(ctx context.Context, accountID uuid.UUID) (out []app.AccountCorrection, err error) {
	defer ledger.Wrap(&err, "Payouts.Corrections")
	err = p.db.read(ctx, p.tx, func() error {
		for _, c := range rows(p.own().corrections, p.db.payouts.corrections) {
			if c.AccountID == accountID {
				out = append(out, *c)
			}
		}
		slices.SortFunc(out, func(x, y app.AccountCorrection) int {
			if c := x.ReceivedAt.Compare(y.ReceivedAt); c != 0 {
				return c
			}
			if c := strings.Compare(x.TraceNumber, y.TraceNumber); c != 0 {
				return c
			}
			return strings.Compare(x.Code, y.Code)
		})
		return nil
	})
	return out, err
}

// Exclusive runs fn unless another call with the same name is running, as
// PostgreSQL's session advisory lock on a connection of the call's own
// does: a call within fn with the same name does not run either. The name
// is let go when fn returns or panics.
func (p *Payouts) Exclusive(ctx context.Context, name string, fn func(context.Context) error) (ran bool, err error) {
	defer ledger.Wrap(&err, "Payouts.Exclusive(%s)", name)
	if err := ctx.Err(); err != nil {
		return false, err
	}
	p.db.mu.Lock()
	if p.db.exclusive[name] {
		p.db.mu.Unlock()
		return false, nil
	}
	p.db.exclusive[name] = true
	p.db.mu.Unlock()
	defer func() {
		p.db.mu.Lock()
		delete(p.db.exclusive, name)
		p.db.mu.Unlock()
	}()
	return true, fn(ctx)
}
