package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// runLags samples every consumer group's lag (ledger_subscriber_lag_seconds,
// the age of the oldest event it has not handled) from GET /metrics every
// -interval until -duration ends, and prints each group's p50, p99 and
// maximum, and how long it stayed over -stalled: a group a frozen worker
// held shows as one long stretch.
func runLags(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("lags", flag.ContinueOnError)
	flags.SetOutput(stderr)
	name := flags.String("name", "lags", "prefix of the printed figures")
	base := flags.String("url", "http://127.0.0.1:8080", "the ledger's base URL")
	token := flags.String("token", "", "bearer token for GET /metrics (an operator's)")
	interval := flags.Duration("interval", 100*time.Millisecond, "how often to sample")
	duration := flags.Duration("duration", 15*time.Second, "how long to sample")
	stalled := flags.Duration("stalled", time.Second, "a lag over this counts as stalled")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *interval <= 0 || *duration <= 0 {
		return errors.New("lags: want -interval > 0 and -duration > 0")
	}
	client := newClient(1, 5*time.Second, *token)
	lags := map[string][]time.Duration{}
	longest, current := map[string]time.Duration{}, map[string]time.Duration{}
	samples, failed := 0, 0
	tick := time.NewTicker(*interval)
	defer tick.Stop()
	for end := time.Now().Add(*duration); time.Now().Before(end) && ctx.Err() == nil; {
		status, body, err := do(ctx, client, http.MethodGet, *base+"/metrics", nil, true)
		if err != nil || status != http.StatusOK {
			failed++
		} else {
			samples++
			for group, lag := range parseLags(string(body)) {
				lags[group] = append(lags[group], lag)
				if lag > *stalled {
					current[group] += *interval
					longest[group] = max(longest[group], current[group])
				} else {
					current[group] = 0
				}
			}
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
	f := figures{name: *name, out: stdout}
	f.put("samples", samples)
	f.put("failed", failed)
	groups := make([]string, 0, len(lags))
	for g := range lags {
		groups = append(groups, g)
	}
	slices.Sort(groups)
	f.put("groups", strings.Join(groups, ","))
	for _, g := range groups {
		sorted := slices.Clone(lags[g])
		slices.Sort(sorted)
		f.put(g+".p50_ms", percentile(sorted, 50))
		f.put(g+".p99_ms", percentile(sorted, 99))
		f.put(g+".max_ms", sorted[len(sorted)-1])
		f.put(g+".stalled_ms", longest[g])
	}
	return nil
}

// parseLags reads ledger_subscriber_lag_seconds{group="..."} from the
// Prometheus text format.
func parseLags(page string) map[string]time.Duration {
	out := map[string]time.Duration{}
	const prefix = `ledger_subscriber_lag_seconds{group="`
	for line := range strings.SplitSeq(page, "\n") {
		rest, ok := strings.CutPrefix(line, prefix)
		if !ok {
			continue
		}
		group, value, ok := strings.Cut(rest, `"} `)
		if !ok {
			continue
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(value), 64); err == nil {
			out[group] = time.Duration(v * float64(time.Second))
		}
	}
	return out
}
