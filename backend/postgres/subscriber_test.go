package postgres_test

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/postgres"
	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
)

// A batch handler is called once per delivered batch, at its first message,
// with every event of the batch; a failed call, even one whose statement
// failed, is retried with the same events on a usable transaction, and every
// event is applied exactly once, in commit order.
func TestApplyBatchAppliesEachDeliveredBatchOnce(t *testing.T) {
	db := postgrestest.NewDB(t)
	d := postgrestest.MustDirectory(t, db)
	for range 25 {
		mustSubmit(t, db, d, "1.00")
	}
	var want []int64
	for _, e := range allEvents(t, db) {
		want = append(want, e.Position)
	}

	sub, err := db.Subscriptions.NewSubscriber(postgres.SubscriberConfig{ConsumerGroup: "test", PollInterval: 10 * time.Millisecond, BatchSize: 10}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	msgs, err := sub.Subscribe(ctx, postgres.EventsTopic)
	if err != nil {
		t.Fatal(err)
	}
	var calls [][]int64
	var applied []int64
	for acked := 0; acked < len(want); {
		select {
		case msg := <-msgs:
			err := sub.ApplyBatch(msg, func(tx *sql.Tx, events []ledger.RecordedEvent) error {
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
	if len(calls) != 4 || !slices.Equal(calls[0], calls[1]) || len(calls[1]) != 10 || len(calls[2]) != 10 || len(calls[3]) != 5 {
		t.Fatalf("calls %v, want a failed batch of 10, its retry, then 10 and 5", calls)
	}
	if !slices.Equal(applied, want) {
		t.Fatalf("applied %v, want %v", applied, want)
	}
}
