package postgres_test

import (
	"context"
	"database/sql"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/postgres"
	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
)

// BenchmarkAuditPerEvent measures what the audit subscriber costs each
// event: the HMAC checkpoint per event it wrote before (the former code,
// kept as postgres.LegacyCheckpoints) against the signed head per batch it
// writes now, over the same log (LEDGER_BENCH_AUDIT_EVENTS events, default
// 20,000, written 10 to a transaction) in the same batches
// (LEDGER_BENCH_AUDIT_BATCH events, default 16: what 16 clients' commands
// arrive in), each batch in a transaction of its own, as the subscriber's.
// CPU is the benchmark's process and the database's backends together.
// Run with:
//
//	go tool task bench:audit
func BenchmarkAuditPerEvent(b *testing.B) {
	n := envInt(b, "LEDGER_BENCH_AUDIT_EVENTS", 20_000)
	batch := envInt(b, "LEDGER_BENCH_AUDIT_BATCH", 16)
	designs := []struct {
		name   string
		record func(db *postgres.DB) func(context.Context, *sql.Tx, []ledger.RecordedEvent) error
	}{
		{"hmac-checkpoint-per-event", func(db *postgres.DB) func(context.Context, *sql.Tx, []ledger.RecordedEvent) error {
			legacy := db.NewLegacyCheckpoints()
			return func(ctx context.Context, tx *sql.Tx, events []ledger.RecordedEvent) error {
				return legacy.Record(ctx, tx, postgrestest.AuditKey, events)
			}
		}},
		{"signed-head-per-batch", func(db *postgres.DB) func(context.Context, *sql.Tx, []ledger.RecordedEvent) error {
			return func(ctx context.Context, tx *sql.Tx, events []ledger.RecordedEvent) error {
				return db.BindTx(tx).AuditTree.AppendLeaves(ctx, postgrestest.AuditSigner, events)
			}
		}},
	}
	for _, d := range designs {
		b.Run(d.name, func(b *testing.B) {
			db := postgrestest.NewDBWith(b, postgres.Options{MaxConns: 4})
			seedLog(b, db, benchLog{reimbursements: n / 2, lag: 100}, 10)
			events := eventsInCommitOrder(b, db)
			record := d.record(db)
			ctx := context.Background()
			b.ResetTimer()
			for range b.N {
				pg, proc := pgCPU(b, db), processCPU()
				start := time.Now()
				for i := 0; i < len(events); i += batch {
					tx, err := db.SQL().BeginTx(ctx, nil)
					if err != nil {
						b.Fatal(err)
					}
					if err := record(ctx, tx, events[i:min(i+batch, len(events))]); err != nil {
						b.Fatal(err)
					}
					if err := tx.Commit(); err != nil {
						b.Fatal(err)
					}
				}
				wall := time.Since(start)
				pgUsed, procUsed := pgCPU(b, db)-pg, processCPU()-proc
				per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(len(events)) }
				b.ReportMetric(per(pgUsed+procUsed), "cpu-µs/event")
				b.ReportMetric(per(procUsed), "go-cpu-µs/event")
				b.ReportMetric(per(pgUsed), "pg-cpu-µs/event")
				b.ReportMetric(per(wall), "wall-µs/event")
				b.StopTimer()
				// The next round writes the same events anew.
				if _, err := db.SQL().Exec(`BEGIN; SET LOCAL session_replication_role = replica;
					TRUNCATE audit_checkpoints, audit_tree, audit_heads; COMMIT`); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}

// measureProofs times inclusion proofs of events at random positions
// against the newest head, as GET /v1/events/{position}/proof reads them,
// and reports their median and 99th percentile.
func measureProofs(b *testing.B, db *postgres.DB, events, count int) {
	b.Helper()
	ctx := context.Background()
	latencies := make([]time.Duration, count)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range latencies {
		position := int64(rng.IntN(events) + 1)
		start := time.Now()
		p, err := db.Audit.InclusionProof(ctx, position, 0)
		latencies[i] = time.Since(start)
		if err != nil || p.TreeSize != int64(events) {
			b.Fatalf("the proof of %d: %+v, %v", position, p, err)
		}
	}
	slices.Sort(latencies)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(latencies[count/2]), "proof-p50-ms")
	b.ReportMetric(ms(latencies[count*99/100]), "proof-p99-ms")
}

func eventsInCommitOrder(b *testing.B, db *postgres.DB) []ledger.RecordedEvent {
	b.Helper()
	rows, err := db.SQL().Query(`SELECT position, transaction_id::text, hash FROM events ORDER BY events.transaction_id, events.position`)
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	var out []ledger.RecordedEvent
	for rows.Next() {
		var e ledger.RecordedEvent
		if err := rows.Scan(&e.Position, &e.TransactionID, &e.Hash); err != nil {
			b.Fatal(err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	return out
}

func envInt(b *testing.B, name string, def int) int {
	b.Helper()
	raw := os.Getenv(name)
	if raw == "" {
		return def
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q: want a positive whole number", name, raw)
	}
	return n
}

// processCPU is this process's user and system time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// pgCPU is the user and system time of the server's backends for db's
// database, read from /proc (the benchmark runs beside its server).
func pgCPU(b *testing.B, db *postgres.DB) time.Duration {
	b.Helper()
	var name string
	if err := db.SQL().QueryRow(`SELECT current_database()`).Scan(&name); err != nil {
		b.Fatal(err)
	}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var ticks int64
	for _, stat := range stats {
		cmdline, err := os.ReadFile(filepath.Join(filepath.Dir(stat), "cmdline"))
		if err != nil || !strings.HasPrefix(string(cmdline), "postgres: ") || !strings.Contains(string(cmdline), " "+name+" ") {
			continue
		}
		raw, err := os.ReadFile(stat)
		if err != nil {
			continue
		}
		fields := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
		utime, _ := strconv.ParseInt(fields[11], 10, 64)
		stime, _ := strconv.ParseInt(fields[12], 10, 64)
		ticks += utime + stime
	}
	if ticks == 0 {
		b.Fatal("no backend of the benchmark's database found in /proc: run the benchmark beside its PostgreSQL")
	}
	return time.Duration(ticks) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}
