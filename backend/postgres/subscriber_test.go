package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/postgres"
	"github.com/reimbursement-ledger/ledger/backend/postgres/bus"
	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
)

// A batch handler is called once per delivered batch, at its first message,
// with every event of the batch; a failed call, even one whose statement
// failed, is retried with the same events on a usable transaction, and every
// event is applied exactly once, in commit order.
func TestApplyBatchAppliesEachDeliveredBatchOnce(t *testing.T) {
	applyBatchAppliesEachDeliveredBatchOnce(t, postgrestest.NewDB(t), 25)
}

// The same over events whose transaction ids cross 1,000, 100,000 and 2^32.
func TestApplyBatchAppliesEachDeliveredBatchOnceAcrossTransactionIDBoundaries(t *testing.T) {
	postgrestest.AcrossXIDBoundaries(t, func(t *testing.T, db *postgres.DB) {
		applyBatchAppliesEachDeliveredBatchOnce(t, db, 45)
	})
}

// applyBatchAppliesEachDeliveredBatchOnce submits n reimbursements, one
// transaction each, and delivers them in batches of 10.
func applyBatchAppliesEachDeliveredBatchOnce(t *testing.T, db *postgres.DB, n int) {
	t.Helper()
	d := postgrestest.MustDirectory(t, db)
	for range n {
		mustSubmit(t, db, d, "1.00")
	}
	var want []int64
	for _, e := range allEvents(t, db) {
		want = append(want, e.Position)
	}

	sub, err := db.Subscriptions.NewSubscriber(bus.SubscriberConfig{ConsumerGroup: "test", PollInterval: 10 * time.Millisecond, BatchSize: 10}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	msgs, err := sub.Subscribe(ctx, bus.EventsTopic)
	if err != nil {
		t.Fatal(err)
	}
	var calls [][]int64
	var applied []int64
	for acked := 0; acked < len(want); {
		select {
		case msg := <-msgs:
			err := sub.ApplyBatch(msg, func(stores app.Tx, events []ledger.RecordedEvent) error {
				tx := postgres.SQLTx(stores)
				var positions []int64
				for _, e := range events {
					positions = append(positions, e.Position)
				}
				calls = append(calls, positions)
				if len(calls) == 1 {
					// A failed statement: without the savepoint around apply
					// the batch transaction would stay aborted for the retry.
					_, err := tx.Exec(`SELECT 1 / 0`)
					return errors.Join(errors.New("injected failure"), err)
				}
				if _, err := tx.Exec(`SELECT 1`); err != nil {
					return err
				}
				applied = append(applied, positions...)
				return nil
			})
			if err != nil {
				msg.Nack()
				continue
			}
			msg.Ack()
			acked++
		case <-ctx.Done():
			t.Fatalf("delivered %d of %d; calls %v", acked, len(want), calls)
		}
	}
	sizes := []int{10} // the failed batch; then its retry and the rest
	for left := n; left > 0; left -= 10 {
		sizes = append(sizes, min(left, 10))
	}
	var got []int
	for _, c := range calls {
		got = append(got, len(c))
	}
	if !slices.Equal(got, sizes) || !slices.Equal(calls[0], calls[1]) {
		t.Fatalf("calls %v, want a failed batch of 10, its retry, then batches of %v", calls, sizes[2:])
	}
	if !slices.Equal(applied, want) {
		t.Fatalf("applied %v, want %v", applied, want)
	}
}

// A group that reads one type is sent only events of that type, in commit
// order, each acknowledged once; and its position still reaches the newest
// event when the newest events are of other types, so it shows no lag.
// A handler hanging on an event, or a batch of one that the wanted events
// fill, must not let the position jump past one of them. Its lag counts
// only its types.
func TestAFilteredGroupReadsOnlyItsTypesAndKeepsUp(t *testing.T) {
	for _, batch := range []int{1, 10} {
		t.Run(fmt.Sprintf("batch %d", batch), func(t *testing.T) {
			db := postgrestest.NewDB(t)
			d := postgrestest.MustDirectory(t, db)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			admin := app.Administrator(d.Admin.ID, d.Bank.ID)
			for i := range 7 {
				r := mustSubmit(t, db, d, "1.00")
				if i == 1 || i == 4 {
					if _, err := postgrestest.App(db).Approve(ctx, admin, app.DecideCommand{ReimbursementID: r.ID}); err != nil {
						t.Fatal(err)
					}
				}
			}
			for range 3 {
				mustSubmit(t, db, d, "2.00") // the newest events: not of the group's type
			}
			var want []int64
			for _, e := range allEvents(t, db) {
				if e.Type == ledger.TypeReimbursementApproved {
					want = append(want, e.Position)
				}
			}

			const group = "approvals"
			sub, err := db.Subscriptions.NewSubscriber(bus.SubscriberConfig{ConsumerGroup: group, PollInterval: 10 * time.Millisecond,
				AckDeadline: 100 * time.Millisecond, BatchSize: batch, Types: []string{ledger.TypeReimbursementApproved}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Close()
			msgs, err := sub.Subscribe(ctx, bus.EventsTopic)
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var got []int64
			failed := map[int64]bool{}
			go func() {
				for msg := range msgs {
					rec, err := bus.EventFromMessage(msg)
					mu.Lock()
					if err != nil || rec.Type != ledger.TypeReimbursementApproved {
						t.Errorf("delivered %s (%v), want only %s", rec.Type, err, ledger.TypeReimbursementApproved)
					}
					// Each event is left unacknowledged past the deadline once
					// (a hung handler): its batch ends and is read again, and
					// the position must not have moved past the event meanwhile.
					if !failed[rec.Position] {
						failed[rec.Position] = true
						mu.Unlock()
						continue
					}
					got = append(got, rec.Position)
					mu.Unlock()
					msg.Ack()
				}
			}()
			postgrestest.Eventually(t, "the group at the newest event", func() bool {
				st, err := db.Subscriptions.Statuses(ctx, []string{group}, nil)
				return err == nil && st[0].Lag == 0
			})
			mu.Lock()
			if !slices.Equal(got, want) {
				t.Fatalf("delivered positions %v, want the approvals %v", got, want)
			}
			mu.Unlock()

			// Its lag counts only the events it reads: with the subscriber
			// stopped, a submission leaves it at 0, an approval at 1.
			if err := sub.Close(); err != nil {
				t.Fatal(err)
			}
			reads := map[string][]string{group: {ledger.TypeReimbursementApproved}}
			lag := func(reads map[string][]string) int64 {
				t.Helper()
				st, err := db.Subscriptions.Statuses(ctx, []string{group}, reads)
				if err != nil {
					t.Fatal(err)
				}
				return st[0].Lag
			}
			r := mustSubmit(t, db, d, "3.00")
			if typed, all := lag(reads), lag(nil); typed != 0 || all != 1 {
				t.Fatalf("after a submission: lag %d over its types, %d over every type; want 0 and 1", typed, all)
			}
			if _, err := postgrestest.App(db).Approve(ctx, admin, app.DecideCommand{ReimbursementID: r.ID}); err != nil {
				t.Fatal(err)
			}
			if typed := lag(reads); typed != 1 {
				t.Fatalf("after an approval: lag %d over its types, want 1", typed)
			}
		})
	}
}
