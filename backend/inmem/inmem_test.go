package inmem_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/app/storetest"
	"github.com/reimbursement-ledger/ledger/backend/inmem"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// TestContract holds the fake to the assertions PostgreSQL passes
// (backend/postgres/contract_test.go).
func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Harness {
		db := inmem.New(nil)
		return storetest.Harness{Stores: db.Stores()}
	})
}

// The tests below need to know that an append is waiting for another
// transaction, which synctest can tell of the fake and nothing can tell of
// PostgreSQL without polling; the contract asserts only the outcomes.

func first(stream uuid.UUID, version int64) ledger.PendingEvent {
	return ledger.PendingEvent{StreamID: stream, StreamType: ledger.StreamNotification, Version: version,
		Event: ledger.MemberNotified{ReimbursementID: stream, Kind: ledger.NotificationApproval, Email: "ada@example.com"}}
}

// An append of a version another running transaction appended waits for its
// outcome, as PostgreSQL waits on the unique index: it then conflicts if
// that one committed, and succeeds if it rolled back.
func TestAppendWaitsForTheTransactionHoldingItsVersion(t *testing.T) {
	for _, commit := range []bool{true, false} {
		synctest.Test(t, func(t *testing.T) {
			ctx := context.Background()
			db := inmem.New(nil)
			stream := uuid.New()
			appended, release, held := make(chan struct{}), make(chan struct{}), make(chan error, 1)
			go func() {
				held <- db.Transact(ctx, func(tx app.Tx) error {
					if _, err := tx.Events.Append(ctx, ledger.Metadata{}, first(stream, 1)); err != nil {
						return err
					}
					close(appended)
					<-release
					if !commit {
						return errors.New("rolled back")
					}
					return nil
				})
			}()
			<-appended
			second := make(chan error, 1)
			go func() {
				_, err := db.Events.Append(ctx, ledger.Metadata{}, first(stream, 1))
				second <- err
			}()
			synctest.Wait()
			select {
			case err := <-second:
				t.Fatalf("the append did not wait for the transaction holding its version: %v", err)
			default:
			}
			close(release)
			<-held
			if err := <-second; commit && !errors.Is(err, ledger.ErrVersionConflict) || !commit && err != nil {
				t.Fatalf("the holder committed %v: the waiting append got %v", commit, err)
			}
		})
	}
}

// Two transactions that each wait for the other: the one that closes the
// cycle fails, as PostgreSQL's deadlock detector makes it, and the other goes on.
func TestDeadlockFailsTheTransactionClosingTheCycle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		db := inmem.New(nil)
		a, b := uuid.New(), uuid.New()
		step, waiter := make(chan struct{}), make(chan error, 1)
		go func() {
			waiter <- db.Transact(ctx, func(tx app.Tx) error {
				if _, err := tx.Events.Append(ctx, ledger.Metadata{}, first(a, 1)); err != nil {
					return err
				}
				step <- struct{}{}
				<-step
				_, err := tx.Events.Append(ctx, ledger.Metadata{}, first(b, 1))
				return err
			})
		}()
		err := db.Transact(ctx, func(tx app.Tx) error {
			<-step
			if _, err := tx.Events.Append(ctx, ledger.Metadata{}, first(b, 1)); err != nil {
				return err
			}
			step <- struct{}{}
			synctest.Wait() // the other transaction now waits for b
			_, err := tx.Events.Append(ctx, ledger.Metadata{}, first(a, 1))
			return err
		})
		if err == nil {
			t.Fatal("both transactions of a deadlock committed")
		}
		if err := <-waiter; err != nil {
			t.Fatalf("the transaction left waiting: %v", err)
		}
		if v, _ := db.Events.StreamVersion(ctx, b); v != 1 {
			t.Fatalf("b at version %d after the deadlock", v)
		}
	})
}
