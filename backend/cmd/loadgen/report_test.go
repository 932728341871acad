package main

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestPercentileNearestRank(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {0.1, time.Millisecond}} {
		if got := percentile(d, c.p); got != c.want {
			t.Errorf("p%v = %v, want %v", c.p, got, c.want)
		}
	}
	if got := percentile(nil, 99); got != 0 {
		t.Errorf("p99 of nothing = %v", got)
	}
}

func TestThousands(t *testing.T) {
	for in, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 1234567.4: "1,234,567", -5000: "-5,000"} {
		if got := thousands(in); got != want {
			t.Errorf("thousands(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestUpdateDocKeepsTheRest(t *testing.T) {
	doc := "# Benchmarks\n\n## Machine\n\ntable\n\n## Projection rebuild\n\nrebuild text\n"

	// No section yet: appended at the end, everything else kept.
	first := updateDoc(doc, "RESULTS 1")
	if !strings.HasPrefix(first, doc[:len(doc)-1]) || !strings.Contains(first, docSectionTitle+"\n") || !strings.Contains(first, "RESULTS 1") {
		t.Fatalf("first write:\n%s", first)
	}

	// Text around the markers, and a later section, survive a rewrite.
	edited := strings.Replace(first, docResultsEnd, docResultsEnd+"\n\nWhat holds it back: analysis.", 1) + "\n## Later\n\nlater text\n"
	second := updateDoc(edited, "RESULTS 2")
	for _, want := range []string{"RESULTS 2", "What holds it back: analysis.", "## Later\n\nlater text", "rebuild text", "## Machine"} {
		if !strings.Contains(second, want) {
			t.Errorf("second write lost %q:\n%s", want, second)
		}
	}
	if strings.Contains(second, "RESULTS 1") || strings.Count(second, docResultsBegin) != 1 {
		t.Errorf("second write kept the old block:\n%s", second)
	}

	// A section written by hand without markers gets them at its end, before the next section.
	hand := doc + "\n## Service benchmark\n\nIntro.\n\n## After\n\nx\n"
	third := updateDoc(hand, "RESULTS 3")
	if i, j := strings.Index(third, "RESULTS 3"), strings.Index(third, "## After"); i < 0 || j < i || !strings.Contains(third, "Intro.") {
		t.Errorf("markers not placed inside the section:\n%s", third)
	}
}

func TestRenderResultsJudgesTargets(t *testing.T) {
	res := results{
		"baseline.tps": "2000", "baseline.clients": "16", "baseline.seconds": "15", "baseline.latency_ms": "8",
		"submit.rps": "1000", "submit.conns": "16", "submit.seconds": "15", "submit.errors": "0", "submit.requests": "15000",
		"submit.statuses": "201:15000", "submit.p50_ms": "10", "submit.p99_ms": "30",
		"fresh.rate_target": "500", "fresh.p50_ms": "20", "fresh.p99_ms": "45", "fresh.probes": "200",
		"held.open": "1", "fresh_held.p50_ms": "20", "fresh_held.p99_ms": "80", "fresh_held.probes": "200",
		"frozen.held_a_batch": "1", "frozen.bound_s": "5", "frozen.freeze_s": "10",
		"frozen.groups": "audit.checkpoints,projector.reimbursements,saga.payments",
		"frozen.projector.reimbursements.stalled_ms": "4200", "frozen.projector.reimbursements.p99_ms": "5100",
		"frozen.audit.checkpoints.stalled_ms": "0", "frozen.audit.checkpoints.p99_ms": "20",
		"frozen.saga.payments.stalled_ms": "0", "frozen.saga.payments.p99_ms": "35",
		"query.p50_ms": "1", "query.p99_ms": "3", "query.errors": "0", "query.rps": "900", "query.conns": "4", "query.seconds": "10", "query.view_rows": "1000000",
		"rss.peak_kb": "50000", "machine.commit": "abc123",
		"scale.events": "1000000", "scale.rebuild_events_per_s": "104321.5", "scale.verify_events_per_s": "150000",
		"scale.proof_p50_ms": "1.2", "scale.proof_p99_ms": "3.4", "audit.batch": "16", "audit.heads_cpu_us": "60.5", "audit.hmac_cpu_us": "82.1",
	}
	out := renderResults(res, machine{Cores: 2, CPU: "test CPU", MemoryGiB: 4, PostgreSQL: "15.0", Go: "1.26"}, time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC))
	for _, want := range []string{"0.50x the pgbench baseline", "p99 30.0 ms", "10 of 12 targets met",
		"projection rebuild (reimbursements) over 1,000,000 events | 104,322 events/s | at least 100,000 events/s | pass",
		"full audit verify (every stream chain, the tree against every signed head) over 1,000,000 events | 150,000 events/s | at least 200,000 events/s | " + failed,
		"inclusion proof against the newest head at 1,000,000 events, p99 (p50 1.20 ms) | 3.40 ms | at most 10 ms | pass",
		"a signed head per batch of 16, against the former HMAC checkpoint per event | 60.5 µs against 82.1 µs | less than the HMAC checkpoint's | pass",
		"projector.reimbursements held; lag over 1 s for 4200 ms at most", "p99 35.0 ms at most, over audit.checkpoints, saga.payments", "2 cores (test CPU)", "2026-01-02", "of commit abc123"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if strings.Count(out, failed) != 2 {
		t.Errorf("want 2 failed targets (p99, verify), the pgbench ratio only context:\n%s", out)
	}
	if !strings.Contains(out, "| 2b |") || !strings.Contains(out, "not measured") {
		t.Errorf("want the reference rows marked not measured in a run without them:\n%s", out)
	}
}

func TestParseLags(t *testing.T) {
	page := "# HELP ledger_subscriber_lag_seconds Age\n" +
		`ledger_subscriber_lag_seconds{group="saga.payments"} 0.25` + "\n" +
		`ledger_subscriber_lag_seconds{group="projector.reimbursements"} 0` + "\n" +
		`ledger_subscriber_lag_events{group="saga.payments"} 12` + "\n"
	got := parseLags(page)
	if len(got) != 2 || got["saga.payments"] != 250*time.Millisecond || got["projector.reimbursements"] != 0 {
		t.Fatalf("parseLags = %v", got)
	}
}

func TestRenderResultsComparesWithTheReference(t *testing.T) {
	pairs := func(ledger ...string) results {
		res := results{"ab.seconds": "10", "ab.conns": "16",
			"ab.ledger_cpu_s": "12", "ab.ledger_pg_cpu_s": "6", "ab.ref_cpu_s": "9", "ab.ref_pg_cpu_s": "6"}
		for i, l := range ledger {
			rps, p99, _ := strings.Cut(l, "/")
			n := strconv.Itoa(i + 1)
			res["ab"+n+".ref.rps"], res["ab"+n+".ref.p99_ms"], res["ab"+n+".ref.requests"], res["ab"+n+".ref.errors"] = "2000", "20", "20000", "0"
			res["ab"+n+".ledger.rps"], res["ab"+n+".ledger.p99_ms"], res["ab"+n+".ledger.requests"], res["ab"+n+".ledger.errors"] = rps, p99, "20000", "0"
		}
		return res
	}
	m := machine{Cores: 2}
	when := time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)
	for _, tt := range []struct {
		name   string
		res    results
		want   []string
		failed int
	}{
		// The median pair decides: one slow pair does not fail the run, one fast one does not pass it.
		{"faster", pairs("2600/18", "1000/40", "2500/19"), []string{"**1.25x** the reference", "p99 19.0 ms against 20.0 ms", "2 of 2 targets met"}, 0},
		{"slower", pairs("1000/30", "3000/15", "1100/32"), []string{"**0.55x** the reference", "p99 30.0 ms against 20.0 ms", "0 of 2 targets met"}, 2},
	} {
		out := renderResults(tt.res, m, when)
		for _, want := range append(tt.want, "the ledger 0.20 ms (API and subscribers, until they caught up) and PostgreSQL 0.10 ms for it; the reference 0.15 ms and PostgreSQL 0.10 ms") {
			if !strings.Contains(out, want) {
				t.Errorf("%s: report lacks %q:\n%s", tt.name, want, out)
			}
		}
		if got := strings.Count(out, failed); got != tt.failed {
			t.Errorf("%s: %d failed targets, want %d:\n%s", tt.name, got, tt.failed, out)
		}
	}
}

// Step 2's CPU per submission is split by component from the shares
// scripts/bench reads off its CPU profile.
func TestRenderResultsSplitsTheCPUByComponent(t *testing.T) {
	res := results{"submit.requests": "10000", "submit.ledger_cpu_s": "5", "submit.pg_cpu_s": "6", "submit.loadgen_cpu_s": "1", "submit.cpu_busy_pct": "90",
		"split.http_token": "0.1", "split.use_case": "0.2", "split.append": "0.2", "split.reads": "0.1", "split.projector": "0.05",
		"split.audit_tree": "0.05", "split.webhooks": "0", "split.sagas": "0", "split.rest": "0.3"}
	out := renderResults(res, machine{Cores: 2}, time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC))
	want := "by component (shares of a CPU profile of the step; PostgreSQL's is above): HTTP and token 0.05 ms, use case 0.10 ms, append (the shared batch) 0.10 ms"
	if !strings.Contains(out, want) || !strings.Contains(out, "the rest (runtime, garbage collection, the batches' transactions) 0.15 ms") {
		t.Fatalf("report lacks the split %q:\n%s", want, out)
	}
	delete(res, "split.use_case")
	if out := renderResults(res, machine{Cores: 2}, time.Now()); strings.Contains(out, "by component") {
		t.Fatalf("a run without the profile's shares shows a split:\n%s", out)
	}
}

// PostgreSQL's time in step 2 is split by statement when the bench read
// pg_stat_statements, and the report says why when it could not.
func TestRenderResultsSplitsPostgreSQLsTimeByStatement(t *testing.T) {
	res := results{"submit.requests": "1000", "pgstmt.total_calls": "9500", "pgstmt.total_ms": "400",
		"pgstmt.1.query": "COMMIT", "pgstmt.1.calls": "2000", "pgstmt.1.ms": "120",
		"pgstmt.2.query": "INSERT INTO events ...", "pgstmt.2.calls": "250", "pgstmt.2.ms": "80.5"}
	out := renderResults(res, machine{Cores: 2}, time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC))
	want := "9.5 statements, 400 µs of execution in all; the heaviest: `COMMIT` 2.00 calls, 120.0 µs; `INSERT INTO events ...` 0.25 calls, 80.5 µs."
	if !strings.Contains(out, want) {
		t.Fatalf("report lacks the statements %q:\n%s", want, out)
	}
	delete(res, "pgstmt.total_ms")
	if out := renderResults(res, machine{Cores: 2}, time.Now()); !strings.Contains(out, "not measured, since the server does not load pg_stat_statements") {
		t.Fatalf("a run without pg_stat_statements does not say so:\n%s", out)
	}
}
