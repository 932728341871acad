// Package storetest holds every implementation of package app's stores to
// the same behaviour: Run asserts it against backend/postgres and
// backend/inmem alike, so that tests over the fake learn what production does.
package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/audit"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// Harness is one fresh, empty set of stores.
type Harness struct {
	Stores app.Stores
	// Project brings the read model up to date with every committed event,
	// and records that it has (ReadModel.Reached); nil when it never lags.
	Project func(t *testing.T)
}

// auditKeys check nothing here: no head or checkpoint is recorded, so
// Verify checks the stream chains.
var auditKeys = audit.Keys{HMAC: audit.Key("storetest-audit-key-that-is-long-enough-0123")}

// Run runs the contract's subtests, each over a harness of its own.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	tests := []struct {
		name string
		test func(t *testing.T, h Harness)
	}{
		{"AppendAndLoad", testAppendAndLoad},
		{"TakenVersion", testTakenVersion},
		{"GivenStream", testGivenStream},
		{"Transact", testTransact},
		{"ConcurrentAppend", testConcurrentAppend},
		{"Directory", testDirectory},
		{"DirectoryLists", testDirectoryLists},
		{"IdempotencyKeys", testIdempotencyKeys},
		{"ReadModel", testReadModel},
		{"ListFilters", testListFilters},
		{"SubmissionOrder", testSubmissionOrder},
		{"ReadYourWrites", testReadYourWrites},
		{"Feed", testFeed},
		{"UseCases", testUseCases},
		{"Withdrawal", testWithdrawal},
		{"DualControl", testDualControl},
		{"PayoutRetry", testPayoutRetry},
		{"LostRaces", testLostRaces},
		{"WebhookEndpoints", testWebhookEndpoints},
		{"WebhookDeliveries", testWebhookDeliveries},
		{"WebhookDeliveryPages", testWebhookDeliveryPages},
		{"EnqueueWebhooks", testEnqueueWebhooks},
		{"DeadLetters", testDeadLetters},
		{"AuditTree", testAuditTree},
		{"PayoutsAccepted", testPayoutsAccepted},
		{"PayoutsTraces", testPayoutsTraces},
		{"PayoutsFiles", testPayoutsFiles},
		{"PayoutsReturns", testPayoutsReturns},
		{"PayoutsRollback", testPayoutsRollback},
		{"PayoutsExclusive", testPayoutsExclusive},
		{"ReceiptBlobs", testReceiptBlobs},
		{"Receipts", testReceipts},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.test(t, newHarness(t)) })
	}
}

var meta = ledger.Metadata{CorrelationID: "storetest", CausationID: "request:storetest", Actor: "operator"}

// note is an event of a notification stream: the stores do not care which.
func note(stream uuid.UUID, version int64) ledger.PendingEvent {
	return ledger.PendingEvent{StreamID: stream, StreamType: ledger.StreamNotification, Version: version,
		Event: ledger.MemberNotified{ReimbursementID: stream, Kind: ledger.NotificationApproval, Email: "ada@example.com",
			NotifiedAt: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}}
}

func mustAppend(t *testing.T, events app.EventStore, pending ...ledger.PendingEvent) []ledger.RecordedEvent {
	t.Helper()
	recorded, err := events.Append(context.Background(), meta, pending...)
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	return recorded
}

func mustLoad(t *testing.T, events app.EventStore, streams ...uuid.UUID) []ledger.RecordedEvent {
	t.Helper()
	loaded, err := events.Load(context.Background(), streams...)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return loaded
}

func wantCode(t *testing.T, what string, err error, code ledger.Code) {
	t.Helper()
	if ledger.ErrorCode(err) != code {
		t.Fatalf("%s: got %v, want a %s error", what, err, code)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
