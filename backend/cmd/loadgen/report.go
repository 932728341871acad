package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// results are the name.key=value lines scripts/bench collected.
type results map[string]string

func readResults(r io.Reader) (results, error) {
	res := results{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("results: %q is not key=value", line)
		}
		res[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return res, sc.Err()
}

func (r results) has(k string) bool { _, ok := r[k]; return ok }

// prefixed lists the keys that start with prefix, sorted.
func (r results) prefixed(prefix string) []string {
	var keys []string
	for k := range r {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

func (r results) num(k string) float64 {
	v, err := strconv.ParseFloat(r[k], 64)
	if err != nil {
		return 0
	}
	return v
}

// Targets on a 2-core machine.
const (
	targetRefRatio  = 1.2       // ledger requests/s over the plain-CRUD reference's (step 2b, median of pairs), at least
	targetSubmitP99 = 25.0      // ms, at most
	targetFreshP99  = 50.0      // ms, at most
	targetHeldP99   = 100.0     // ms, at most, with a write transaction held open elsewhere
	targetOtherLag  = 100.0     // ms, p99 lag of the groups a frozen worker did not hold, under
	targetQueryP99  = 10.0      // ms, at most
	targetPeakRSSMB = 100.0     // MB, at most
	targetRebuild   = 100_000.0 // events/s of a projection rebuild over step 6's events, at least
	targetVerify    = 200_000.0 // events/s of a full audit verify over step 6's events, at least
	targetProofP99  = 10.0      // ms, the 99th percentile of an inclusion proof at step 6's events, at most
	docSectionTitle = "## Service benchmark"
	docResultsBegin = "<!-- bench:results:begin: written by scripts/bench, edit outside these lines -->"
	docResultsEnd   = "<!-- bench:results:end -->"
	defaultDocIntro = "`go tool task bench` (scripts/bench) measures the service on a fresh database, in one run on one machine, and writes the block below."
	passed, failed  = "pass", "**fail**"
)

func runReport(args []string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("report", flag.ContinueOnError)
	flags.SetOutput(stderr)
	in := flags.String("in", "", "the results file (name.key=value lines)")
	doc := flags.String("doc", "", "write the results into this Markdown file's \""+strings.TrimPrefix(docSectionTitle, "## ")+"\" section")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *in == "" {
		return errors.New("report: -in is required")
	}
	f, err := os.Open(*in)
	if err != nil {
		return err
	}
	res, err := readResults(f)
	f.Close()
	if err != nil {
		return err
	}
	when := time.Now()
	if t, err := time.Parse(time.RFC3339, res["machine.date"]); err == nil {
		when = t // when the run began
	}
	block := renderResults(res, machineOf(res), when)
	fmt.Fprintln(stdout, block)
	if *doc == "" {
		return nil
	}
	old, err := os.ReadFile(*doc)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return os.WriteFile(*doc, []byte(updateDoc(string(old), block)), 0o644)
}

// machine describes where the figures come from.
type machine struct {
	Cores      int
	CPU        string
	MemoryGiB  float64
	PostgreSQL string
	Go         string
}

func machineOf(res results) machine {
	m := machine{Cores: runtime.NumCPU(), Go: strings.TrimPrefix(runtime.Version(), "go"), PostgreSQL: res["machine.pg_version"]}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if fields := strings.Fields(line); len(fields) >= 2 && fields[0] == "MemTotal:" {
				kb, _ := strconv.ParseFloat(fields[1], 64)
				m.MemoryGiB = kb / (1 << 20)
			}
		}
	}
	if m.PostgreSQL == "" {
		m.PostgreSQL = "unknown"
	}
	return m
}

// thousands formats n with a comma between groups of three digits.
func thousands(n float64) string {
	s := strconv.FormatFloat(n, 'f', 0, 64)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func msf(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64) + " ms"
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64) + " ms"
	default:
		return strconv.FormatFloat(v, 'f', 2, 64) + " ms"
	}
}

func verdict(ok bool) string {
	if ok {
		return passed
	}
	return failed
}

// renderResults is the Markdown block of one run: the machine, one row per
// target with its verdict, and the figures behind them.
func renderResults(res results, m machine, now time.Time) string {
	var b strings.Builder
	commit := ""
	if c := res["machine.commit"]; c != "" {
		commit = " of commit " + c
	}
	fmt.Fprintf(&b, "Run%s on %s: %d cores (%s), %.0f GiB of memory, PostgreSQL %s on the same machine, Go %s.\n\n",
		commit, now.UTC().Format("2006-01-02 15:04 MST"), m.Cores, orUnknown(m.CPU), m.MemoryGiB, m.PostgreSQL, m.Go)

	type row struct{ step, what, measured, target, result string }
	var rows []row
	met, total := 0, 0
	judge := func(r row, ok bool, known bool) {
		switch {
		case !known:
			r.result = "not measured"
		default:
			r.result = verdict(ok)
			total++
			if ok {
				met++
			}
		}
		rows = append(rows, r)
	}

	tps := res.num("baseline.tps")
	rows = append(rows, row{"1", fmt.Sprintf("baseline: pgbench, one event-shaped INSERT per transaction, %s clients, %s s",
		res["baseline.clients"], res["baseline.seconds"]),
		fmt.Sprintf("%s TPS (mean latency %s)", thousands(tps), msf(res.num("baseline.latency_ms"))), "", ""})

	rps := res.num("submit.rps")
	ratio := 0.0
	if tps > 0 {
		ratio = rps / tps
	}
	// pgbench's raw INSERT is context, not a target: even an empty HTTP
	// request cannot reach it on two cores. The target is step 2b's.
	rows = append(rows, row{"2", fmt.Sprintf("POST /v1/reimbursements, %s connections, %.0f s: throughput", res["submit.conns"], res.num("submit.seconds")),
		fmt.Sprintf("%s requests/s = %.2fx the pgbench baseline", thousands(rps), ratio), "(context)", ""})
	judge(row{"2", "errors (answers other than 201)",
		fmt.Sprintf("%s of %s (%s)", thousands(res.num("submit.errors")), thousands(res.num("submit.requests")), res["submit.statuses"]),
		"none", ""}, res.num("submit.errors") == 0 && res.num("submit.requests") > 0, res.has("submit.errors"))
	judge(row{"2", "latency",
		fmt.Sprintf("p50 %s, p99 %s", msf(res.num("submit.p50_ms")), msf(res.num("submit.p99_ms"))),
		fmt.Sprintf("p99 at most %.0f ms", targetSubmitP99), ""}, res.num("submit.p99_ms") <= targetSubmitP99, res.has("submit.p99_ms"))

	ab := abOf(res)
	judge(row{"2b", fmt.Sprintf("the ledger against a plain-CRUD reference of POST /v1/reimbursements (Echo, lib/pq, decimal, verified token, cached lookups, one INSERT; no events), "+
		"alternated in %d pairs of %.0f s, %s connections: throughput", ab.pairs, res.num("ab.seconds"), res["ab.conns"]),
		fmt.Sprintf("ledger %s, reference %s requests/s: **%.2fx** the reference (median of the pairs' ratios)", thousands(ab.ledgerRPS), thousands(ab.refRPS), ab.ratio),
		fmt.Sprintf("at least %.1fx", targetRefRatio), ""}, ab.ratio >= targetRefRatio, ab.pairs > 0)
	judge(row{"2b", "latency and errors, ledger against the reference",
		fmt.Sprintf("p99 %s against %s (medians of the runs); %s and %s errors", msf(ab.ledgerP99), msf(ab.refP99), thousands(ab.ledgerErrors), thousands(ab.refErrors)),
		"p99 no worse than the reference's, no errors", ""}, ab.ledgerP99 <= ab.refP99 && ab.ledgerErrors == 0 && ab.refErrors == 0, ab.pairs > 0)

	freshNote := fmt.Sprintf("p50 %s, p99 %s (%s probes)", msf(res.num("fresh.p50_ms")), msf(res.num("fresh.p99_ms")), res["fresh.probes"])
	if miss := res.num("fresh.probe_missing") + res.num("fresh.probe_errors"); miss > 0 {
		freshNote += fmt.Sprintf(", %s probes failed or never seen", thousands(miss))
	}
	judge(row{"3", fmt.Sprintf("freshness: a 201 until the member's list shows it, under %s submissions/s", res["fresh.rate_target"]),
		freshNote, fmt.Sprintf("p99 at most %.0f ms", targetFreshP99), ""},
		res.num("fresh.p99_ms") <= targetFreshP99 && res.num("fresh.probe_missing")+res.num("fresh.probe_errors") == 0, res.has("fresh.p99_ms"))

	heldNote := fmt.Sprintf("p50 %s, p99 %s (%s probes)", msf(res.num("fresh_held.p50_ms")), msf(res.num("fresh_held.p99_ms")), res["fresh_held.probes"])
	if miss := res.num("fresh_held.probe_missing") + res.num("fresh_held.probe_errors"); miss > 0 {
		heldNote += fmt.Sprintf(", %s probes failed or never seen", thousands(miss))
	}
	judge(row{"3b", "freshness as in step 3, with a write transaction held open in another database of the server", heldNote,
		fmt.Sprintf("p99 at most %.0f ms", targetHeldP99), ""},
		res.num("fresh_held.p99_ms") <= targetHeldP99 && res.num("fresh_held.probe_missing")+res.num("fresh_held.probe_errors") == 0,
		res.has("fresh_held.p99_ms") && res.num("held.open") == 1)

	// Step 3c: the groups a frozen worker held show one long stall; the
	// others none.
	var heldGroups, freeGroups []string
	longest, freeP99 := 0.0, 0.0
	for _, g := range strings.Split(res["frozen.groups"], ",") {
		if g == "" {
			continue
		}
		if stalled := res.num("frozen." + g + ".stalled_ms"); stalled > 0 {
			heldGroups = append(heldGroups, g)
			longest = max(longest, stalled)
		} else {
			freeGroups = append(freeGroups, g)
			freeP99 = max(freeP99, res.num("frozen."+g+".p99_ms"))
		}
	}
	frozeBatch := res.num("frozen.held_a_batch") == 1 && len(heldGroups) > 0
	judge(row{"3c", fmt.Sprintf("two workers, one frozen for %s s inside a batch: lag of the %d groups it did not hold (sampled every 100 ms)",
		res["frozen.freeze_s"], len(freeGroups)),
		fmt.Sprintf("p99 %s at most, over %s", msf(freeP99), strings.Join(freeGroups, ", ")),
		fmt.Sprintf("p99 under %.0f ms", targetOtherLag), ""}, freeP99 < targetOtherLag, frozeBatch && len(freeGroups) > 0)
	bound := res.num("frozen.bound_s")
	judge(row{"3c", "the frozen worker's groups resume on the other worker",
		fmt.Sprintf("%s held; lag over 1 s for %s at most", strings.Join(heldGroups, ", "), msf(longest)),
		fmt.Sprintf("within the %.0f s bound (DB_IDLE_IN_TRANSACTION_TIMEOUT)", bound), ""}, longest <= bound*1000, frozeBatch)

	judge(row{"4", fmt.Sprintf("GET /v1/banks/{id}/reimbursements?status=pending&limit=50 over %s rows, %s connections, %.0f s",
		thousands(res.num("query.view_rows")), res["query.conns"], res.num("query.seconds")),
		fmt.Sprintf("p50 %s, p99 %s (%s requests/s, %s errors)", msf(res.num("query.p50_ms")), msf(res.num("query.p99_ms")),
			thousands(res.num("query.rps")), thousands(res.num("query.errors"))),
		fmt.Sprintf("p99 at most %.0f ms", targetQueryP99), ""},
		res.num("query.p99_ms") <= targetQueryP99 && res.num("query.errors") == 0, res.has("query.p99_ms"))

	rssMB := res.num("rss.peak_kb") * 1024 / 1e6
	judge(row{"5", "memory: the ledger's peak RSS (VmHWM) during step 2", fmt.Sprintf("%.0f MB", rssMB),
		fmt.Sprintf("at most %.0f MB", targetPeakRSSMB), ""}, rssMB <= targetPeakRSSMB, res.has("rss.peak_kb"))

	judge(row{"6", fmt.Sprintf("projection rebuild (reimbursements) over %s events", thousands(res.num("scale.events"))),
		fmt.Sprintf("%s events/s", thousands(res.num("scale.rebuild_events_per_s"))),
		fmt.Sprintf("at least %s events/s", thousands(targetRebuild)), ""},
		res.num("scale.rebuild_events_per_s") >= targetRebuild, res.has("scale.rebuild_events_per_s"))
	judge(row{"6", fmt.Sprintf("inclusion proof against the newest head at %s events, p99 (p50 %.2f ms)", thousands(res.num("scale.events")), res.num("scale.proof_p50_ms")),
		fmt.Sprintf("%.2f ms", res.num("scale.proof_p99_ms")),
		fmt.Sprintf("at most %.0f ms", targetProofP99), ""},
		res.num("scale.proof_p99_ms") <= targetProofP99, res.has("scale.proof_p99_ms"))
	judge(row{"6", fmt.Sprintf("the audit subscriber's CPU per event: a signed head per batch of %.0f, against the former HMAC checkpoint per event", res.num("audit.batch")),
		fmt.Sprintf("%.1f µs against %.1f µs", res.num("audit.heads_cpu_us"), res.num("audit.hmac_cpu_us")),
		"less than the HMAC checkpoint's", ""},
		res.num("audit.heads_cpu_us") < res.num("audit.hmac_cpu_us"), res.has("audit.heads_cpu_us") && res.has("audit.hmac_cpu_us"))
	judge(row{"6", fmt.Sprintf("full audit verify (every stream chain, the tree against every signed head) over %s events", thousands(res.num("scale.events"))),
		fmt.Sprintf("%s events/s", thousands(res.num("scale.verify_events_per_s"))),
		fmt.Sprintf("at least %s events/s", thousands(targetVerify)), ""},
		res.num("scale.verify_events_per_s") >= targetVerify, res.has("scale.verify_events_per_s"))

	b.WriteString("| step | what | measured | target | result |\n|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", r.step, r.what, r.measured, r.target, r.result)
	}
	fmt.Fprintf(&b, "\n%d of %d targets met.\n", met, total)

	// The figures behind the table.
	b.WriteString("\nMore figures from the same run:\n")
	if res.has("submit.ledger_cpu_s") && res.num("submit.requests") > 0 {
		n := res.num("submit.requests")
		fmt.Fprintf(&b, "- CPU in step 2: the machine %s%% busy; per submission the ledger (API and subscribers) used %s, PostgreSQL %s, loadgen %s.\n",
			res["submit.cpu_busy_pct"], msf(1000*res.num("submit.ledger_cpu_s")/n), msf(1000*res.num("submit.pg_cpu_s")/n), msf(1000*res.num("submit.loadgen_cpu_s")/n))
	}
	if res.has("submit.ledger_cpu_s") && res.num("submit.requests") > 0 && res.has("split.use_case") {
		perSubmission := 1000 * res.num("submit.ledger_cpu_s") / res.num("submit.requests")
		var parts []string
		for _, c := range cpuComponents {
			parts = append(parts, fmt.Sprintf("%s %s", c.name, msf(perSubmission*res.num("split."+c.key))))
		}
		fmt.Fprintf(&b, "- The ledger's CPU per submission in step 2 by component (shares of a CPU profile of the step; PostgreSQL's is above): %s.\n",
			strings.Join(parts, ", "))
	}
	if line := statementSplit(res); line != "" {
		b.WriteString(line)
	}
	if ab.pairs > 0 && ab.ledgerRequests > 0 && ab.refRequests > 0 {
		fmt.Fprintf(&b, "- CPU per submission in step 2b: the ledger %s (API and subscribers, until they caught up) and PostgreSQL %s for it; "+
			"the reference %s and PostgreSQL %s for it.\n",
			msf(1000*res.num("ab.ledger_cpu_s")/ab.ledgerRequests), msf(1000*res.num("ab.ledger_pg_cpu_s")/ab.ledgerRequests),
			msf(1000*res.num("ab.ref_cpu_s")/ab.refRequests), msf(1000*res.num("ab.ref_pg_cpu_s")/ab.refRequests))
	}
	if res.has("baseline.cpu_busy_pct") && res.num("baseline.transactions") > 0 {
		fmt.Fprintf(&b, "- CPU in step 1: the machine %s%% busy; pgbench used %s per transaction.\n",
			res["baseline.cpu_busy_pct"], msf(1000*res.num("baseline.pgbench_cpu_s")/res.num("baseline.transactions")))
	}
	if res.has("submit.metric.go_sql_wait_duration_seconds_total") && res.num("submit.requests") > 0 {
		n := res.num("submit.requests")
		fmt.Fprintf(&b, "- Step 2 connection pool (from /metrics): %.2f waits for a database connection per submission, %s waiting per submission.\n",
			res.num("submit.metric.go_sql_wait_count_total")/n, msf(1000*res.num("submit.metric.go_sql_wait_duration_seconds_total")/n))
	}
	if res.has("submit.p999_ms") {
		fmt.Fprintf(&b, "- Step 2 latency: mean %s, p90 %s, p99.9 %s, max %s.\n", msf(res.num("submit.mean_ms")), msf(res.num("submit.p90_ms")),
			msf(res.num("submit.p999_ms")), msf(res.num("submit.max_ms")))
	}
	if res.has("catchup.submit_s") {
		fmt.Fprintf(&b, "- After step 2 the subscribers (projector, sagas, audit tree, webhooks) needed %.1f s more to catch up with its %s events.\n",
			res.num("catchup.submit_s"), thousands(res.num("catchup.submit_events")))
	}
	if res.has("fresh.rate") {
		fmt.Fprintf(&b, "- Step 3 background: %s submissions/s sent on schedule (%s not sent: backlog full), %s errors, latency from the scheduled time p50 %s, p99 %s; "+
			"probe submissions p50 %s; %s list reads, p50 %s, p99 %s.\n",
			thousands(res.num("fresh.rate")), thousands(res.num("fresh.missed")), thousands(res.num("fresh.errors")),
			msf(res.num("fresh.load_p50_ms")), msf(res.num("fresh.load_p99_ms")), msf(res.num("fresh.probe_submit_p50_ms")),
			thousands(res.num("fresh.polls")), msf(res.num("fresh.poll_p50_ms")), msf(res.num("fresh.poll_p99_ms")))
		fmt.Fprintf(&b, "- Step 3 freshness: mean %s, p90 %s, max %s.\n", msf(res.num("fresh.mean_ms")), msf(res.num("fresh.p90_ms")), msf(res.num("fresh.max_ms")))
	}
	if lags := res.prefixed("lag."); len(lags) > 0 {
		parts := make([]string, 0, len(lags))
		for _, k := range lags {
			parts = append(parts, fmt.Sprintf("%s %s", strings.TrimPrefix(k, "lag."), thousands(res.num(k))))
		}
		fmt.Fprintf(&b, "- Step 3 largest lag of each subscriber, in events (sampled every second): %s.\n", strings.Join(parts, ", "))
	}
	if n := res.num("fresh.other_xact_seconds"); n > 0 {
		fmt.Fprintf(&b, "- **Step 3 was disturbed**: for %.0f s a transaction in another database on the same server was older than a second, which holds back event delivery in every database (subscribers read only events older than every running transaction on the server).\n", n)
	}
	if res.has("query.bank_rows") {
		fmt.Fprintf(&b, "- Step 4 data: %s rows written into reimbursements_view in %.1f s; the bank queried holds %s rows, %s of them pending.\n",
			thousands(res.num("query.seed_rows")), res.num("query.seed_s"), thousands(res.num("query.bank_rows")), thousands(res.num("query.bank_pending")))
	}
	if res.has("total.seconds") {
		fmt.Fprintf(&b, "- The whole run took %.0f s.\n", res.num("total.seconds"))
	}
	return strings.TrimRight(b.String(), "\n")
}

// abRuns are step 2b's figures: pairs of runs, abN.ref then abN.ledger.
type abRuns struct {
	pairs                       int
	ratio                       float64 // median of the pairs' ledger/reference ratios
	ledgerRPS, refRPS           float64 // medians
	ledgerP99, refP99           float64 // medians, ms
	ledgerErrors, refErrors     float64 // totals
	ledgerRequests, refRequests float64 // totals
}

func abOf(res results) abRuns {
	var ab abRuns
	var ratios, ledgerRPS, refRPS, ledgerP99, refP99 []float64
	for i := 1; res.has(fmt.Sprintf("ab%d.ledger.rps", i)) && res.has(fmt.Sprintf("ab%d.ref.rps", i)); i++ {
		led, ref := fmt.Sprintf("ab%d.ledger.", i), fmt.Sprintf("ab%d.ref.", i)
		ab.pairs++
		if r := res.num(ref + "rps"); r > 0 {
			ratios = append(ratios, res.num(led+"rps")/r)
		}
		ledgerRPS, refRPS = append(ledgerRPS, res.num(led+"rps")), append(refRPS, res.num(ref+"rps"))
		ledgerP99, refP99 = append(ledgerP99, res.num(led+"p99_ms")), append(refP99, res.num(ref+"p99_ms"))
		ab.ledgerErrors += res.num(led + "errors")
		ab.refErrors += res.num(ref + "errors")
		ab.ledgerRequests += res.num(led + "requests")
		ab.refRequests += res.num(ref + "requests")
	}
	ab.ratio, ab.ledgerRPS, ab.refRPS = median(ratios), median(ledgerRPS), median(refRPS)
	ab.ledgerP99, ab.refP99 = median(ledgerP99), median(refP99)
	return ab
}

// median is the middle value, or the mean of the two middle ones; 0 for none.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Sorted(slices.Values(v))
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown CPU"
	}
	return s
}

// updateDoc puts block between the results markers of the Service benchmark
// section, keeping everything else; it adds the markers at the end of the
// section, or the section at the end of the document, when missing.
func updateDoc(doc, block string) string {
	fenced := docResultsBegin + "\n\n" + block + "\n\n" + docResultsEnd
	if i := strings.Index(doc, docResultsBegin); i >= 0 {
		if j := strings.Index(doc[i:], docResultsEnd); j >= 0 {
			return doc[:i] + fenced + doc[i+j+len(docResultsEnd):]
		}
	}
	if i := sectionStart(doc, docSectionTitle); i >= 0 {
		end := len(doc)
		if j := sectionStart(doc[i+len(docSectionTitle):], "## "); j >= 0 {
			end = i + len(docSectionTitle) + j
		}
		body := strings.TrimRight(doc[i:end], "\n")
		rest := doc[end:]
		if rest != "" {
			rest = "\n" + rest
		}
		return doc[:i] + body + "\n\n" + fenced + "\n" + rest
	}
	doc = strings.TrimRight(doc, "\n")
	if doc != "" {
		doc += "\n\n"
	}
	return doc + docSectionTitle + "\n\n" + defaultDocIntro + "\n\n" + fenced + "\n"
}

// sectionStart is the index of the first line of doc that starts with
// prefix, or -1.
func sectionStart(doc, prefix string) int {
	if strings.HasPrefix(doc, prefix) {
		return 0
	}
	if i := strings.Index(doc, "\n"+prefix); i >= 0 {
		return i + 1
	}
	return -1
}

// statementSplit is the line on PostgreSQL's time per submission in step 2
// by statement, from pg_stat_statements (pgstmt.*: the statements' calls and
// execution time over the step and the subscribers' catch-up, the heaviest
// first), or the line saying why there is none.
func statementSplit(res results) string {
	n := res.num("submit.requests")
	if n <= 0 {
		return ""
	}
	if !res.has("pgstmt.total_ms") {
		return "- PostgreSQL's time per submission in step 2 by statement: not measured, since the server does not load pg_stat_statements " +
			"(run the bench against a server started with shared_preload_libraries=pg_stat_statements, DATABASE_URL set).\n"
	}
	var parts []string
	for i := 1; res.has(fmt.Sprintf("pgstmt.%d.ms", i)); i++ {
		k := fmt.Sprintf("pgstmt.%d.", i)
		parts = append(parts, fmt.Sprintf("`%s` %.2f calls, %.1f µs", res[k+"query"], res.num(k+"calls")/n, 1000*res.num(k+"ms")/n))
	}
	return fmt.Sprintf("- PostgreSQL's statements per submission in step 2, with the subscribers' catch-up (pg_stat_statements): %.1f statements, %.0f µs of execution in all; "+
		"the heaviest: %s.\n", res.num("pgstmt.total_calls")/n, 1000*res.num("pgstmt.total_ms")/n, strings.Join(parts, "; "))
}

// cpuComponents are the parts of the ledger scripts/bench splits step 2's
// CPU profile into (split.KEY, the share of the samples), in the order a
// submission meets them.
var cpuComponents = []struct{ key, name string }{
	{"http_token", "HTTP and token"},
	{"use_case", "use case"},
	{"append", "append (the shared batch)"},
	{"reads", "subscribers' reads of the events (polling, the horizon)"},
	{"projector", "projector"},
	{"audit_tree", "audit tree"},
	{"webhooks", "webhooks"},
	{"sagas", "sagas"},
	{"rest", "the rest (runtime, garbage collection, the batches' transactions)"},
}
