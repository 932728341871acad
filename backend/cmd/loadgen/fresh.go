package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// runFresh measures how soon a submission shows in its member's list while
// the ledger takes a steady open-loop load.
//
// The background load submits against one account (-load-body) at -rate per
// second on a fixed schedule, whatever the answers' speed: a request is due
// at its time, and its latency is counted from then, so a slow ledger shows
// as latency rather than as a lower rate. Probes submit against an account
// of another member (-probe-body), spread evenly over the run after a
// warm-up; one poller reads that member's list (newest first, so each probe
// is at the top) every -poll and stops a probe's clock at the first answer
// that holds its id. The probe's figure is that answer's arrival minus the
// 201's arrival.
func runFresh(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("fresh", flag.ContinueOnError)
	flags.SetOutput(stderr)
	name := flags.String("name", "fresh", "prefix of the printed figures")
	base := flags.String("url", "http://127.0.0.1:8080", "the ledger's base URL")
	rate := flags.Int("rate", 500, "background submissions per second")
	duration := flags.Duration("duration", 15*time.Second, "how long the background load runs")
	warmup := flags.Duration("warmup", time.Second, "background load before the first probe")
	probes := flags.Int("probes", 200, "probe submissions, spread evenly over the run after the warm-up")
	poll := flags.Duration("poll", 2*time.Millisecond, "how often the poller reads the probes' member list")
	limit := flags.Int("limit", 5, "page size of the poller's reads (raised while more probes are outstanding)")
	probeTimeout := flags.Duration("probe-timeout", 10*time.Second, "a probe not seen by then counts as missing")
	workers := flags.Int("workers", 64, "most background requests in flight")
	path := flags.String("path", "/v1/reimbursements", "where submissions are posted")
	loadBody := flags.String("load-body", `{"bank_account_id":"0193a000-0000-7000-8000-000000000302","amount":"12.34","description":"bench"}`, "body of a background submission")
	probeBody := flags.String("probe-body", `{"bank_account_id":"0193a000-0000-7000-8000-000000000301","amount":"12.34","description":"bench probe"}`, "body of a probe submission")
	member := flags.String("member", "0193a000-0000-7000-8000-000000000101", "the member whose account the probes use")
	timeout := flags.Duration("timeout", 10*time.Second, "timeout of one request")
	profile := flags.String("cpuprofile", "", "write a CPU profile of loadgen to this file")
	loadToken := flags.String("load-token", "", "bearer token of the background submissions (the load account's member)")
	token := flags.String("token", "", "bearer token of the probes and the poller (-member's)")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *rate < 1 || *duration <= *warmup || *probes < 1 || *poll <= 0 || *workers < 1 {
		return errors.New("fresh: want -rate >= 1, -duration > -warmup, -probes >= 1, -poll > 0, -workers >= 1")
	}
	stopProfile, err := startProfile(*profile)
	if err != nil {
		return err
	}
	defer stopProfile()

	submitURL := *base + *path
	cpu0 := cpuSeconds()
	start := time.Now()
	end := start.Add(*duration)

	// Background: a schedule of due times, taken by a pool of workers.
	bg := newSample()
	loadClient := newClient(*workers, *timeout, *loadToken)
	loadPayload := []byte(*loadBody)
	due := make(chan time.Time, *rate) // up to a second of backlog
	missed := 0                        // due while the backlog was full: never sent
	var wg sync.WaitGroup
	for range *workers {
		wg.Go(func() {
			for at := range due {
				status, _, err := do(ctx, loadClient, http.MethodPost, submitURL, loadPayload, false)
				if err != nil && ctx.Err() != nil {
					return
				}
				bg.record(status, err, http.StatusCreated, time.Since(at))
			}
		})
	}
	wg.Go(func() {
		defer close(due)
		interval := time.Second / time.Duration(*rate)
		next := 0
		for ctx.Err() == nil {
			now := time.Now()
			for {
				at := start.Add(time.Duration(next) * interval)
				if at.After(now) || !at.Before(end) {
					break
				}
				select {
				case due <- at:
				default:
					missed++
				}
				next++
			}
			if !start.Add(time.Duration(next) * interval).Before(end) {
				return
			}
			time.Sleep(time.Until(start.Add(time.Duration(next) * interval)))
		}
	})

	// Probes and the poller.
	var mu sync.Mutex
	outstanding := map[string]time.Time{} // probe id -> arrival of its 201
	wake := make(chan struct{}, 1)
	probesDone := make(chan struct{})
	var seen, submitLat, pollLat []time.Duration
	probeErrors, probeMissing, polls, pollErrors := 0, 0, 0, 0

	probeClient := newClient(1, *timeout, *token)
	probePayload := []byte(*probeBody)
	wg.Go(func() {
		defer close(probesDone)
		spacing := (*duration - *warmup) / time.Duration(*probes)
		for i := range *probes {
			at := start.Add(*warmup + time.Duration(i)*spacing)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Until(at)):
			}
			t0 := time.Now()
			status, body, err := do(ctx, probeClient, http.MethodPost, submitURL, probePayload, true)
			arrived := time.Now()
			var answer struct {
				ID string `json:"id"`
			}
			if err != nil || status != http.StatusCreated || json.Unmarshal(body, &answer) != nil || answer.ID == "" {
				mu.Lock()
				probeErrors++
				mu.Unlock()
				continue
			}
			mu.Lock()
			outstanding[answer.ID] = arrived
			submitLat = append(submitLat, arrived.Sub(t0))
			mu.Unlock()
			select {
			case wake <- struct{}{}:
			default:
			}
		}
	})

	pollClient := newClient(1, *timeout, *token)
	listURL := *base + "/v1/members/" + *member + "/reimbursements?limit="
	wg.Go(func() {
		done := false
		for ctx.Err() == nil {
			mu.Lock()
			n := len(outstanding)
			mu.Unlock()
			if n == 0 {
				if done {
					return
				}
				select {
				case <-ctx.Done():
					return
				case <-probesDone:
					done = true
				case <-wake:
				}
				continue
			}
			// Every outstanding probe fits in the page, newest first.
			sent := time.Now()
			status, body, err := do(ctx, pollClient, http.MethodGet, listURL+strconv.Itoa(min(max(*limit, n+2), 200)), nil, true)
			arrived := time.Now()
			mu.Lock()
			polls++
			pollLat = append(pollLat, arrived.Sub(sent))
			if err != nil || status != http.StatusOK {
				pollErrors++
			} else {
				for id, t := range outstanding {
					if bytes.Contains(body, []byte(id)) {
						seen = append(seen, arrived.Sub(t))
						delete(outstanding, id)
					}
				}
			}
			for id, t := range outstanding {
				if arrived.Sub(t) > *probeTimeout {
					probeMissing++
					delete(outstanding, id)
				}
			}
			mu.Unlock()
			if wait := time.Until(sent.Add(*poll)); wait > 0 {
				time.Sleep(wait)
			}
		}
	})
	wg.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	elapsed := min(time.Since(start), *duration+*timeout)

	f := figures{name: *name, out: stdout}
	f.put("rate_target", *rate)
	f.put("seconds", duration.Seconds())
	sent := bg.requests()
	f.put("sent", sent)
	f.put("rate", float64(sent)/duration.Seconds())
	f.put("missed", missed)
	f.put("errors", bg.errors)
	f.statuses(bg.statuses)
	f.latencies("load_", bg.latencies)
	f.put("probes", len(seen))
	f.put("probe_errors", probeErrors)
	f.put("probe_missing", probeMissing)
	f.latencies("", seen)
	f.latencies("probe_submit_", submitLat)
	f.put("polls", polls)
	f.put("poll_errors", pollErrors)
	f.latencies("poll_", pollLat)
	f.put("loadgen_cpu_s", cpuSeconds()-cpu0)
	f.put("wall_s", elapsed.Seconds())
	if len(seen) == 0 {
		return fmt.Errorf("fresh: no probe was seen in the member's list (errors %d, missing %d)", probeErrors, probeMissing)
	}
	return nil
}
