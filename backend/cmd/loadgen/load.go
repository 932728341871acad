package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

func runWait(ctx context.Context, args []string, stderr io.Writer) error {
	flags := flag.NewFlagSet("wait", flag.ContinueOnError)
	flags.SetOutput(stderr)
	base := flags.String("url", "http://127.0.0.1:8080", "the ledger's base URL")
	timeout := flags.Duration("timeout", 30*time.Second, "how long to wait")
	if err := flags.Parse(args); err != nil {
		return err
	}
	client := newClient(1, 2*time.Second, "")
	deadline := time.Now().Add(*timeout)
	for {
		resp, err := client.Get(*base + "/readyz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s/readyz did not answer 200 within %s", *base, *timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// sample collects the latencies and statuses of one kind of request.
type sample struct {
	mu        sync.Mutex
	latencies []time.Duration // of the expected answers only
	statuses  map[string]int  // status code (or "error" for a failed round trip) -> count
	errors    int             // answers other than the expected status, and failed round trips
}

func newSample() *sample { return &sample{statuses: map[string]int{}} }

func (s *sample) record(status int, err error, expect int, latency time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case err != nil:
		s.statuses["error"]++
		s.errors++
	case status != expect:
		s.statuses[strconv.Itoa(status)]++
		s.errors++
	default:
		s.statuses[strconv.Itoa(status)]++
		s.latencies = append(s.latencies, latency)
	}
}

func (s *sample) merge(latencies []time.Duration, statuses map[string]int, errs int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latencies = append(s.latencies, latencies...)
	for k, v := range statuses {
		s.statuses[k] += v
	}
	s.errors += errs
}

func (s *sample) requests() int {
	n := 0
	for _, v := range s.statuses {
		n += v
	}
	return n
}

// percentile returns the p-th percentile (0 < p <= 100) of sorted, by the
// nearest-rank method.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(float64(len(sorted))*p/100+0.999999) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64)
}

// figures prints name.key=value lines.
type figures struct {
	name string
	out  io.Writer
}

func (f figures) put(key string, value any) {
	var s string
	switch v := value.(type) {
	case float64:
		s = strconv.FormatFloat(v, 'f', 2, 64)
	case time.Duration:
		s = ms(v)
	default:
		s = fmt.Sprint(v)
	}
	fmt.Fprintf(f.out, "%s.%s=%s\n", f.name, key, s)
}

// latencies prints the percentiles of s under prefix (p50_ms, p99_ms...).
func (f figures) latencies(prefix string, lat []time.Duration) {
	sorted := slices.Clone(lat)
	slices.Sort(sorted)
	var sum time.Duration
	for _, d := range sorted {
		sum += d
	}
	mean := time.Duration(0)
	if len(sorted) > 0 {
		mean = sum / time.Duration(len(sorted))
	}
	f.put(prefix+"mean_ms", mean)
	for _, p := range []struct {
		key string
		p   float64
	}{{"p50_ms", 50}, {"p90_ms", 90}, {"p99_ms", 99}, {"p999_ms", 99.9}} {
		f.put(prefix+p.key, percentile(sorted, p.p))
	}
	if len(sorted) > 0 {
		f.put(prefix+"max_ms", sorted[len(sorted)-1])
	} else {
		f.put(prefix+"max_ms", time.Duration(0))
	}
}

func (f figures) statuses(s map[string]int) {
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s:%d", k, s[k])
	}
	f.put("statuses", strings.Join(parts, ","))
}

// cpuSeconds is the CPU time this process has used, user and system.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// do sends one request and reads the whole answer, so the connection is
// reused; it returns the status and, when keep is set, the body.
func do(ctx context.Context, client *http.Client, method, url string, body []byte, keep bool) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	if keep {
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, b, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil, err
}

func runClosed(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("closed", flag.ContinueOnError)
	flags.SetOutput(stderr)
	name := flags.String("name", "closed", "prefix of the printed figures")
	base := flags.String("url", "http://127.0.0.1:8080", "the ledger's base URL")
	method := flags.String("method", http.MethodGet, "HTTP method")
	path := flags.String("path", "/healthz", "path and query of every request")
	body := flags.String("body", "", "JSON body of every request (sent as application/json)")
	conns := flags.Int("conns", 16, "connections, each with one request in flight")
	duration := flags.Duration("duration", 15*time.Second, "how long to send")
	expect := flags.Int("expect", http.StatusOK, "the status that counts as success; any other is an error")
	timeout := flags.Duration("timeout", 10*time.Second, "timeout of one request")
	profile := flags.String("cpuprofile", "", "write a CPU profile of loadgen to this file")
	scrape := flags.String("scrape", "", "comma-separated Prometheus counters to read from GET /metrics before and after; their increase is printed")
	token := flags.String("token", "", "bearer token of the requests")
	metricsToken := flags.String("metrics-token", "", "bearer token for GET /metrics (an operator's)")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *conns < 1 || *duration <= 0 {
		return errors.New("closed: want -conns >= 1 and -duration > 0")
	}
	var payload []byte
	if *body != "" {
		payload = []byte(*body)
	}
	stopProfile, err := startProfile(*profile)
	if err != nil {
		return err
	}
	defer stopProfile()

	client := newClient(*conns, *timeout, *token)
	metricsClient := newClient(1, *timeout, *metricsToken)
	url := *base + *path
	var counters []string
	if *scrape != "" {
		counters = strings.Split(*scrape, ",")
	}
	before := scrapeCounters(ctx, metricsClient, *base, counters)
	s := newSample()
	cpu0 := cpuSeconds()
	start := time.Now()
	deadline := start.Add(*duration)
	var wg sync.WaitGroup
	for range *conns {
		wg.Go(func() {
			// Each connection keeps its own figures and merges them once.
			var lat []time.Duration
			statuses := map[string]int{}
			errs := 0
			for ctx.Err() == nil && time.Now().Before(deadline) {
				t0 := time.Now()
				status, _, err := do(ctx, client, *method, url, payload, false)
				d := time.Since(t0)
				switch {
				case err != nil:
					if ctx.Err() != nil {
						return
					}
					statuses["error"]++
					errs++
				case status != *expect:
					statuses[strconv.Itoa(status)]++
					errs++
				default:
					statuses[strconv.Itoa(status)]++
					lat = append(lat, d)
				}
			}
			s.merge(lat, statuses, errs)
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if ctx.Err() != nil {
		return ctx.Err()
	}

	f := figures{name: *name, out: stdout}
	n := s.requests()
	f.put("conns", *conns)
	f.put("seconds", elapsed.Seconds())
	f.put("requests", n)
	f.put("errors", s.errors)
	f.statuses(s.statuses)
	f.put("rps", float64(n)/elapsed.Seconds())
	f.latencies("", s.latencies)
	f.put("loadgen_cpu_s", cpuSeconds()-cpu0)
	if after := scrapeCounters(ctx, metricsClient, *base, counters); before != nil && after != nil {
		for _, name := range counters {
			if v, ok := after[name]; ok {
				f.put("metric."+name, v-before[name])
			}
		}
	}
	return nil
}

// scrapeCounters reads GET /metrics and sums each named metric over its
// labels; nil when there is nothing to read or the ledger serves no metrics.
func scrapeCounters(ctx context.Context, client *http.Client, base string, names []string) map[string]float64 {
	if len(names) == 0 {
		return nil
	}
	status, body, err := do(ctx, client, http.MethodGet, base+"/metrics", nil, true)
	if err != nil || status != http.StatusOK {
		return nil
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	out := map[string]float64{}
	for line := range strings.SplitSeq(string(body), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		name, _, _ := strings.Cut(fields[0], "{")
		if !want[name] {
			continue
		}
		if v, err := strconv.ParseFloat(fields[1], 64); err == nil {
			out[name] += v
		}
	}
	return out
}
