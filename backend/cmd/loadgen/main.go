// Command loadgen drives the ledger's HTTP API for the service benchmark
// (scripts/bench, `go tool task bench`) and writes its report. It uses the
// standard library only.
//
//	loadgen wait    -url URL                          wait until GET /readyz answers 200
//	loadgen closed  -url URL -path P [-method M -body B -conns N -duration D -expect S]
//	                                                  closed loop: N connections, each sending its next request when the last is answered
//	loadgen fresh   -url URL -rate R -probes N ...    open loop at R submissions/s; probes time a 201 until the member's list shows it
//	loadgen report  -in FILE [-doc docs/benchmarks.md] print the results table and write it into the document
//
// closed and fresh print their figures as name.key=value lines, which
// scripts/bench collects into one file for report.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"
)

const usage = `usage: loadgen <command> [flags]

commands:
  wait     wait until the ledger answers GET /readyz
  closed   closed-loop load on one endpoint: requests/s, latency percentiles, errors
  fresh    open-loop submissions at a fixed rate, with probes timing how soon a
           submission shows in its member's list
  lags     sample every consumer group's lag from GET /metrics: percentiles, and the longest stall
  report   print the benchmark table from a results file and write it into
           docs/benchmarks.md

Run "loadgen <command> -h" for the flags of a command.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, usage)
		if len(args) == 0 {
			return errors.New("no command given")
		}
		return nil
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "wait":
		return runWait(ctx, rest, stderr)
	case "closed":
		return runClosed(ctx, rest, stdout, stderr)
	case "fresh":
		return runFresh(ctx, rest, stdout, stderr)
	case "lags":
		return runLags(ctx, rest, stdout, stderr)
	case "report":
		return runReport(rest, stdout, stderr)
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}

// newClient returns a keep-alive client that holds up to conns connections
// to the ledger open between requests and sends token, when not empty, as
// its bearer token.
func newClient(conns int, timeout time.Duration, token string) *http.Client {
	var transport http.RoundTripper = &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	if token != "" {
		transport = bearer{token: "Bearer " + token, next: transport}
	}
	return &http.Client{Timeout: timeout, Transport: transport}
}

// bearer adds a bearer token to every request.
type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", b.token)
	return b.next.RoundTrip(req)
}

// startProfile writes a CPU profile of loadgen itself to path until the
// returned function is called; an empty path profiles nothing.
func startProfile(path string) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
