package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/httpapi"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// exportFilters are the export's filter flags: the API's query parameters,
// with dashes.
var exportFilters = [...]struct{ name, usage string }{
	{app.FilterStatus, "only those with this status: " + app.OneOf(ledger.Statuses)},
	{app.FilterPaymentStatus, "only those whose payment is " + app.OneOf(ledger.PaymentStatuses)},
	{app.FilterSubmittedFrom, "only those submitted at or after this RFC 3339 time, or on or after this date (UTC), such as 2026-03-01"},
	{app.FilterSubmittedTo, "only those submitted before this RFC 3339 time, or on or before this date (UTC)"},
	{app.FilterAmountMin, "only amounts of at least this decimal, such as 100.00"},
	{app.FilterAmountMax, "only amounts of at most this decimal"},
}

func flagName(filter string) string { return strings.ReplaceAll(filter, "_", "-") }

// runExport writes a bank's reimbursements, filtered as the API's lists
// are, to stdout as the API's CSV export, a batch at a time; it reports its
// progress on stderr. It acts as the operator, who may export any bank.
func runExport(ctx context.Context, cfg config, args []string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("export", flag.ContinueOnError)
	flags.SetOutput(stderr)
	bank := flags.String("bank", "", "the id of the bank whose reimbursements to export (required)")
	values := map[string]*string{}
	for _, f := range exportFilters {
		values[f.name] = flags.String(flagName(f.name), "", f.usage)
	}
	if err := flags.Parse(args); err != nil {
		return err
	}
	if flags.NArg() > 0 {
		return fmt.Errorf("export: unexpected %q; every filter is a flag, such as --status pending", flags.Arg(0))
	}
	bankID, err := uuid.Parse(*bank)
	if err != nil {
		return errors.New("export: --bank: want the id of a bank")
	}
	q, err := app.ParseListFilters(func(name string) string { return *values[name] })
	var invalid *ledger.Error
	if errors.As(err, &invalid) {
		var msgs []string
		for _, f := range invalid.Fields {
			msgs = append(msgs, "--"+flagName(f.Field)+" "+strings.ReplaceAll(f.Message, "_", "-"))
		}
		return fmt.Errorf("export: %s", strings.Join(msgs, "; "))
	}
	q.BankID = bankID

	return withDB(ctx, cfg, func(ctx context.Context, db *dbHandle) error {
		a := newApp(cfg, db.DB)
		terminal := false
		if f, ok := stderr.(*os.File); ok {
			terminal = term.IsTerminal(int(f.Fd()))
		}
		var total int64 = -1 // unknown: the bar counts without a goal
		if terminal {
			if total, err = a.CountReimbursements(ctx, operator, q); err != nil {
				return err
			}
		}
		batches, err := a.ExportReimbursements(ctx, operator, q)
		if err != nil {
			return err
		}
		buffered := bufio.NewWriterSize(stdout, 64<<10)
		out, err := httpapi.NewCSVWriter(buffered)
		if err != nil {
			return err
		}
		progress, finish := exportProgress(stderr, terminal, total)
		var n int64
		for batch, err := range batches {
			if err != nil {
				finish()
				return err
			}
			for _, r := range batch {
				if err := out.Write(r); err != nil {
					finish()
					return err
				}
			}
			n += int64(len(batch))
			progress(n)
		}
		finish()
		if err := buffered.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "exported %d reimbursements of bank %s\n", n, bankID)
		return nil
	})
}

// exportProgress shows a progress bar (rows, rows/s, ETA) on a terminal,
// and a plain line every few seconds otherwise. total is -1 when unknown.
func exportProgress(out io.Writer, terminal bool, total int64) (progress func(done int64), finish func()) {
	if terminal {
		bar := progressbar.NewOptions64(total, progressbar.OptionSetWriter(out), progressbar.OptionSetDescription("exporting"),
			progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("rows"),
			progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionFullWidth())
		return func(done int64) {
				if done > bar.GetMax64() && bar.GetMax64() >= 0 {
					bar.ChangeMax64(done) // submitted while the export ran
				}
				_ = bar.Set64(done)
			}, func() {
				_ = bar.Finish()
				fmt.Fprintln(out)
			}
	}
	start, last := time.Now(), time.Now()
	return func(done int64) {
		if time.Since(last) < 2*time.Second {
			return
		}
		last = time.Now()
		fmt.Fprintf(out, "exporting: %d rows, %.0f rows/s\n", done, float64(done)/max(time.Since(start).Seconds(), 1e-9))
	}, func() {}
}
