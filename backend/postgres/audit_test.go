package postgres_test

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/audit"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/postgres"
	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
)

func TestEventsAreAppendOnly(t *testing.T) {
	db := postgrestest.NewDB(t)
	d := postgrestest.MustDirectory(t, db)
	mustSubmit(t, db, d, "1.00")
	for _, stmt := range []string{
		`UPDATE events SET data = '{}'`,
		`DELETE FROM events`,
		`TRUNCATE events`,
	} {
		_, err := db.SQL().Exec(stmt)
		if err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: %v, want it refused as append-only", stmt, err)
		}
	}
	if n := len(allEvents(t, db)); n != 1 {
		t.Fatalf("%d events after the refused statements, want 1", n)
	}
}

// ledgerWithHistory is a database with a few reimbursements decided, and a
// checkpoint for every event. It returns the submission of a reimbursement
// left pending (a stream of one event).
func ledgerWithHistory(t *testing.T) (*postgres.DB, ledger.RecordedEvent) {
	t.Helper()
	db := postgrestest.NewDB(t)
	return db, writeHistory(t, db, 3)
}

// writeHistory submits and decides n reimbursements, then submits two
// more, each command in a transaction of its own as the API runs it, and
// records a checkpoint for every event. It returns the submission of the
// first of the two (a stream of one event).
func writeHistory(t *testing.T, db *postgres.DB, n int) ledger.RecordedEvent {
	t.Helper()
	d := postgrestest.MustDirectory(t, db)
	ctx := context.Background()
	for i := range n {
		r := mustSubmit(t, db, d, "10.00")
		cmd := app.DecideCommand{ReimbursementID: r.ID, Reason: "no receipt"}
		admin := app.Administrator(d.Admin.ID, d.Bank.ID)
		var err error
		if i%2 == 0 {
			_, err = postgrestest.App(db).Approve(ctx, admin, cmd)
		} else {
			_, err = postgrestest.App(db).Deny(ctx, admin, cmd)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	lone := mustSubmit(t, db, d, "3.00")
	mustSubmit(t, db, d, "4.00")
	if err := db.TreeAll(ctx, postgrestest.AuditSigner); err != nil {
		t.Fatal(err)
	}
	story, _ := postgrestest.App(db).Story(ctx, postgrestest.Auditor, lone.ID)
	return story[0]
}

func mustVerify(t *testing.T, db *postgres.DB, exported audit.Checkpoints) audit.Report {
	t.Helper()
	report, err := db.Audit.Verify(context.Background(), postgrestest.AuditKeys, exported)
	if err != nil {
		t.Fatal(err)
	}
	return report
}

// superuser runs statements with the append-only triggers off, as an
// attacker with superuser rights could.
func superuser(t *testing.T, db *postgres.DB, stmts ...string) {
	t.Helper()
	tx, err := db.SQL().Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	for _, s := range append([]string{`SET LOCAL session_replication_role = replica`}, stmts...) {
		if _, err := tx.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyPassesAnIntactLog(t *testing.T) {
	db := postgrestest.NewDB(t)
	writeHistory(t, db, 3)
	verifyPassesAnIntactLog(t, db, 5)
}

// The commit-order walk once sorted transaction ids as text, so "1000"
// came before "999" and every log whose ids crossed a power of ten failed
// its verify. These logs are written by transactions on both sides of
// 1,000, 100,000 and 2^32.
func TestVerifyPassesAnIntactLogAcrossTransactionIDBoundaries(t *testing.T) {
	postgrestest.AcrossXIDBoundaries(t, func(t *testing.T, db *postgres.DB) {
		writeHistory(t, db, 20)
		verifyPassesAnIntactLog(t, db, 22)
	})
}

func verifyPassesAnIntactLog(t *testing.T, db *postgres.DB, streams int) {
	t.Helper()
	report := mustVerify(t, db, nil)
	events := int64(len(allEvents(t, db)))
	heads := (events + 2) / 3 // TreeAll signs a head every three events
	if !report.OK() || report.Events != events || report.Heads != heads || report.Streams != int64(streams) {
		t.Fatalf("report %+v (problem %v), want OK over %d events, %d heads, %d streams", report, report.Problem, events, heads, streams)
	}
	// A key of the same name, rotated in, did not sign these heads.
	rotated := audit.Keys{Public: audit.PublicKeys{postgrestest.RotatedAuditSigner.PublicKey()}}
	bad, err := db.Audit.Verify(context.Background(), rotated, nil)
	if err != nil || bad.OK() || !strings.Contains(bad.Problem.Detail, "does not verify") {
		t.Fatalf("verify with another key: %+v %v", bad.Problem, err)
	}
	// With both keys, as during a rotation, they do.
	both := audit.Keys{Public: append(rotated.Public, postgrestest.AuditSigner.PublicKey())}
	if r, err := db.Audit.Verify(context.Background(), both, nil); err != nil || !r.OK() || r.Heads != heads {
		t.Fatalf("verify with the rotated and the old key: %+v %v", r, err)
	}
}

func TestVerifyNamesTheTamperedEvent(t *testing.T) {
	t.Run("edited payload", func(t *testing.T) {
		db, _ := ledgerWithHistory(t)
		target := allEvents(t, db)[2] // a submission
		superuser(t, db, `UPDATE events SET data = (data::jsonb || '{"amount": "9999.00"}')::json WHERE position = `+itoa(target.Position))
		if got := allEvents(t, db)[2]; !strings.Contains(string(got.Data), "9999.00") {
			t.Fatalf("premise: the payload was not changed: %s", got.Data)
		}
		report := mustVerify(t, db, nil)
		if report.OK() || report.Problem.Position != target.Position || report.Problem.StreamID != target.StreamID || !strings.Contains(report.Problem.Detail, "altered") {
			t.Fatalf("problem %+v, want the event at %d named as altered", report.Problem, target.Position)
		}
	})
	t.Run("deleted event", func(t *testing.T) {
		db, lone := ledgerWithHistory(t)
		superuser(t, db, `DELETE FROM events WHERE position = `+itoa(lone.Position))
		report := mustVerify(t, db, nil)
		if report.OK() || !strings.Contains(report.Problem.Detail, "position "+itoa(lone.Position)) || !strings.Contains(report.Problem.Detail, "removed") {
			t.Fatalf("problem %+v, want the missing event at %d named", report.Problem, lone.Position)
		}
	})
	t.Run("deleted event in the middle of a stream", func(t *testing.T) {
		db, _ := ledgerWithHistory(t)
		first := allEvents(t, db)[0] // a submission that was later decided
		superuser(t, db, `DELETE FROM events WHERE position = `+itoa(first.Position))
		report := mustVerify(t, db, nil)
		if report.OK() || report.Problem.StreamID != first.StreamID {
			t.Fatalf("problem %+v, want stream %s named", report.Problem, first.StreamID)
		}
	})
	t.Run("swapped order", func(t *testing.T) {
		db, _ := ledgerWithHistory(t)
		events := allEvents(t, db)
		a, b := events[len(events)-2], events[len(events)-1] // two submissions of different streams
		superuser(t, db,
			`UPDATE events SET position = -1 WHERE position = `+itoa(a.Position),
			`UPDATE events SET position = `+itoa(a.Position)+` WHERE position = `+itoa(b.Position),
			`UPDATE events SET position = `+itoa(b.Position)+` WHERE position = -1`)
		report := mustVerify(t, db, nil)
		named := report.Problem != nil && (report.Problem.Position == a.Position || report.Problem.Position == b.Position)
		if !named || !strings.Contains(report.Problem.Detail, "reordered") {
			t.Fatalf("problem %+v, want the swap of %d and %d named as a reordering", report.Problem, a.Position, b.Position)
		}
	})
	t.Run("dropped newest events", func(t *testing.T) {
		db, _ := ledgerWithHistory(t)
		events := allEvents(t, db)
		newest := events[len(events)-2].Position
		superuser(t, db, `DELETE FROM events WHERE position >= `+itoa(newest))
		report := mustVerify(t, db, nil)
		if report.OK() || !strings.Contains(report.Problem.Detail, "newest events were removed") {
			t.Fatalf("problem %+v, want the truncation named", report.Problem)
		}
	})
	// An upgraded ledger's log: HMAC checkpoints recorded before tree heads
	// keep verifying, and an auditor's exported copy of them still catches
	// a truncation the database alone no longer shows.
	t.Run("dropped newest events and their HMAC checkpoints", func(t *testing.T) {
		db := postgrestest.NewDB(t)
		d := postgrestest.MustDirectory(t, db)
		ctx := context.Background()
		for _, amount := range []string{"1.00", "2.00", "3.00", "4.00"} {
			mustSubmit(t, db, d, amount)
		}
		if err := db.LegacyCheckpointAll(ctx, postgrestest.AuditKey); err != nil {
			t.Fatal(err)
		}
		if report := mustVerify(t, db, nil); !report.OK() || report.Checkpoints != 4 || report.Heads != 0 {
			t.Fatalf("the log of an upgraded ledger: %+v, want its 4 HMAC checkpoints checked", report)
		}
		exported, err := db.Audit.Checkpoints(ctx, 0, 1000) // the auditor's copy, kept elsewhere
		if err != nil {
			t.Fatal(err)
		}
		events := allEvents(t, db)
		newest := events[len(events)-2].Position
		superuser(t, db, `DELETE FROM events WHERE position >= `+itoa(newest))
		report := mustVerify(t, db, nil)
		if report.OK() || !strings.Contains(report.Problem.Detail, "newest events were removed") {
			t.Fatalf("problem %+v, want the truncation named", report.Problem)
		}
		// The attacker removes the newest checkpoints too: the database alone
		// now looks intact, the exported copy does not.
		superuser(t, db, `DELETE FROM audit_checkpoints WHERE position >= `+itoa(newest))
		if report := mustVerify(t, db, nil); !report.OK() {
			t.Fatalf("premise: after removing checkpoints too the database alone verifies, got %+v", report.Problem)
		}
		report = mustVerify(t, db, audit.NewCheckpointList(exported))
		if report.OK() || report.Problem.Position != newest || !strings.Contains(report.Problem.Detail, "newest events were removed") {
			t.Fatalf("problem %+v, want the truncation at %d named by the exported copy", report.Problem, newest)
		}
	})
}

func TestTreeHoldsEachEventOnce(t *testing.T) {
	db, _ := ledgerWithHistory(t)
	ctx := context.Background()
	if err := db.TreeAll(ctx, postgrestest.AuditSigner); err != nil { // redelivered: nothing new
		t.Fatal(err)
	}
	heads, err := db.Audit.Heads(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	events := allEvents(t, db)
	if len(heads) == 0 || heads[len(heads)-1].TreeSize != int64(len(events)) {
		t.Fatalf("%d heads for %d events: %+v", len(heads), len(events), heads)
	}
	for _, h := range heads {
		if _, err := postgrestest.AuditKeys.Public.Open(h.Note); err != nil {
			t.Fatalf("head of size %d: %v", h.TreeSize, err)
		}
	}
	var leaves int64
	if err := db.SQL().QueryRow(`SELECT count(*) FROM audit_tree`).Scan(&leaves); err != nil || leaves != int64(len(events)) {
		t.Fatalf("%d leaves for %d events (%v)", leaves, len(events), err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// A tree batch that rolls back leaves nothing behind; the next batch adds
// the same events in order, none skipped.
func TestTreeSurvivesARolledBackBatch(t *testing.T) {
	db, _ := ledgerWithHistory(t)
	d := postgrestest.MustDirectory(t, db)
	ctx := context.Background()
	e := mustSubmit(t, db, d, "7.00")
	story, _ := postgrestest.App(db).Story(ctx, postgrestest.Auditor, e.ID)
	tx, err := db.SQL().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.BindTx(tx).AuditTree.AppendLeaves(ctx, postgrestest.AuditSigner, story[:1]); err != nil {
		t.Fatal(err)
	}
	tx.Rollback()
	mustSubmit(t, db, d, "8.00")
	if err := db.TreeAll(ctx, postgrestest.AuditSigner); err != nil {
		t.Fatal(err)
	}
	if report := mustVerify(t, db, nil); !report.OK() || report.Events != int64(len(allEvents(t, db))) || report.Heads == 0 {
		t.Fatalf("after a rolled-back batch: %+v, problem %v", report, report.Problem)
	}
}

// ledgerAfterCheckpoint is a database whose checkpoints cover two
// submissions, kept and decided; after them come the approval of decided (a
// stream that continues past the checkpoint) and a new submission.
func ledgerAfterCheckpoint(t *testing.T) (db *postgres.DB, kept, approval, fresh ledger.RecordedEvent) {
	t.Helper()
	db = postgrestest.NewDB(t)
	kept, approval, fresh = writeAfterCheckpoint(t, db, 2, 2)
	return db, kept, approval, fresh
}

// writeAfterCheckpoint submits before reimbursements, kept the first and
// decided the last, and checkpoints them; after them it approves decided
// (a stream that continues past the checkpoint) and submits after-1 new
// ones, fresh the newest. Each command runs in a transaction of its own.
func writeAfterCheckpoint(t *testing.T, db *postgres.DB, before, after int) (kept, approval, fresh ledger.RecordedEvent) {
	t.Helper()
	d := postgrestest.MustDirectory(t, db)
	ctx := context.Background()
	var decided *ledger.Reimbursement
	for range before {
		decided = mustSubmit(t, db, d, "1.00")
	}
	if err := db.TreeAll(ctx, postgrestest.AuditSigner); err != nil {
		t.Fatal(err)
	}
	if _, err := postgrestest.App(db).Approve(ctx, app.Administrator(d.Admin.ID, d.Bank.ID), app.DecideCommand{ReimbursementID: decided.ID}); err != nil {
		t.Fatal(err)
	}
	for range after - 1 {
		mustSubmit(t, db, d, "3.00")
	}
	events := allEvents(t, db)
	if len(events) != before+after {
		t.Fatalf("premise: %d events, want %d", len(events), before+after)
	}
	return events[0], events[before], events[len(events)-1]
}

func mustVerifySince(t *testing.T, db *postgres.DB) audit.Report {
	t.Helper()
	report, err := db.Audit.VerifySince(context.Background(), postgrestest.AuditKeys)
	if err != nil {
		t.Fatal(err)
	}
	if report.Since == nil {
		t.Fatalf("report %+v does not name the head it started from", report)
	}
	return report
}

func TestVerifySinceHeadChecksOnlyTheNewEvents(t *testing.T) {
	t.Run("intact", func(t *testing.T) {
		db, _, _, _ := ledgerAfterCheckpoint(t)
		verifySinceChecksTheNewEvents(t, db, 2, 2)
	})
	t.Run("tampered after the checkpoint", func(t *testing.T) {
		db, _, approval, _ := ledgerAfterCheckpoint(t)
		superuser(t, db, `UPDATE events SET metadata = (metadata::jsonb || '{"correlation_id": "forged"}')::json WHERE position = `+itoa(approval.Position))
		report := mustVerifySince(t, db)
		if report.OK() || report.Problem.Position != approval.Position || !strings.Contains(report.Problem.Detail, "altered") {
			t.Fatalf("problem %+v, want the approval at %d named as altered", report.Problem, approval.Position)
		}
	})
	t.Run("tampered before the checkpoint", func(t *testing.T) {
		db, kept, _, _ := ledgerAfterCheckpoint(t)
		superuser(t, db, `UPDATE events SET data = (data::jsonb || '{"amount": "9999.00"}')::json WHERE position = `+itoa(kept.Position))
		if report := mustVerifySince(t, db); !report.OK() {
			t.Fatalf("incremental: problem %+v, want the events before the checkpoint left unread", report.Problem)
		}
		if report := mustVerify(t, db, nil); report.OK() || report.Problem.Position != kept.Position {
			t.Fatalf("full: problem %+v, want the edit at %d found", report.Problem, kept.Position)
		}
	})
	t.Run("checkpointed event removed", func(t *testing.T) {
		db, _, _, _ := ledgerAfterCheckpoint(t)
		superuser(t, db, `DELETE FROM events WHERE position = (SELECT position FROM audit_tree ORDER BY leaf_index DESC LIMIT 1)`)
		if report := mustVerifySince(t, db); report.OK() || !strings.Contains(report.Problem.Detail, "gone") {
			t.Fatalf("problem %+v, want the newest head's last event named as gone", report.Problem)
		}
	})
	t.Run("head's last event altered", func(t *testing.T) {
		db, _, _, _ := ledgerAfterCheckpoint(t)
		superuser(t, db, `UPDATE events SET data = (data::jsonb || '{"amount": "9999.00"}')::json
			WHERE position = (SELECT position FROM audit_tree ORDER BY leaf_index DESC LIMIT 1)`)
		if report := mustVerifySince(t, db); report.OK() || !strings.Contains(report.Problem.Detail, "altered") {
			t.Fatalf("problem %+v, want the newest head's last event named as altered", report.Problem)
		}
	})
}

// The checkpoint lies a few transactions below 1,000, 100,000 or 2^32, and
// the events after it cross that id.
func TestVerifySinceCheckpointAcrossTransactionIDBoundaries(t *testing.T) {
	postgrestest.AcrossXIDBoundaries(t, func(t *testing.T, db *postgres.DB) {
		writeAfterCheckpoint(t, db, 10, 30)
		verifySinceChecksTheNewEvents(t, db, 10, 30)
		if report := mustVerify(t, db, nil); !report.OK() || report.Events != 40 {
			t.Fatalf("full verify: %+v (problem %v), want OK over 40 events", report, report.Problem)
		}
	})
}

// verifySinceChecksTheNewEvents checks a log that writeAfterCheckpoint
// wrote: only the after events that follow the checkpoint are read.
func verifySinceChecksTheNewEvents(t *testing.T, db *postgres.DB, before, after int) {
	t.Helper()
	report := mustVerifySince(t, db)
	if !report.OK() || report.Events != int64(after) || report.Streams != int64(after) || report.Heads != 1 || report.Since.TreeSize != int64(before) {
		t.Fatalf("report %+v (problem %v), want OK over the %d events after the head of size %d, in %d streams", report, report.Problem, after, before, after)
	}
}
