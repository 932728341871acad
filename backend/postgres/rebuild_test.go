package postgres_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/reimbursement-ledger/ledger/backend/postgres"
	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
)

// viewRows returns every row of the live read model, as JSON, by id.
func viewRows(t *testing.T, db *postgres.DB) []string {
	t.Helper()
	rows, err := db.SQL().Query(`SELECT to_jsonb(v)::text FROM reimbursements_view v ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// A rebuild interrupted after it wrote one chunk (copied into a table
// without any index yet) or several (the primary key built to patch rows)
// resumes from its cursor and swaps in the same rows as one that ran
// without a stop, with every index of the live table.
func TestRebuildResumesAfterWrittenChunks(t *testing.T) {
	db := postgrestest.NewDB(t)
	ctx := context.Background()
	// 800 events, each decision 50 submissions after its own: most chunks
	// of 100 events patch rows an earlier chunk wrote.
	seedLog(t, db, benchLog{reimbursements: 400, lag: 50, deny: func(i int) bool { return i%3 == 0 }}, 10)
	res, err := db.Rebuilds.Run(ctx, postgres.ReimbursementsProjection, postgres.RebuildOptions{})
	if err != nil || res.Rows != 400 || res.Events != 800 {
		t.Fatalf("uninterrupted rebuild: %+v, %v", res, err)
	}
	want := viewRows(t, db)
	indexes := func() []string {
		t.Helper()
		var names []string
		rows, err := db.SQL().Query(`SELECT indexname FROM pg_indexes WHERE tablename = 'reimbursements_view' ORDER BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				t.Fatal(err)
			}
			names = append(names, n)
		}
		return names
	}
	wantIndexes := indexes()
	if !slices.Contains(wantIndexes, "reimbursements_view_pkey") || len(wantIndexes) < 2 {
		t.Fatalf("indexes after a rebuild: %v", wantIndexes)
	}

	for _, stopAfter := range []int64{100, 300} {
		runCtx, cancel := context.WithCancel(ctx)
		_, err := db.Rebuilds.Run(runCtx, postgres.ReimbursementsProjection, postgres.RebuildOptions{Restart: true, BatchSize: 50, ChunkSize: 100,
			Progress: func(done, _ int64) {
				if done < stopAfter+50 || runCtx.Err() != nil {
					return
				}
				// Stop once the chunks up to stopAfter are written.
				deadline := time.Now().Add(10 * time.Second)
				for time.Now().Before(deadline) {
					var pos int64
					if err := db.SQL().QueryRow(`SELECT position FROM projection_rebuilds WHERE name = 'reimbursements_view'`).Scan(&pos); err == nil && pos > 0 {
						var written int64
						if err := db.SQL().QueryRow(`SELECT count(*) FROM events WHERE position <= $1`, pos).Scan(&written); err == nil && written >= stopAfter {
							break
						}
					}
					time.Sleep(5 * time.Millisecond)
				}
				cancel()
			}})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("interrupted after %d events: %v, want context.Canceled", stopAfter, err)
		}
		var copied int64
		if err := db.SQL().QueryRow(`SELECT count(*) FROM reimbursements_view_rebuild`).Scan(&copied); err != nil || copied == 0 {
			t.Fatalf("after %d events the rebuild table holds %d rows (%v), want some", stopAfter, copied, err)
		}
		res, err := db.Rebuilds.Run(ctx, postgres.ReimbursementsProjection, postgres.RebuildOptions{BatchSize: 50, ChunkSize: 100})
		if err != nil || !res.Resumed || res.Rows != 400 {
			t.Fatalf("resumed after %d events: %+v, %v", stopAfter, res, err)
		}
		if got := viewRows(t, db); !slices.Equal(got, want) {
			t.Fatalf("resumed after %d events: %d rows unlike the uninterrupted rebuild's %d", stopAfter, len(got), len(want))
		}
		if got := indexes(); !slices.Equal(got, wantIndexes) {
			t.Fatalf("indexes after a resumed rebuild: %v, want %v", got, wantIndexes)
		}
	}
}
