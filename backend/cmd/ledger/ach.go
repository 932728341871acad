package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

const achUsage = "ach: want returns [--limit N]"

// runACH is `ledger ach`: what the ACH rail read back from the ODFI.
func runACH(ctx context.Context, cfg config, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "returns" {
		return errors.New(achUsage)
	}
	flags := flag.NewFlagSet("ach returns", flag.ContinueOnError)
	flags.SetOutput(stderr)
	limit := flags.Int("limit", 50, "how many files, newest first (at most 1000)")
	if err := flags.Parse(args[1:]); err != nil {
		return err
	}
	if flags.NArg() != 0 {
		return errors.New("ach returns: takes no arguments besides --limit")
	}
	return withDB(ctx, cfg, func(ctx context.Context, db *dbHandle) error {
		files, err := newApp(cfg, db.DB).ACHReturnFiles(ctx, operator, *limit)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "READ\tFILE\tSTATUS\tRETURNS\tCORRECTIONS\tPROBLEMS")
		for _, f := range files {
			status, problems := "applied", strings.Join(f.Problems, "; ")
			switch {
			case f.Rejected:
				status, problems = "rejected", f.Error
			case len(f.Problems) > 0:
				status = "problems"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\n", f.ReadAt.Format(time.RFC3339), f.Name, status, f.Returns, f.Corrections, oneLine(problems, 200))
		}
		return tw.Flush()
	})
}
