package postgres_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"iter"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/reimbursement-ledger/ledger/backend/audit"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/postgres"
)

// benchLog is the log the log benchmarks read: reimbursements submitted,
// then decided lag submissions later, each event hashed and chained by
// audit.Record as the event store records it.
type benchLog struct {
	reimbursements int
	// lag is how many later submissions come between a submission and its
	// decision; at least 1 keeps them in different transactions.
	lag int
	// deny says which reimbursements are denied; nil approves them all.
	deny func(i int) bool
}

var benchMeta = ledger.Metadata{CorrelationID: "bench", CausationID: "bench", Actor: "bench"}

// events yields the log's events in the order they are appended.
func (l benchLog) events() iter.Seq2[ledger.RecordedEvent, error] {
	return func(yield func(ledger.RecordedEvent, error) bool) {
		metaJSON, err := json.Marshal(benchMeta)
		if err != nil {
			yield(ledger.RecordedEvent{}, err)
			return
		}
		now := time.Now().UTC().Truncate(time.Microsecond)
		usd, _ := ledger.LookupCurrency("USD")
		admin := uuid.New()
		banks := make([]uuid.UUID, 50)
		for i := range banks {
			banks[i] = uuid.New()
		}
		members, accounts := make([]uuid.UUID, 5000), make([]uuid.UUID, 5000)
		for i := range members {
			members[i], accounts[i] = uuid.New(), uuid.New()
		}
		// The submissions still waiting for their decision.
		type open struct {
			id   uuid.UUID
			hash []byte
		}
		waiting := make([]open, 0, l.lag+1)
		for j := 0; j < l.reimbursements+l.lag; j++ {
			if j < l.reimbursements {
				id := uuid.New()
				rec, err := audit.Record(benchMeta, metaJSON, ledger.PendingEvent{StreamID: id, StreamType: ledger.StreamReimbursement, Version: 1,
					Event: ledger.ReimbursementSubmitted{ReimbursementID: id, BankID: banks[j%len(banks)], BankMemberID: members[j%len(members)],
						BankAccountID: accounts[j%len(accounts)], Amount: ledger.NewAmount(decimal.New(int64(j%100000), -2), usd), Currency: "USD",
						Description: fmt.Sprintf("Expense %d", j), SubmittedAt: now, ApprovalsRequired: 1}}, nil, now)
				if !yield(rec, err) || err != nil {
					return
				}
				waiting = append(waiting, open{id, rec.Hash})
			}
			if i := j - l.lag; i >= 0 {
				o := waiting[0]
				waiting = waiting[1:]
				var event ledger.Event = ledger.ReimbursementApproved{ReimbursementID: o.id, AdministratorID: admin, ApprovedAt: now}
				if l.deny != nil && l.deny(i) {
					event = ledger.ReimbursementDenied{ReimbursementID: o.id, AdministratorID: admin, Reason: "No receipt", DeniedAt: now}
				}
				rec, err := audit.Record(benchMeta, metaJSON, ledger.PendingEvent{StreamID: o.id, StreamType: ledger.StreamReimbursement, Version: 2,
					Event: event}, o.hash, now)
				if !yield(rec, err) || err != nil {
					return
				}
			}
		}
	}
}

// appendConns is how many connections append at once; at most
// appendWindow transactions are in flight, so a transaction commits after
// every one sent appendWindow or more before it.
const appendConns, appendWindow = 4, 8

// appendInTransactions stores events as the API commits them, a few to a
// transaction: perTx events per INSERT statement, each statement its own
// transaction (so each has its own transaction id), through the event
// store's columns, on a few connections at once. An event must come more
// than appendWindow transactions after the event before it in its stream,
// which is then committed first, as the API would. Commits do not wait
// for the disk: a benchmark's log need not survive a crash. It returns how
// many transactions it committed.
func appendInTransactions(b testing.TB, db *postgres.DB, perTx int, events iter.Seq2[ledger.RecordedEvent, error]) int {
	b.Helper()
	const conns = appendConns
	metaJSON, err := json.Marshal(benchMeta)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type numbered struct {
		seq    int
		events []ledger.RecordedEvent
	}
	batches := make(chan numbered)
	done := make(chan int, appendWindow+conns)
	errs := make(chan error, conns)
	var wg sync.WaitGroup
	for range conns {
		conn, err := db.SQL().Conn(ctx)
		if err != nil {
			b.Fatal(err)
		}
		wg.Go(func() {
			defer conn.Close()
			err := appendBatches(ctx, conn, string(metaJSON), func(yield func([]ledger.RecordedEvent) bool) {
				for batch := range batches {
					if !yield(batch.events) {
						return
					}
					done <- batch.seq
				}
			})
			if err != nil {
				errs <- err
				cancel() // the producer stops sending
			}
		})
	}
	transactions := 0
	batch := make([]ledger.RecordedEvent, 0, perTx)
	// committed holds the batches committed above low, the oldest batch
	// not known to be committed.
	committed, low := map[int]bool{}, 0
	send := func() {
		if len(batch) == 0 {
			return
		}
		for transactions-low >= appendWindow && ctx.Err() == nil {
			select {
			case seq := <-done:
				committed[seq] = true
				for committed[low] {
					delete(committed, low)
					low++
				}
			case <-ctx.Done():
			}
		}
		select {
		case batches <- numbered{transactions, batch}:
			transactions++
		case <-ctx.Done():
		}
		batch = make([]ledger.RecordedEvent, 0, perTx)
	}
	for rec, err := range events {
		if err != nil {
			close(batches)
			wg.Wait()
			b.Fatal(err)
		}
		if batch = append(batch, rec); len(batch) == perTx {
			send()
		}
		if ctx.Err() != nil {
			break
		}
	}
	send()
	close(batches)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	return transactions
}

// appendBatches inserts each batch with one prepared statement per batch
// size, in autocommit: one statement, one transaction.
func appendBatches(ctx context.Context, conn *sql.Conn, metaJSON string, batches iter.Seq[[]ledger.RecordedEvent]) error {
	if _, err := conn.ExecContext(ctx, `SET synchronous_commit = off`); err != nil {
		return err
	}
	stmts := map[int]*sql.Stmt{}
	defer func() {
		for _, s := range stmts {
			s.Close()
		}
	}()
	const columns = 10
	var args []any
	for batch := range batches {
		stmt, ok := stmts[len(batch)]
		if !ok {
			rows := make([]string, len(batch))
			for i := range rows {
				params := make([]string, columns)
				for c := range params {
					params[c] = fmt.Sprintf("$%d", i*columns+c+1)
				}
				rows[i] = "(" + strings.Join(params, ", ") + ")"
			}
			var err error
			stmt, err = conn.PrepareContext(ctx, `INSERT INTO events (event_id, stream_id, stream_type, stream_version, type, data, metadata, recorded_at, hash, prev_hash) VALUES `+
				strings.Join(rows, ", "))
			if err != nil {
				return err
			}
			stmts[len(batch)] = stmt
		}
		args = args[:0]
		for _, rec := range batch {
			args = append(args, rec.EventID, rec.StreamID, rec.StreamType, rec.StreamVersion, rec.Type, string(rec.Data), metaJSON, rec.RecordedAt, rec.Hash, rec.PrevHash)
		}
		if _, err := stmt.ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("append %d events: %w", len(batch), err)
		}
	}
	return nil
}

// seedLog appends log's events perTx to a transaction, checks that they
// went into that many transactions, and analyzes the table.
func seedLog(b testing.TB, db *postgres.DB, log benchLog, perTx int) {
	b.Helper()
	if 2*log.lag <= appendWindow*perTx {
		b.Fatalf("a decision %d submissions after its own may commit before it, %d events to a transaction", log.lag, perTx)
	}
	start := time.Now()
	want := appendInTransactions(b, db, perTx, log.events())
	var events, transactions int
	if err := db.SQL().QueryRow(`SELECT count(*), count(DISTINCT transaction_id) FROM events`).Scan(&events, &transactions); err != nil {
		b.Fatal(err)
	}
	if transactions != want {
		b.Fatalf("%d events stored by %d transactions, want %d", events, transactions, want)
	}
	if _, err := db.SQL().Exec(`VACUUM ANALYZE events`); err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %d events in %d transactions in %s", events, transactions, time.Since(start).Round(time.Millisecond))
}
