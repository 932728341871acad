package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

const deadLettersUsage = "deadletters: want list [--status S], retry ID [--wait D] or discard ID --reason TEXT [--by NAME]"

// runDeadLetters is `ledger deadletters`: the events a saga gave up on.
func runDeadLetters(ctx context.Context, cfg config, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(deadLettersUsage)
	}
	flags := flag.NewFlagSet("deadletters "+args[0], flag.ContinueOnError)
	flags.SetOutput(stderr)
	switch args[0] {
	case "list":
		status := flags.String("status", "parked", "parked, retrying, resolved, discarded or all")
		if err := flags.Parse(args[1:]); err != nil {
			return err
		}
		if flags.NArg() != 0 {
			return errors.New("deadletters list: takes no arguments besides --status")
		}
		q := app.DeadLetterQuery{Status: app.DeadLetterStatus(*status)}
		if *status == "all" {
			q.Status = ""
		}
		return withDB(ctx, cfg, func(ctx context.Context, db *dbHandle) error {
			a := newApp(cfg, db.DB)
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tGROUP\tPOSITION\tEVENT TYPE\tATTEMPTS\tFIRST FAILED\tLAST FAILED\tSTATUS\tERROR")
			for {
				page, err := a.DeadLetters(ctx, operator, q)
				if err != nil {
					return err
				}
				for _, dl := range page {
					fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%d\t%s\t%s\t%s\t%s\n", dl.ID, dl.Group, dl.Position, dl.EventType, dl.Attempts,
						dl.FirstFailedAt.Format(time.RFC3339), dl.LastFailedAt.Format(time.RFC3339), dl.Status, oneLine(dl.Error, 100))
				}
				if len(page) < app.DefaultDeadLetterLimit {
					return tw.Flush()
				}
				q.After = page[len(page)-1].ID
			}
		})
	case "retry":
		wait := flags.Duration("wait", 30*time.Second, "how long to wait for a worker to run the retry (0: do not wait)")
		id, err := parseID(flags, args[1:])
		if err != nil {
			return err
		}
		return withDB(ctx, cfg, func(ctx context.Context, db *dbHandle) error {
			a := newApp(cfg, db.DB)
			dl, err := a.RetryDeadLetter(ctx, operator, id)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "dead letter %d (%s, %s at position %d): retry asked for\n", dl.ID, dl.Group, dl.EventType, dl.Position)
			if *wait <= 0 {
				return nil
			}
			deadline := time.Now().Add(*wait)
			for dl.Status == app.DeadLetterRetrying {
				if time.Now().After(deadline) {
					fmt.Fprintf(stdout, "no worker has run it after %s: it stays asked for (is a worker running?)\n", *wait)
					return nil
				}
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(200 * time.Millisecond):
				}
				if dl, err = a.DeadLetter(ctx, operator, id); err != nil {
					return err
				}
			}
			if dl.Status != app.DeadLetterResolved {
				return fmt.Errorf("dead letter %d: the retry failed (%s); it is %s again after %d attempts", id, dl.Error, dl.Status, dl.Attempts)
			}
			fmt.Fprintf(stdout, "resolved: %s handled the event\n", dl.Group)
			return nil
		})
	case "discard":
		reason := flags.String("reason", "", "why the event is given up on (required; recorded in the event store)")
		by := flags.String("by", getenv("USER"), "who discards it, recorded as the actor operator:NAME")
		id, err := parseID(flags, args[1:])
		if err != nil {
			return err
		}
		if strings.TrimSpace(*reason) == "" {
			return errors.New("deadletters discard: --reason is required: it is recorded for the auditors")
		}
		if *by == "" {
			return errors.New("deadletters discard: name who discards with --by NAME")
		}
		p := app.Principal{Role: app.RoleOperator, Subject: *by}
		return withDB(ctx, cfg, func(ctx context.Context, db *dbHandle) error {
			a := newApp(cfg, db.DB)
			dl, err := a.DiscardDeadLetter(ctx, p, app.DiscardDeadLetterCommand{ID: id, Reason: *reason,
				Meta: ledger.Metadata{CorrelationID: uuid.NewString(), CausationID: "request:" + uuid.NewString()}})
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "dead letter %d (%s, %s at position %d) discarded; recorded as %s by %s\n",
				dl.ID, dl.Group, dl.EventType, dl.Position, ledger.TypeDeadLetterDiscarded, p.Actor())
			return nil
		})
	}
	return fmt.Errorf("deadletters: unknown command %q: want list, retry or discard", args[0])
}

// parseID parses flags and one dead letter id, before or after them
// (`discard 7 --reason x` as well as `discard --reason x 7`).
func parseID(flags *flag.FlagSet, args []string) (int64, error) {
	var raw string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		raw, args = args[0], args[1:]
	}
	if err := flags.Parse(args); err != nil {
		return 0, err
	}
	if raw == "" && flags.NArg() > 0 {
		raw = flags.Arg(0)
		if err := flags.Parse(flags.Args()[1:]); err != nil { // flags after the id
			return 0, err
		}
	}
	if raw == "" || flags.NArg() > 0 {
		return 0, fmt.Errorf("%s: want one dead letter id (see ledger deadletters list)", flags.Name())
	}
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id < 1 {
		return 0, fmt.Errorf("%s: %q is not a dead letter id", flags.Name(), raw)
	}
	return id, nil
}

// oneLine shortens an error message to one line of at most n characters.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
