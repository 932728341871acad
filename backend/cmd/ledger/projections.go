package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/reimbursement-ledger/ledger/backend/postgres"
	"github.com/reimbursement-ledger/ledger/backend/worker"
)

func runProjections(ctx context.Context, cfg config, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("projections: want status or rebuild NAME")
	}
	switch args[0] {
	case "status":
		return withDB(ctx, cfg, func(ctx context.Context, db *dbHandle) error {
			statuses, err := db.Subscriptions.Statuses(ctx, worker.Groups(postgres.AllProjections()), worker.GroupTypes)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SUBSCRIBER\tPOSITION\tHEAD\tLAG (EVENTS)\tLAG (SECONDS)")
			for _, s := range statuses {
				fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.1f\n", s.Group, s.Position, s.Head, s.Lag, s.LagSeconds)
			}
			return tw.Flush()
		})
	case "rebuild":
		flags := flag.NewFlagSet("projections rebuild", flag.ContinueOnError)
		flags.SetOutput(stderr)
		restart := flags.Bool("restart", false, "discard an interrupted rebuild instead of resuming it")
		if err := flags.Parse(args[1:]); err != nil {
			return err
		}
		if flags.NArg() != 1 {
			return errors.New("projections rebuild: name one projection (reimbursements)")
		}
		name := flags.Arg(0)
		projection, err := postgres.FindProjection(postgres.AllProjections(), name)
		if err != nil {
			return err
		}
		return withDB(ctx, cfg, func(ctx context.Context, db *dbHandle) error {
			progress, finish := rebuildProgress(stdout)
			start := time.Now()
			res, err := db.Rebuilds.Run(ctx, projection, postgres.RebuildOptions{Restart: *restart, Progress: progress})
			finish()
			if err != nil {
				if ctx.Err() != nil {
					return fmt.Errorf("rebuild interrupted; the live read model is untouched, run it again to resume: %w", err)
				}
				return err
			}
			resumed := ""
			if res.Resumed {
				resumed = " (resumed)"
			}
			elapsed := time.Since(start)
			fmt.Fprintf(stdout, "rebuilt %s%s: %d events into %d rows in %s (%.0f events/s); the live read model now serves it\n",
				name, resumed, res.Events, res.Rows, elapsed.Round(time.Millisecond), float64(res.Events)/max(elapsed.Seconds(), 1e-9))
			return nil
		})
	}
	return fmt.Errorf("projections: unknown command %q: want status or rebuild", args[0])
}

// rebuildProgress shows a progress bar (events, events/s, ETA) on a
// terminal, and a plain line every few seconds otherwise.
func rebuildProgress(out io.Writer) (postgres.RebuildProgress, func()) {
	if f, ok := out.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		var bar *progressbar.ProgressBar
		return func(done, total int64) {
				if bar == nil {
					bar = progressbar.NewOptions64(total, progressbar.OptionSetWriter(out), progressbar.OptionSetDescription("rebuilding"),
						progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("events"),
						progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionFullWidth())
				}
				bar.ChangeMax64(total)
				_ = bar.Set64(done)
			}, func() {
				if bar != nil {
					_ = bar.Finish()
					fmt.Fprintln(out)
				}
			}
	}
	start, last := time.Now(), time.Time{}
	return func(done, total int64) {
		if time.Since(last) < 2*time.Second && done < total {
			return
		}
		last = time.Now()
		rate := float64(done) / max(time.Since(start).Seconds(), 1e-9)
		eta := "-"
		if rate > 0 && total > done {
			eta = (time.Duration(float64(total-done)/rate) * time.Second).Round(time.Second).String()
		}
		fmt.Fprintf(out, "rebuilding: %d/%d events, %.0f events/s, ETA %s\n", done, total, rate, eta)
	}, func() {}
}
