package worker_test

import (
	"context"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/postgres"
	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
	"github.com/reimbursement-ledger/ledger/backend/saga"
	"github.com/reimbursement-ledger/ledger/backend/saga/sagatest"
	"github.com/reimbursement-ledger/ledger/backend/worker"
	"github.com/reimbursement-ledger/ledger/backend/worker/workertest"
)

// streamsProjection is a second projection that exists for this test only:
// one row per stream with its type, its newest version and that event's
// type. Registering it is the whole of adding a projection; its
// "migration" is the CREATE TABLE the test runs.
var streamsProjection = &postgres.Projection{
	Name:  "test-streams",
	Group: "projector.test-streams",
	Table: "test_streams",
	Types: []string{ledger.TypeReimbursementSubmitted, ledger.TypeReimbursementApproved, ledger.TypeReimbursementDenied,
		ledger.TypePaymentRequested, ledger.TypePaymentSettled, ledger.TypePaymentFailed, ledger.TypeMemberNotified},
	Fold: func(bool) postgres.ProjectionBatch { return streamRows{} },
}

type streamRow struct {
	streamType, lastType string
	version              int64
}

// streamRows folds events into the newest state of each stream.
type streamRows map[uuid.UUID]streamRow

func (b streamRows) Add(rec ledger.RecordedEvent, _ ledger.Event) {
	if cur, ok := b[rec.StreamID]; !ok || rec.StreamVersion > cur.version {
		b[rec.StreamID] = streamRow{streamType: rec.StreamType, lastType: rec.Type, version: rec.StreamVersion}
	}
}

// Apply upserts each stream's row, guarded by the version, so a redelivered
// batch changes nothing.
func (b streamRows) Apply(ctx context.Context, tx postgres.Querier, table string) error {
	var ids, types, lastTypes []string
	var versions []int64
	for id, r := range b {
		ids, types, lastTypes, versions = append(ids, id.String()), append(types, r.streamType), append(lastTypes, r.lastType), append(versions, r.version)
	}
	_, err := tx.ExecContext(ctx, `
		INSERT INTO `+table+` (stream_id, stream_type, version, last_type)
		SELECT * FROM unnest($1::uuid[], $2::text[], $3::bigint[], $4::text[])
		ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version, last_type = excluded.last_type
		WHERE `+table+`.version < excluded.version`,
		pq.Array(ids), pq.Array(types), pq.Array(versions), pq.Array(lastTypes))
	return err
}

// A projection added as one value is kept live by the worker beside the
// ledger's own and rebuilt by the same registration.
func TestASecondProjectionRunsLiveAndRebuilds(t *testing.T) {
	db := postgrestest.NewDB(t)
	d := postgrestest.MustDirectory(t, db)
	ctx := context.Background()
	if _, err := db.SQL().Exec(`CREATE TABLE test_streams (stream_id uuid PRIMARY KEY, stream_type text NOT NULL,
		version bigint NOT NULL, last_type text NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	projections := append(postgres.AllProjections(), streamsProjection)
	if got := worker.Groups(projections); len(got) != len(worker.Groups(postgres.AllProjections()))+1 {
		t.Fatalf("groups %v do not include the new projection's", got)
	}
	streams := postgrestest.Streams(db)
	w, err := worker.New(worker.Config{
		Stores: db.Stores(), Bus: db.Subscriptions.Bus(nil), Projections: workertest.Projections(projections...), Logger: quiet, AuditSigner: postgrestest.AuditSigner,
		Payments:      saga.NewPayments(streams, &sagatest.Gateway{}, quiet, time.Now),
		Notifications: saga.NewNotifications(streams, &sagatest.Mailer{}, quiet, time.Now),
		PollInterval:  10 * time.Millisecond, RetryInterval: 5 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(runCtx) }()
	<-w.Running()

	a := postgrestest.App(db)
	for i := range 6 {
		r, err := a.Submit(ctx, app.Member(d.Member.ID), app.SubmitCommand{ID: uuid.New(), AccountID: d.Account.ID, Amount: fmt.Sprintf("%d.00", i+1), Description: "Taxi"})
		if err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			continue
		}
		decide := a.Approve
		if i%3 == 2 {
			decide = a.Deny
		}
		if _, err := decide(ctx, app.Administrator(d.Admin.ID, d.Bank.ID), app.DecideCommand{ReimbursementID: r.ID, Reason: "no receipt"}); err != nil {
			t.Fatal(err)
		}
	}
	// 6 reimbursements, 2 payments, 4 notifications: each stream's row shows its last event.
	want := func() map[uuid.UUID]streamRow {
		events, err := db.Events.Feed(ctx, app.FeedQuery{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		rows := streamRows{}
		for _, e := range events {
			rows.Add(e, nil)
		}
		return rows
	}
	postgrestest.Eventually(t, "the test projection follows every stream to its last event", func() bool {
		w := want()
		return len(w) == 12 && maps.Equal(readStreamRows(t, db), w)
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	if _, err := db.SQL().Exec(`DELETE FROM test_streams`); err != nil { // a read model gone wrong
		t.Fatal(err)
	}
	p, err := postgres.FindProjection(projections, "test-streams")
	if err != nil {
		t.Fatal(err)
	}
	res, err := db.Rebuilds.Run(ctx, p, postgres.RebuildOptions{BatchSize: 5})
	if err != nil {
		t.Fatal(err)
	}
	if got := readStreamRows(t, db); res.Rows != 12 || !maps.Equal(got, want()) {
		t.Fatalf("rebuilt %d rows: %v\nwant %v", res.Rows, got, want())
	}
}

func readStreamRows(t *testing.T, db *postgres.DB) map[uuid.UUID]streamRow {
	t.Helper()
	rows, err := db.SQL().Query(`SELECT stream_id, stream_type, version, last_type FROM test_streams`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[uuid.UUID]streamRow{}
	for rows.Next() {
		var id uuid.UUID
		var r streamRow
		if err := rows.Scan(&id, &r.streamType, &r.version, &r.lastType); err != nil {
			t.Fatal(err)
		}
		out[id] = r
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
