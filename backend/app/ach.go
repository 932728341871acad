package app

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/nacha"
)

// The ACH rail (PAYMENT_RAIL=ach) pays payouts by ACH credit. The payment
// saga hands it each attempt (Accept); at each cutoff (Cutoff) it writes
// one NACHA file per bank with the attempts waiting, records each
// attempt's trace number on its payment stream (PaymentSent) and puts the
// file in the outbox for the ODFI; it reads the ODFI's return files
// (ReadReturns), failing returned attempts (PaymentReturned) and recording
// notifications of change on the accounts; and it settles the attempts no
// return came back for within the return window (PaymentSettled).
//
// Each attempt is in exactly one file, and each file reaches the outbox
// exactly once, whichever step a worker dies at: a file is built, stored
// and its payouts marked sent in one transaction; then written whole into
// the outbox's staging folder; then marked staged; then renamed into the
// outbox; then marked published. A run picks up the files an earlier one
// left: a built file is staged again (nobody reads the staging folder), a
// staged one is renamed unless its staged copy is gone, which means the
// rename was done. Only one run at a time works on the files, across every
// worker.

// ACHOutbox is where the files for the ODFI go (a folder: backend/achdir).
type ACHOutbox interface {
	// Stage writes a file whole, durably, where the ODFI's uploader does
	// not look; writing it again replaces it.
	Stage(ctx context.Context, name string, content []byte) error
	// Staged reports whether a staged file is still there.
	Staged(ctx context.Context, name string) (bool, error)
	// Publish moves a staged file into the outbox, atomically and durably.
	Publish(ctx context.Context, name string) error
}

// ACHInbox is where the ODFI's return files arrive (a folder: backend/achdir).
type ACHInbox interface {
	// List names the files waiting, in the order to read them.
	List(ctx context.Context) ([]string, error)
	// Read returns a file's content.
	Read(ctx context.Context, name string) ([]byte, error)
	// Done moves a file aside, into processed or (when rejected) into
	// rejected, so that it is read once.
	Done(ctx context.Context, name string, rejected bool) error
}

// ACHConfig configures the ACH rail.
type ACHConfig struct {
	// The originator as the ODFI knows it (ACH_ODFI_ROUTING,
	// ACH_ORIGIN_ID, ACH_COMPANY_NAME, ACH_COMPANY_ID); see nacha.Originator.
	ODFIRouting      string
	ODFIName         string
	OriginID         string
	CompanyName      string
	CompanyID        string
	EntryDescription string // "REIMBURSE" unless set
	Outbox           ACHOutbox
	Inbox            ACHInbox
	// ReturnWindow is how long after it was sent an entry settles when no
	// return came back: DefaultACHReturnWindow unless set. A return that
	// comes later still fails the payout.
	ReturnWindow time.Duration
	// Location is the ODFI's time zone, for the file's dates; UTC unless set.
	Location *time.Location
	// AfterStep, when set, is called after each step of a file's way to
	// the outbox (ACHStep...); an error stops the run there, as a crash
	// would. Tests use it to stop a worker between any two steps.
	AfterStep func(step string) error
}

// The steps of a file's way to the outbox, for ACHConfig.AfterStep.
const (
	ACHStepBuilt     = "built"
	ACHStepStaged    = "staged"
	ACHStepMarked    = "marked staged"
	ACHStepPublished = "published"
	ACHStepDone      = "marked published"
)

// Defaults of the ACH rail.
const (
	// DefaultACHReturnWindow covers the two banking days most returns
	// (R01, R02, R03, ...) must come back within, over a weekend.
	DefaultACHReturnWindow = 96 * time.Hour
	// MaxACHFileEntries bounds one file: the rest wait for the next.
	MaxACHFileEntries = 5000
	// maxFilesPerMinute: a file's id modifier (A-Z, 0-9) tells apart
	// files created in the same minute.
	maxFilesPerMinute = 36
)

// ACHRail is the ACH rail's use cases, built by App.ACHRail.
type ACHRail struct {
	app *App
	cfg ACHConfig
}

// ACHRail returns the ACH rail with cfg, after checking that cfg makes a
// valid file.
func (a *App) ACHRail(cfg ACHConfig) (*ACHRail, error) {
	if cfg.Outbox == nil || cfg.Inbox == nil {
		return nil, errors.New("the ACH rail needs an outbox and a returns folder")
	}
	if cfg.EntryDescription == "" {
		cfg.EntryDescription = "REIMBURSE"
	}
	if cfg.ReturnWindow <= 0 {
		cfg.ReturnWindow = DefaultACHReturnWindow
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	r := &ACHRail{app: a, cfg: cfg}
	// A file of one cent to the ODFI itself checks the originator's fields.
	now := a.now()
	probe := nacha.Payout{ID: uuid.New(), ClaimID: uuid.New(), Name: "CHECK", RoutingNumber: cfg.ODFIRouting,
		AccountNumber: "0000", AccountType: nacha.Checking, Amount: decimal.New(1, -2), Currency: "USD"}
	if _, err := nacha.WriteFile(io.Discard, r.originator(now, 0), []nacha.Payout{probe}, 1); err != nil {
		return nil, fmt.Errorf("the ACH rail's settings: %w", err)
	}
	return r, nil
}

// originator is the file header of the n-th file created in now's minute.
func (r *ACHRail) originator(now time.Time, n int) nacha.Originator {
	created := now.In(r.cfg.Location)
	return nacha.Originator{ODFIRouting: r.cfg.ODFIRouting, ODFIName: r.cfg.ODFIName, ImmediateOrigin: r.cfg.OriginID,
		CompanyName: r.cfg.CompanyName, CompanyID: r.cfg.CompanyID, EntryDescription: r.cfg.EntryDescription,
		CreatedAt: created, EffectiveDate: nextBankingDay(created), FileIDModifier: fileIDModifier(n)}
}

// nextBankingDay is the weekday after t's day. (Federal Reserve holidays
// are not skipped: the ODFI moves an entry dated on one to the next
// banking day.)
func nextBankingDay(t time.Time) time.Time {
	d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, t.Location()).AddDate(0, 0, 1)
	for d.Weekday() == time.Saturday || d.Weekday() == time.Sunday {
		d = d.AddDate(0, 0, 1)
	}
	return d
}

func fileIDModifier(n int) string {
	return string("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"[n%maxFilesPerMinute])
}

func (r *ACHRail) payouts() Payouts { return r.app.stores.Payouts }

func (r *ACHRail) step(name string) error {
	if r.cfg.AfterStep == nil {
		return nil
	}
	return r.cfg.AfterStep(name)
}

// Accept takes a payment attempt for its bank's next file (the payment
// saga's call); accepting it again changes nothing.
func (r *ACHRail) Accept(ctx context.Context, paymentID uuid.UUID, attempt int, bankID uuid.UUID) error {
	return r.payouts().Accept(ctx, AcceptedPayout{PaymentID: paymentID, Attempt: attempt, BankID: bankID, AcceptedAt: r.app.now()})
}

// CutoffReport is what one cutoff did.
type CutoffReport struct {
	// Skipped: another worker was running a cutoff.
	Skipped bool
	// Files are the files published, Entries the credits in them.
	Files   []string
	Entries int
	// Settled counts the entries settled, Failed the attempts refused
	// before any file (an account without bank details, ...).
	Settled int
	Failed  int
}

// Cutoff publishes any file an earlier run left on its way, settles the
// entries whose return window passed, then writes one file for each bank
// with attempts waiting and publishes it.
func (r *ACHRail) Cutoff(ctx context.Context) (CutoffReport, error) {
	var rep CutoffReport
	ran, err := r.payouts().Exclusive(ctx, "ach.cutoff", func(ctx context.Context) error {
		if err := r.publishPending(ctx, &rep); err != nil {
			return err
		}
		if err := r.settle(ctx, &rep); err != nil {
			return err
		}
		waiting, err := r.payouts().Accepted(ctx, MaxACHFileEntries*8)
		if err != nil {
			return err
		}
		var banks []uuid.UUID
		byBank := map[uuid.UUID][]AcceptedPayout{}
		for _, p := range waiting {
			if _, ok := byBank[p.BankID]; !ok {
				banks = append(banks, p.BankID)
			}
			if len(byBank[p.BankID]) < MaxACHFileEntries {
				byBank[p.BankID] = append(byBank[p.BankID], p)
			}
		}
		for _, bank := range banks {
			file, err := r.build(ctx, bank, byBank[bank], &rep)
			if err != nil {
				return fmt.Errorf("the file of bank %s: %w", bank, err)
			}
			if file == nil {
				continue
			}
			if err := r.step(ACHStepBuilt); err != nil {
				return err
			}
			if err := r.publish(ctx, *file, &rep); err != nil {
				return err
			}
		}
		return nil
	})
	rep.Skipped = !ran
	return rep, err
}

// build writes bank's file of the waiting attempts, stores it and marks
// its attempts sent, in one transaction; nil when none is still waiting.
func (r *ACHRail) build(ctx context.Context, bank uuid.UUID, waiting []AcceptedPayout, rep *CutoffReport) (*ACHFile, error) {
	var file *ACHFile
	var failed int
	err := r.app.stores.Transact(ctx, func(tx Tx) error {
		file, failed = nil, 0
		now := r.app.now()
		streams := Streams{Events: tx.Events, Directory: tx.Directory}
		var payouts []nacha.Payout
		var payments []*ledger.Payment
		var accounts []uuid.UUID
		var refused []ledger.PendingEvent
		for _, w := range waiting {
			p, err := streams.Payment(ctx, w.PaymentID)
			if err != nil {
				return err
			}
			if p.Attempt != w.Attempt || p.Status != ledger.PaymentStatusRequested {
				// Handled already (a file of an earlier run): not waiting.
				if err := tx.Payouts.Drop(ctx, w.PaymentID, w.Attempt); err != nil {
					return err
				}
				continue
			}
			payout, why, err := r.payout(ctx, tx, p)
			if err != nil {
				return err
			}
			if why != "" {
				event, err := p.Fail(why, now)
				if err != nil {
					return err
				}
				refused = append(refused, event)
				if err := tx.Payouts.Drop(ctx, w.PaymentID, w.Attempt); err != nil {
					return err
				}
				continue
			}
			payouts, payments, accounts = append(payouts, payout), append(payments, p), append(accounts, p.AccountID)
		}
		if len(refused) > 0 {
			if _, err := tx.Events.Append(ctx, railMetadata(uuid.New()), refused...); err != nil {
				return err
			}
			failed = len(refused)
		}
		if len(payouts) == 0 {
			return nil
		}
		minute := now.Truncate(time.Minute)
		n, err := tx.Payouts.FilesCreatedSince(ctx, minute)
		if err != nil {
			return err
		}
		if n >= maxFilesPerMinute {
			return nil // the next cutoff, in another minute, takes them
		}
		first, err := tx.Payouts.ReserveTraces(ctx, r.cfg.ODFIRouting, len(payouts), nacha.MaxSequence)
		if err != nil {
			return err
		}
		o := r.originator(now, n)
		var buf bytes.Buffer
		written, err := nacha.WriteFile(&buf, o, payouts, first)
		if err != nil {
			return err
		}
		f := ACHFile{ID: uuid.New(), BankID: bank, Content: buf.Bytes(), TotalCents: written.TotalCents, State: ACHFileBuilt, CreatedAt: now}
		f.Name = fmt.Sprintf("%s-%s-%s.ach", o.CreatedAt.Format("20060102-150405"), o.FileIDModifier, bank)
		sent := make([]ledger.PendingEvent, len(payments))
		for i, p := range payments {
			e := written.Entries[i]
			sent[i], err = p.Send(e.TraceNumber, f.ID, f.Name, o.EffectiveDate, now)
			if err != nil {
				return err
			}
			f.Entries = append(f.Entries, ACHEntry{TraceNumber: e.TraceNumber, FileID: f.ID, PaymentID: p.ID, Attempt: p.Attempt,
				AccountID: accounts[i], Cents: e.Cents, SentAt: now})
			if err := tx.Payouts.Drop(ctx, p.ID, p.Attempt); err != nil {
				return err
			}
		}
		if err := tx.Payouts.AddFile(ctx, f); err != nil {
			return err
		}
		if _, err := tx.Events.Append(ctx, railMetadata(f.ID), sent...); err != nil {
			return err
		}
		file = &f
		return nil
	})
	if err != nil {
		return nil, err
	}
	rep.Failed += failed
	return file, nil
}

// payout is a payment's entry in a file, or why the rail refuses it.
func (r *ACHRail) payout(ctx context.Context, tx Tx, p *ledger.Payment) (nacha.Payout, string, error) {
	acct, err := tx.Directory.Account(ctx, p.AccountID)
	if err != nil {
		return nacha.Payout{}, "", err
	}
	if acct.AccountNumber == nil {
		return nacha.Payout{}, "the account has no bank details for an ACH credit", nil
	}
	number, err := r.app.accountNumbers.open(acct.ID, *acct.AccountNumber)
	if err != nil {
		return nacha.Payout{}, "", err
	}
	member, err := tx.Directory.Member(ctx, p.MemberID)
	if err != nil {
		return nacha.Payout{}, "", err
	}
	payout := nacha.Payout{ID: p.ID, ClaimID: p.ReimbursementID, Name: member.FirstName + " " + member.LastName,
		RoutingNumber: acct.RoutingNumber, AccountNumber: number, AccountType: nacha.AccountType(acct.AccountType),
		Amount: p.Request.Amount.Decimal, Currency: p.Request.Currency}
	// One payout the format refuses (a currency other than USD, ...) must
	// not hold back the bank's others: it fails on its own.
	if _, err := nacha.WriteFile(io.Discard, r.originator(r.app.now(), 0), []nacha.Payout{payout}, 1); err != nil {
		var le *ledger.Error
		if errors.As(err, &le) && le.Code == ledger.EInvalid {
			return nacha.Payout{}, "not payable by ACH credit: " + le.Message, nil
		}
		return nacha.Payout{}, "", err
	}
	return payout, "", nil
}

// railMetadata is the metadata of the events the rail records, correlated
// by the file (or the run) they belong to.
func railMetadata(correlation uuid.UUID) ledger.Metadata {
	return ledger.Metadata{CorrelationID: correlation.String(), Actor: "rail:ach"}
}

// publishPending takes every file an earlier run left on its way to the
// outbox.
func (r *ACHRail) publishPending(ctx context.Context, rep *CutoffReport) error {
	files, err := r.payouts().Unpublished(ctx)
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := r.publish(ctx, f, rep); err != nil {
			return err
		}
	}
	return nil
}

// publish takes a file from its state to the outbox (see the package's
// comment on the ACH rail).
func (r *ACHRail) publish(ctx context.Context, f ACHFile, rep *CutoffReport) error {
	if f.State == ACHFileBuilt {
		if err := r.cfg.Outbox.Stage(ctx, f.Name, f.Content); err != nil {
			return err
		}
		if err := r.step(ACHStepStaged); err != nil {
			return err
		}
		if err := r.payouts().SetFileState(ctx, f.ID, ACHFileStaged, r.app.now()); err != nil {
			return err
		}
		if err := r.step(ACHStepMarked); err != nil {
			return err
		}
	}
	staged, err := r.cfg.Outbox.Staged(ctx, f.Name)
	if err != nil {
		return err
	}
	if staged {
		if err := r.cfg.Outbox.Publish(ctx, f.Name); err != nil {
			return err
		}
	}
	if err := r.step(ACHStepPublished); err != nil {
		return err
	}
	if err := r.payouts().SetFileState(ctx, f.ID, ACHFilePublished, r.app.now()); err != nil {
		return err
	}
	rep.Files = append(rep.Files, f.Name)
	rep.Entries += len(f.Entries)
	return r.step(ACHStepDone)
}

// settle records as settled the entries sent longer than the return
// window ago that no return came back for.
func (r *ACHRail) settle(ctx context.Context, rep *CutoffReport) error {
	now := r.app.now()
	due, err := r.payouts().Unsettled(ctx, now.Add(-r.cfg.ReturnWindow), 1000)
	if err != nil {
		return err
	}
	for _, e := range due {
		err := r.app.stores.Transact(ctx, func(tx Tx) error {
			p, err := (Streams{Events: tx.Events, Directory: tx.Directory}).Payment(ctx, e.PaymentID)
			if err != nil {
				return err
			}
			outcome := ACHEntryOutcome(p.Status)
			if p.Attempt == e.Attempt && p.Status == ledger.PaymentStatusSent && p.TraceNumber == e.TraceNumber {
				event, err := p.Settle(e.TraceNumber, now)
				if err != nil {
					return err
				}
				if _, err := tx.Events.Append(ctx, railMetadata(e.FileID), event); err != nil {
					return err
				}
				outcome = ACHEntrySettled
				rep.Settled++
			}
			return tx.Payouts.SetEntryOutcome(ctx, e.TraceNumber, outcome, now)
		})
		if err != nil {
			return fmt.Errorf("settling entry %s: %w", e.TraceNumber, err)
		}
	}
	return nil
}

// ReturnsReport is what one read of the returns folder did.
type ReturnsReport struct {
	Skipped bool
	// Files are the files read; Rejected those that could not be.
	Files    []ACHReturnFile
	Returns  int // returns applied: payouts failed
	Problems int // entries that could not be applied (an unknown trace number, ...)
	Rejected int
}

// maxReturnFile bounds a return file read whole: far beyond any ODFI's.
const maxReturnFile = 64 << 20

// ReadReturns reads every file waiting in the returns folder: each return
// fails its attempt (PaymentReturned), matched by trace number; each
// notification of change is recorded on its account. A file is applied
// once: recorded by its content's hash in the transaction that applies
// it, then moved aside; a file read before (a crash before the move, or
// the ODFI sending it again) is moved aside with nothing applied. A
// malformed file is rejected whole, and moved into rejected.
func (r *ACHRail) ReadReturns(ctx context.Context) (ReturnsReport, error) {
	var rep ReturnsReport
	ran, err := r.payouts().Exclusive(ctx, "ach.returns", func(ctx context.Context) error {
		names, err := r.cfg.Inbox.List(ctx)
		if err != nil {
			return err
		}
		for _, name := range names {
			if err := r.readReturnFile(ctx, name, &rep); err != nil {
				return fmt.Errorf("return file %s: %w", name, err)
			}
		}
		return nil
	})
	rep.Skipped = !ran
	return rep, err
}

func (r *ACHRail) readReturnFile(ctx context.Context, name string, rep *ReturnsReport) error {
	content, err := r.cfg.Inbox.Read(ctx, name)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(content)
	file := ACHReturnFile{SHA256: hex.EncodeToString(sum[:]), Name: name}
	var seen bool
	err = r.app.stores.Transact(ctx, func(tx Tx) error {
		file.ReadAt, file.Returns, file.Corrections, file.Problems = r.app.now(), 0, 0, nil
		var err error
		if seen, err = tx.Payouts.ReturnFileSeen(ctx, file.SHA256); err != nil || seen {
			return err
		}
		var report nacha.Report
		perr := fmt.Errorf("%w: larger than %d bytes", nacha.ErrMalformedFile, maxReturnFile)
		if len(content) <= maxReturnFile {
			report, perr = nacha.ReadReturns(bytes.NewReader(content))
		}
		if perr != nil {
			file.Rejected, file.Error = true, perr.Error()
			return tx.Payouts.AddReturnFile(ctx, file)
		}
		for _, ret := range report.Returns {
			if problem, err := r.applyReturn(ctx, tx, name, ret, file.ReadAt); err != nil {
				return err
			} else if problem != "" {
				file.Problems = append(file.Problems, problem)
			} else {
				file.Returns++
			}
		}
		for _, c := range report.Corrections {
			if problem, err := r.applyCorrection(ctx, tx, name, c, file.ReadAt); err != nil {
				return err
			} else if problem != "" {
				file.Problems = append(file.Problems, problem)
			} else {
				file.Corrections++
			}
		}
		for _, o := range report.Other {
			file.Problems = append(file.Problems, fmt.Sprintf("entry %s (%s): neither a return nor a notification of change", o.TraceNumber, o.Category))
		}
		return tx.Payouts.AddReturnFile(ctx, file)
	})
	if err != nil {
		return err
	}
	if !seen {
		rep.Files = append(rep.Files, file)
		rep.Returns += file.Returns
		rep.Problems += len(file.Problems)
		if file.Rejected {
			rep.Rejected++
		}
	}
	return r.cfg.Inbox.Done(ctx, name, file.Rejected)
}

// applyReturn fails the attempt a return names; it answers the problem
// when the return cannot be applied.
func (r *ACHRail) applyReturn(ctx context.Context, tx Tx, fileName string, ret nacha.Return, now time.Time) (string, error) {
	describe := fmt.Sprintf("return %s of trace number %s (%s)", ret.Code, ret.OriginalTrace, ret.Amount.StringFixed(2))
	e, ok, err := tx.Payouts.Entry(ctx, ret.OriginalTrace)
	if err != nil {
		return "", err
	}
	if !ok {
		return describe + ": no entry of ours has this trace number", nil
	}
	if e.Outcome == ACHEntryReturned {
		return "", nil // returned already: a file the ODFI sent again
	}
	if ret.Cents != e.Cents {
		return fmt.Sprintf("%s: the entry was for %s", describe, centsText(e.Cents)), nil
	}
	p, err := (Streams{Events: tx.Events, Directory: tx.Directory}).Payment(ctx, e.PaymentID)
	if err != nil {
		return "", err
	}
	if p.Attempt != e.Attempt || p.TraceNumber != e.TraceNumber {
		return fmt.Sprintf("%s: payment %s has moved on to attempt %d", describe, p.ID, p.Attempt), nil
	}
	event, err := p.Return(ret.OriginalTrace, ret.Code, ret.Reason, fileName, now)
	if err != nil {
		return describe + ": " + err.Error(), nil
	}
	if _, err := tx.Events.Append(ctx, railMetadata(e.FileID), event); err != nil {
		return "", err
	}
	return "", tx.Payouts.SetEntryOutcome(ctx, e.TraceNumber, ACHEntryReturned, now)
}

// applyCorrection records a notification of change on the account of the
// entry it names.
func (r *ACHRail) applyCorrection(ctx context.Context, tx Tx, fileName string, c nacha.Correction, now time.Time) (string, error) {
	e, ok, err := tx.Payouts.Entry(ctx, c.OriginalTrace)
	if err != nil {
		return "", err
	}
	if !ok {
		return fmt.Sprintf("notification of change %s of trace number %s: no entry of ours has this trace number", c.Code, c.OriginalTrace), nil
	}
	acct, err := tx.Directory.Account(ctx, e.AccountID)
	if err != nil {
		return "", err
	}
	corrected := AccountCorrection{AccountID: acct.ID, BankID: acct.BankID, TraceNumber: c.OriginalTrace, Code: c.Code, Reason: c.Reason,
		RoutingNumber: c.Corrected.RoutingNumber, AccountType: string(c.Corrected.AccountType), Name: strings.TrimSpace(c.Corrected.Name),
		ReturnFile: fileName, ReceivedAt: now}
	if n := c.Corrected.AccountNumber; n != "" {
		corrected.AccountNumberLast4 = n[max(0, len(n)-4):]
	}
	return "", tx.Payouts.AddCorrection(ctx, corrected)
}

func centsText(c int64) string { return fmt.Sprintf("%d.%02d", c/100, c%100) }

// AccountCorrections lists the notifications of change received about an
// account, oldest first: for its bank's administrators, and its member.
func (a *App) AccountCorrections(ctx context.Context, p Principal, accountID uuid.UUID) ([]AccountCorrection, error) {
	if _, err := a.Account(ctx, p, accountID); err != nil {
		return nil, err
	}
	out, err := a.stores.Payouts.Corrections(ctx, accountID)
	slices.SortStableFunc(out, func(x, y AccountCorrection) int { return x.ReceivedAt.Compare(y.ReceivedAt) })
	return out, err
}

// ACHReturnFiles lists the return files read, newest first, with what
// could not be applied: an operator's view (`ledger ach returns`).
func (a *App) ACHReturnFiles(ctx context.Context, p Principal, limit int) ([]ACHReturnFile, error) {
	if err := p.must(RoleOperator); err != nil {
		return nil, err
	}
	if limit < 1 || limit > 1000 {
		return nil, &ledger.Error{Code: ledger.EInvalid, Message: "bad limit",
			Fields: []ledger.FieldError{{Field: "limit", Message: "must be between 1 and 1000"}}}
	}
	return a.stores.Payouts.ReturnFiles(ctx, limit)
}
