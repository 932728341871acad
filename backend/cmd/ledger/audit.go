package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/audit"
	"github.com/reimbursement-ledger/ledger/backend/httpapi"
)

// errVerifyFailed makes `audit verify` exit 1 after printing why.
var errVerifyFailed = fmt.Errorf("audit verification failed: %w", errCheckFailed)

func runAudit(ctx context.Context, cfg config, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("audit: want verify or export")
	}
	key, err := cfg.auditKey()
	if err != nil {
		return err
	}
	switch args[0] {
	case "verify":
		flags := flag.NewFlagSet("audit verify", flag.ContinueOnError)
		flags.SetOutput(stderr)
		file := flags.String("checkpoints", "", "verify against an exported copy of the checkpoints instead of the database's")
		since := flags.Bool("since-checkpoint", false, "check only the newest checkpoint and the events after it, not the whole log")
		if err := flags.Parse(args[1:]); err != nil {
			return err
		}
		if *since && *file != "" {
			return errors.New("audit verify: --since-checkpoint starts from the database's newest checkpoint; it cannot take --checkpoints")
		}
		var exported audit.Checkpoints
		if *file != "" {
			cps, err := readCheckpoints(*file)
			if err != nil {
				return err
			}
			exported = audit.NewCheckpointList(cps)
		}
		return withDB(ctx, cfg, func(ctx context.Context, db *dbHandle) error {
			a := newApp(cfg, db.DB, key)
			var report audit.Report
			var err error
			if *since {
				report, err = a.VerifySince(ctx, auditor)
			} else {
				report, err = a.Verify(ctx, auditor, exported)
			}
			if err != nil {
				return err
			}
			if cp := report.Since; cp != nil {
				fmt.Fprintf(stdout, "incremental: checked checkpoint #%d (%d events up to position %d) and the %d events after it in %d streams; "+
					"the events before it were not checked (run audit verify without --since-checkpoint for the whole log)\n",
					cp.ID, cp.EventCount, cp.Position, report.Events, report.Streams)
			} else {
				fmt.Fprintf(stdout, "checked %d events in %d streams against %d checkpoints\n", report.Events, report.Streams, report.Checkpoints)
			}
			if !report.OK() {
				fmt.Fprintf(stdout, "BROKEN at %s\n", report.Problem)
				return errVerifyFailed
			}
			if report.Since != nil {
				fmt.Fprintln(stdout, "OK: the newest checkpoint and every hash chain after it verify")
				return nil
			}
			fmt.Fprintln(stdout, "OK: every hash chain and checkpoint verifies")
			return nil
		})
	case "export":
		return withDB(ctx, cfg, func(ctx context.Context, db *dbHandle) error {
			enc := json.NewEncoder(stdout)
			var after int64
			for {
				cps, err := newApp(cfg, db.DB, key).Checkpoints(ctx, auditor, after, 1000)
				if err != nil {
					return err
				}
				for _, cp := range cps {
					if !key.Valid(cp) {
						return fmt.Errorf("checkpoint #%d has an invalid signature: run audit verify", cp.ID)
					}
					if err := enc.Encode(cp); err != nil {
						return err
					}
					after = cp.ID
				}
				if len(cps) < 1000 {
					return nil
				}
			}
		})
	}
	return fmt.Errorf("audit: unknown command %q: want verify or export", args[0])
}

func readCheckpoints(path string) ([]audit.Checkpoint, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var cps []audit.Checkpoint
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for line := 1; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var cp audit.Checkpoint
		if err := json.Unmarshal(sc.Bytes(), &cp); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		cps = append(cps, cp)
	}
	return cps, sc.Err()
}

func runEvents(ctx context.Context, cfg config, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "tail" {
		return errors.New("events: want tail")
	}
	flags := flag.NewFlagSet("events tail", flag.ContinueOnError)
	flags.SetOutput(stderr)
	follow := flags.Bool("follow", false, "keep printing new events until interrupted")
	after := flags.Int64("after", 0, "start after the event at this position")
	if err := flags.Parse(args[1:]); err != nil {
		return err
	}
	return withDB(ctx, cfg, func(ctx context.Context, db *dbHandle) error {
		enc := json.NewEncoder(stdout)
		q := app.FeedQuery{After: *after, Limit: 1000}
		a := newApp(cfg, db.DB, nil)
		for {
			events, err := a.Feed(ctx, auditor, q)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			for _, e := range events {
				if err := enc.Encode(httpapi.EventJSON(e)); err != nil {
					return err
				}
				q.After = e.Position
			}
			if len(events) == q.Limit {
				continue
			}
			if !*follow {
				return nil
			}
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(250 * time.Millisecond):
			}
		}
	})
}
