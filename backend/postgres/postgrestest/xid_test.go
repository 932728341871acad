package postgrestest_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/postgres"
	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
)

// A private cluster starts just below its boundary, and behaves as a
// cluster that aged there: the writes of a test cross it, and a VACUUM
// afterwards finds every row in order (at 2^32 it would not if the
// tables' frozen ids were left where the base cluster froze them).
func TestPrivateClustersStartJustBelowTheirBoundary(t *testing.T) {
	postgrestest.AcrossXIDBoundaries(t, func(t *testing.T, db *postgres.DB) {
		ctx := context.Background()
		var next uint64
		if err := db.SQL().QueryRowContext(ctx, `SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint`).Scan(&next); err != nil {
			t.Fatal(err)
		}
		boundary := postgrestest.XIDBoundaries[0]
		for _, b := range postgrestest.XIDBoundaries {
			if b > next {
				boundary = b
				break
			}
		}
		if next+postgrestest.XIDMargin < boundary || next >= boundary-postgrestest.XIDMargin+5 {
			t.Fatalf("next transaction id %d, want it about %d below %d", next, postgrestest.XIDMargin, boundary)
		}
		for range postgrestest.XIDMargin + 5 {
			id := uuid.New()
			err := postgrestest.Streams(db).Append(ctx, ledger.Metadata{}, ledger.PendingEvent{StreamID: id, StreamType: ledger.StreamReimbursement, Version: 1,
				Event: ledger.ReimbursementSubmitted{ReimbursementID: id, Currency: "USD", Description: "x"}})
			if err != nil {
				t.Fatal(err)
			}
		}
		if _, err := db.SQL().ExecContext(ctx, `VACUUM FREEZE`); err != nil {
			t.Fatalf("vacuum after crossing %d: %v", boundary, err)
		}
	})
}
