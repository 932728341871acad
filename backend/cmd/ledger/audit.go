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
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/audit"
	"github.com/reimbursement-ledger/ledger/backend/httpapi"
)

// errVerifyFailed makes `audit verify` and `audit watch` exit 1 after
// printing why.
var errVerifyFailed = fmt.Errorf("audit verification failed: %w", errCheckFailed)

// The files of an export (`audit export --to DIR`).
const (
	exportEvents      = "events.jsonl"
	exportHeads       = "heads.jsonl"
	exportCheckpoints = "checkpoints.jsonl"
)

// runAuditor runs the auditor's commands that need no database and no
// secret: keygen, the offline verify and watch. It reports false for the
// others.
func runAuditor(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) (bool, error) {
	if len(args) == 0 {
		return false, nil
	}
	switch args[0] {
	case "keygen":
		flags := flag.NewFlagSet("audit keygen", flag.ContinueOnError)
		flags.SetOutput(stderr)
		name := flags.String("name", "", "the key's name, which is also the origin line of every head it signs (e.g. ledger.example.com/audit)")
		if err := flags.Parse(args[1:]); err != nil {
			return true, err
		}
		if *name == "" {
			return true, errors.New("audit keygen: --name is required (e.g. ledger.example.com/audit); a rotated key keeps the name")
		}
		skey, vkey, err := audit.GenerateKey(*name)
		if err != nil {
			return true, fmt.Errorf("audit keygen: %w", err)
		}
		fmt.Fprintln(stdout, skey)
		fmt.Fprintln(stdout, vkey)
		return true, nil
	case "watch":
		return true, runWatch(ctx, args[1:], getenv, stdout, stderr)
	case "verify":
		offline := slices.ContainsFunc(args[1:], func(a string) bool {
			name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
			return strings.HasPrefix(a, "-") && name == "offline"
		})
		if offline {
			return true, runOfflineVerify(args[1:], stdout, stderr)
		}
	}
	return false, nil
}

func runAudit(ctx context.Context, cfg config, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("audit: want verify, export, watch or keygen")
	}
	keys, _, err := cfg.auditKeys()
	if err != nil {
		return err
	}
	switch args[0] {
	case "verify":
		flags := flag.NewFlagSet("audit verify", flag.ContinueOnError)
		flags.SetOutput(stderr)
		file := flags.String("checkpoints", "", "check the HMAC checkpoints against an exported copy instead of the database's (needs AUDIT_KEY)")
		since := flags.Bool("since-head", false, "check only the newest signed head and the events after it, not the whole log")
		flags.BoolVar(since, "since-checkpoint", false, "the former name of --since-head")
		if err := flags.Parse(args[1:]); err != nil {
			return err
		}
		if *since && *file != "" {
			return errors.New("audit verify: --since-head starts from the database's newest head; it cannot take --checkpoints")
		}
		var exported audit.Checkpoints
		if *file != "" {
			if keys.HMAC == nil {
				return errors.New("audit verify --checkpoints: AUDIT_KEY is not set, and the HMAC checkpoints are checked with it")
			}
			cps, err := readJSONLines[audit.Checkpoint](*file)
			if err != nil {
				return err
			}
			exported = audit.NewCheckpointList(cps)
		}
		return withDB(ctx, cfg, func(ctx context.Context, db *dbHandle) error {
			a := newAuditedApp(cfg, db.DB, keys)
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
			return printReport(stdout, report, keys.HMAC != nil)
		})
	case "export":
		flags := flag.NewFlagSet("audit export", flag.ContinueOnError)
		flags.SetOutput(stderr)
		dir := flags.String("to", "", "write the events, the signed heads and the HMAC checkpoints into this directory")
		if err := flags.Parse(args[1:]); err != nil {
			return err
		}
		return withDB(ctx, cfg, func(ctx context.Context, db *dbHandle) error {
			a := newAuditedApp(cfg, db.DB, keys)
			if *dir == "" {
				// Without --to: the HMAC checkpoints on standard output, as
				// before tree heads.
				return writeCheckpoints(ctx, a, keys.HMAC, stdout)
			}
			return exportAudit(ctx, a, keys.HMAC, *dir, stdout)
		})
	}
	return fmt.Errorf("audit: unknown command %q: want verify, export, watch or keygen", args[0])
}

// printReport prints a verification's outcome, and errVerifyFailed when it
// found a problem.
func printReport(stdout io.Writer, report audit.Report, hmac bool) error {
	if h := report.Since; h != nil {
		fmt.Fprintf(stdout, "incremental: checked the newest head (tree size %d) and the %d events after it in %d streams; "+
			"the events before it were not checked (run audit verify without --since-head for the whole log)\n",
			h.TreeSize, report.Events, report.Streams)
	} else {
		fmt.Fprintf(stdout, "checked %d events in %d streams against %d signed heads", report.Events, report.Streams, report.Heads)
		if hmac {
			fmt.Fprintf(stdout, " and %d HMAC checkpoints", report.Checkpoints)
		}
		fmt.Fprintln(stdout)
	}
	if !report.OK() {
		fmt.Fprintf(stdout, "BROKEN at %s\n", report.Problem)
		return errVerifyFailed
	}
	if report.Since != nil {
		fmt.Fprintln(stdout, "OK: the newest head and every hash chain after it verify")
		return nil
	}
	fmt.Fprintln(stdout, "OK: every hash chain and signed head verifies")
	return nil
}

// writeCheckpoints prints every HMAC checkpoint as a JSON line, each checked
// first when key is set.
func writeCheckpoints(ctx context.Context, a *app.App, key audit.Key, w io.Writer) error {
	enc := json.NewEncoder(w)
	var after int64
	for {
		cps, err := a.Checkpoints(ctx, auditor, after, 1000)
		if err != nil {
			return err
		}
		for _, cp := range cps {
			if key != nil && !key.Valid(cp) {
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
}

// exportAudit writes the export into dir, each file complete or absent: it
// is written beside and renamed into place.
func exportAudit(ctx context.Context, a *app.App, key audit.Key, dir string, stdout io.Writer) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	files := map[string]*os.File{}
	writers := map[string]*bufio.Writer{}
	for _, name := range []string{exportEvents, exportHeads, exportCheckpoints} {
		f, err := os.CreateTemp(dir, "."+name+".*")
		if err != nil {
			return err
		}
		defer os.Remove(f.Name())
		defer f.Close()
		files[name], writers[name] = f, bufio.NewWriterSize(f, 1<<20)
	}
	var events, heads int64
	events_, heads_ := json.NewEncoder(writers[exportEvents]), json.NewEncoder(writers[exportHeads])
	err := a.ExportAudit(ctx, auditor,
		func(e audit.StoredEvent) error { events++; return events_.Encode(e) },
		func(h audit.Head) error { heads++; return heads_.Encode(h) })
	if err != nil {
		return err
	}
	if err := writeCheckpoints(ctx, a, key, writers[exportCheckpoints]); err != nil {
		return err
	}
	for name, f := range files {
		if err := writers[name].Flush(); err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		if err := os.Rename(f.Name(), filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "exported %d events and %d signed heads to %s\n", events, heads, dir)
	return nil
}

// runOfflineVerify checks an export with the public key alone.
func runOfflineVerify(args []string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("audit verify --offline", flag.ContinueOnError)
	flags.SetOutput(stderr)
	dir := flags.String("offline", "", "the directory `audit export --to` wrote")
	keyFile := flags.String("public-key", "", "a file holding the ledger's note verifier key (name+hash+base64), one a line")
	headFile := flags.String("head", "", "a head you stored earlier (the store of `audit watch`, or a head from GET /v1/audit/heads): the export must extend it")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *dir == "" || *keyFile == "" {
		return errors.New("audit verify --offline DIR --public-key FILE [--head FILE]: DIR and FILE are required")
	}
	keys, err := readPublicKeys(*keyFile)
	if err != nil {
		return err
	}
	heads, err := readJSONLines[audit.Head](filepath.Join(*dir, exportHeads))
	if err != nil {
		return err
	}
	if *headFile != "" {
		stored, err := readHead(*headFile, keys)
		if err != nil {
			return err
		}
		heads = mergeHeads(heads, stored)
	}
	f, err := os.Open(filepath.Join(*dir, exportEvents))
	if err != nil {
		return err
	}
	defer f.Close()
	each := func(fn func(audit.StoredEvent) error) error {
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for line := 1; sc.Scan(); line++ {
			var e audit.StoredEvent
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				return fmt.Errorf("%s:%d: %w", exportEvents, line, err)
			}
			if err := fn(e); err != nil {
				return err
			}
		}
		return sc.Err()
	}
	report, err := audit.VerifyCommitOrder(context.Background(), each, keys, audit.NewHeadList(heads))
	if err != nil {
		return err
	}
	return printReport(stdout, report, false)
}

// mergeHeads inserts head into heads, ordered by tree size: a head of a
// size already there stays beside it, so a fork shows.
func mergeHeads(heads []audit.Head, head audit.Head) []audit.Head {
	i := 0
	for i < len(heads) && heads[i].TreeSize <= head.TreeSize {
		i++
	}
	return append(heads[:i:i], append([]audit.Head{head}, heads[i:]...)...)
}

func readPublicKeys(path string) (audit.PublicKeys, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	keys, err := audit.ParsePublicKeys(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return keys, nil
}

// readHead reads a head stored as JSON and checks its signature.
func readHead(path string, keys audit.PublicKeys) (audit.Head, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return audit.Head{}, err
	}
	var h audit.Head
	if err := json.Unmarshal(b, &h); err != nil {
		return audit.Head{}, fmt.Errorf("%s: %w", path, err)
	}
	signed, err := keys.Open(h.Note)
	if err != nil {
		return audit.Head{}, fmt.Errorf("%s: %w", path, err)
	}
	signed.Timestamp = h.Timestamp
	return signed, nil
}

// readJSONLines reads a file of JSON values, one a line.
func readJSONLines[T any](path string) ([]T, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []T
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 16<<20)
	for line := 1; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		out = append(out, v)
	}
	return out, sc.Err()
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
		a := newApp(cfg, db.DB)
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
