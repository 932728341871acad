package nacha

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/moov-io/ach"
	"github.com/shopspring/decimal"

	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// AccountType is the kind of account a payout credits.
type AccountType string

// The account types a PPD credit can reach.
const (
	Checking AccountType = "checking"
	Savings  AccountType = "savings"
)

// Limits of the NACHA fields this package fills.
const (
	// MaxEntryCents is the largest entry amount the 10-digit field holds: $99,999,999.99.
	MaxEntryCents int64 = 99_999_999_99
	// MaxFileCents is the largest total the 12-digit control fields hold.
	MaxFileCents int64 = 9_999_999_999_99
	// MaxSequence is the largest 7-digit trace sequence.
	MaxSequence = 9_999_999
)

// Originator is who sends the file and through which ODFI; configuration,
// the same for every file.
type Originator struct {
	ODFIRouting      string    // the ODFI's 9-digit routing number (ABA checksum checked); the file's immediate destination
	ODFIName         string    // the ODFI's name in the file header (optional, 23 characters)
	ImmediateOrigin  string    // 9 digits the ODFI assigned the originator
	OriginName       string    // the originator's name in the file header (optional: CompanyName)
	CompanyName      string    // the name members see on their statement, at most 16 characters
	CompanyID        string    // the company identification, exactly 10 characters (often "1" and the EIN)
	EntryDescription string    // the company entry description, at most 10 characters, e.g. "REIMBURSE"
	EffectiveDate    time.Time // the day the entries should settle, not before CreatedAt's day
	CreatedAt        time.Time // when the file was created, in the ODFI's time zone
	FileIDModifier   string    // A-Z or 0-9, distinct for each file of the same day
}

// Payout is one credit to a member's account.
type Payout struct {
	ID            uuid.UUID // the payout (one attempt to pay a claim); the key of the returned Entry
	ClaimID       uuid.UUID // the claim it pays, carried in the entry's addenda
	Name          string    // the member's name
	RoutingNumber string    // the RDFI's 9-digit routing number
	AccountNumber string    // the member's account number, 4 to 17 digits, in clear
	AccountType   AccountType
	Amount        decimal.Decimal
	Currency      string // must be "USD"
}

// Entry is what the file holds for one payout: the caller records
// TraceNumber on the payout, since returns name the entry by it alone.
type Entry struct {
	PayoutID    uuid.UUID
	ClaimID     uuid.UUID
	TraceNumber string // 15 digits: the ODFI's 8-digit prefix and a 7-digit sequence
	Cents       int64
}

// Written describes a file WriteFile wrote.
type Written struct {
	Entries []Entry // in the order of the payouts
	// NextSequence is the trace sequence the next file must start at; the
	// caller persists it before the file leaves, so no trace number repeats.
	NextSequence int
	TotalCents   int64
}

// WriteFile writes to w one NACHA file of PPD credits paying payouts, with
// trace sequences from firstSequence on. It refuses invalid input with a
// *ledger.Error of code EInvalid naming each bad field, and writes nothing
// then; the file is validated with moov-io/ach, and read back, before a
// byte of it reaches w.
func WriteFile(w io.Writer, o Originator, payouts []Payout, firstSequence int) (written Written, err error) {
	defer ledger.Wrap(&err, "nacha.WriteFile")

	var v fields
	hdr := v.originator(o)
	if len(payouts) == 0 {
		v.add("payouts", "must hold at least one payout")
	}
	if firstSequence < 1 || firstSequence > MaxSequence {
		v.add("first_sequence", "must be between 1 and %d", MaxSequence)
	} else if last := firstSequence + len(payouts) - 1; last > MaxSequence {
		v.add("first_sequence", "%d payouts from sequence %d pass %d: trace numbers would wrap", len(payouts), firstSequence, MaxSequence)
	}
	entries := make([]*ach.EntryDetail, 0, len(payouts))
	written.Entries = make([]Entry, 0, len(payouts))
	payoutIDs := make(map[uuid.UUID]int, len(payouts))
	claimIDs := make(map[uuid.UUID]int, len(payouts))
	for i, p := range payouts {
		ed, cents := v.payout(i, p)
		if j, dup := payoutIDs[p.ID]; dup && p.ID != uuid.Nil {
			v.add(fmt.Sprintf("payouts[%d].id", i), "repeats payouts[%d]", j)
		}
		payoutIDs[p.ID] = i
		if j, dup := claimIDs[p.ClaimID]; dup && p.ClaimID != uuid.Nil {
			v.add(fmt.Sprintf("payouts[%d].claim_id", i), "repeats payouts[%d]: a claim is paid once per file", j)
		}
		claimIDs[p.ClaimID] = i
		written.TotalCents += cents
		if ed == nil {
			continue
		}
		ed.SetTraceNumber(o.ODFIRouting, firstSequence+i)
		entries = append(entries, ed)
		written.Entries = append(written.Entries, Entry{PayoutID: p.ID, ClaimID: p.ClaimID, TraceNumber: ed.TraceNumber, Cents: cents})
	}
	if written.TotalCents > MaxFileCents {
		v.add("payouts", "total %s exceeds what one file carries (%s)", centsString(written.TotalCents), centsString(MaxFileCents))
	}
	if err := v.err(); err != nil {
		return Written{}, err
	}

	file, err := build(o, hdr, entries)
	if err != nil {
		return Written{}, err
	}
	var buf bytes.Buffer
	if err := ach.NewWriter(&buf).Write(file); err != nil {
		return Written{}, fmt.Errorf("writing the file: %w", err)
	}
	if err := checkWritten(buf.Bytes(), written.Entries); err != nil {
		return Written{}, err
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return Written{}, err
	}
	written.NextSequence = firstSequence + len(payouts)
	return written, nil
}

// header is the originator's configuration in the form the file carries.
type header struct {
	odfiName, originName, companyName, description string
}

func build(o Originator, h header, entries []*ach.EntryDetail) (*ach.File, error) {
	fh := ach.NewFileHeader()
	fh.ImmediateDestination = o.ODFIRouting
	fh.ImmediateDestinationName = h.odfiName
	fh.ImmediateOrigin = o.ImmediateOrigin
	fh.ImmediateOriginName = h.originName
	fh.FileCreationDate = o.CreatedAt.Format("060102")
	fh.FileCreationTime = o.CreatedAt.Format("1504")
	fh.FileIDModifier = o.FileIDModifier

	bh := ach.NewBatchHeader()
	bh.ServiceClassCode = ach.CreditsOnly
	bh.StandardEntryClassCode = ach.PPD
	bh.CompanyName = h.companyName
	bh.CompanyIdentification = o.CompanyID
	bh.CompanyEntryDescription = h.description
	bh.EffectiveEntryDate = o.EffectiveDate.Format("060102")
	bh.ODFIIdentification = o.ODFIRouting[:8]

	batch := ach.NewBatchPPD(bh)
	for _, ed := range entries {
		batch.AddEntry(ed)
	}
	if err := batch.Create(); err != nil {
		return nil, fmt.Errorf("building the batch: %w", err)
	}
	file := ach.NewFile()
	file.SetHeader(fh)
	file.AddBatch(batch)
	if err := file.Create(); err != nil {
		return nil, fmt.Errorf("building the file: %w", err)
	}
	if err := file.Validate(); err != nil {
		return nil, fmt.Errorf("validating the file: %w", err)
	}
	return file, nil
}

// checkWritten reads the written bytes back as the ODFI will, and checks
// that they hold exactly the entries promised to the caller.
func checkWritten(b []byte, want []Entry) error {
	f, err := ach.NewReader(bytes.NewReader(b)).Read()
	if err != nil {
		return fmt.Errorf("reading the written file back: %w", err)
	}
	if err := f.Validate(); err != nil {
		return fmt.Errorf("validating the written file: %w", err)
	}
	var got []*ach.EntryDetail
	for _, b := range f.Batches {
		got = append(got, b.GetEntries()...)
	}
	if len(got) != len(want) {
		return fmt.Errorf("the written file holds %d entries, want %d", len(got), len(want))
	}
	for i, ed := range got {
		if ed.TraceNumber != want[i].TraceNumber || int64(ed.Amount) != want[i].Cents {
			return fmt.Errorf("the written file's entry %d is trace %s for %d cents, want %s for %d", i, ed.TraceNumber, ed.Amount, want[i].TraceNumber, want[i].Cents)
		}
	}
	return nil
}

// fields collects what is wrong with the input.
type fields struct{ errs []ledger.FieldError }

func (v *fields) add(field, format string, args ...any) {
	v.errs = append(v.errs, ledger.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

func (v *fields) err() error {
	if len(v.errs) == 0 {
		return nil
	}
	return &ledger.Error{Code: ledger.EInvalid, Message: "the file cannot be built from this input", Fields: v.errs}
}

func (v *fields) routing(field, s string) {
	if len(s) != 9 || !allDigits(s) {
		v.add(field, "must be 9 digits")
	} else if err := ach.CheckRoutingNumber(s); err != nil {
		v.add(field, "fails the ABA checksum: %v", err)
	}
}

// text checks a free-text field: it must keep some character NACHA
// carries, and fit width once cleaned; it returns the cleaned text.
func (v *fields) text(field, s string, width int) string {
	t := fieldText(s, 1<<10)
	switch {
	case t == "":
		v.add(field, "must not be empty")
	case len(t) > width:
		v.add(field, "must be at most %d characters", width)
	}
	return t
}

func (v *fields) originator(o Originator) header {
	var h header
	v.routing("originator.odfi_routing", o.ODFIRouting)
	if o.ODFIName != "" {
		h.odfiName = v.text("originator.odfi_name", o.ODFIName, 23)
	}
	if len(o.ImmediateOrigin) != 9 || !allDigits(o.ImmediateOrigin) || strings.Trim(o.ImmediateOrigin, "0") == "" {
		v.add("originator.immediate_origin", "must be 9 digits, not all zeros")
	}
	h.companyName = v.text("originator.company_name", o.CompanyName, 16)
	h.originName = h.companyName
	if o.OriginName != "" {
		h.originName = v.text("originator.origin_name", o.OriginName, 23)
	}
	if utf8.RuneCountInString(o.CompanyID) != 10 || !upperAlphanumeric(o.CompanyID) || strings.Trim(o.CompanyID, "0 ") == "" {
		v.add("originator.company_id", "must be 10 characters of A-Z, 0-9 and spaces, not all zeros")
	}
	h.description = v.text("originator.entry_description", o.EntryDescription, 10)
	switch {
	case o.CreatedAt.IsZero():
		v.add("originator.created_at", "must be set")
	case o.EffectiveDate.IsZero():
		v.add("originator.effective_date", "must be set")
	case day(o.EffectiveDate) < day(o.CreatedAt):
		v.add("originator.effective_date", "must not be before the file's creation date %s", o.CreatedAt.Format(time.DateOnly))
	}
	if len(o.FileIDModifier) != 1 || !upperAlphanumeric(o.FileIDModifier) || o.FileIDModifier == " " {
		v.add("originator.file_id_modifier", "must be one character, A-Z or 0-9")
	}
	return h
}

// payout checks p and returns its entry (nil when p is invalid) and cents.
func (v *fields) payout(i int, p Payout) (*ach.EntryDetail, int64) {
	n := len(v.errs)
	f := func(name string) string { return fmt.Sprintf("payouts[%d].%s", i, name) }
	if p.ID == uuid.Nil {
		v.add(f("id"), "must be set")
	}
	if p.ClaimID == uuid.Nil {
		v.add(f("claim_id"), "must be set")
	}
	name := fieldText(p.Name, 22) // a long name is cut, as banks do; an empty one is refused
	if name == "" {
		v.add(f("name"), "must hold a letter or digit")
	}
	v.routing(f("routing_number"), p.RoutingNumber)
	if l := len(p.AccountNumber); l < 4 || l > 17 || !allDigits(p.AccountNumber) {
		v.add(f("account_number"), "must be 4 to 17 digits")
	}
	var code int
	switch p.AccountType {
	case Checking:
		code = ach.CheckingCredit
	case Savings:
		code = ach.SavingsCredit
	default:
		v.add(f("account_type"), "must be %q or %q", Checking, Savings)
	}
	cents, err := Cents(p.Amount, p.Currency)
	if err != nil {
		v.add(f("amount"), "%v", err)
	}
	if len(v.errs) > n {
		return nil, cents
	}
	ed := ach.NewEntryDetail()
	ed.TransactionCode = code
	ed.SetRDFI(p.RoutingNumber)
	ed.DFIAccountNumber = p.AccountNumber
	ed.Amount = int(cents)
	ed.IndividualName = name
	add := ach.NewAddenda05()
	add.PaymentRelatedInformation = claimInfo(p.ClaimID)
	ed.AddAddenda05(add)
	ed.AddendaRecordIndicator = 1
	return ed, cents
}

// claimPrefix opens the Addenda05 that carries a claim's id.
const claimPrefix = "CLAIM "

func claimInfo(id uuid.UUID) string { return claimPrefix + strings.ToUpper(id.String()) }

// ClaimID returns the claim id an entry's Addenda05 carries, as WriteFile
// wrote it.
func ClaimID(ed *ach.EntryDetail) (uuid.UUID, bool) {
	for _, a := range ed.Addenda05 {
		if s, ok := strings.CutPrefix(a.PaymentRelatedInformation, claimPrefix); ok {
			if id, err := uuid.Parse(s); err == nil {
				return id, true
			}
		}
	}
	return uuid.Nil, false
}

// Cents converts an amount to the integer cents of a NACHA entry. It
// refuses, never rounds: a currency other than USD, a fraction of a cent,
// zero or less, or more than the entry's field holds.
func Cents(amount decimal.Decimal, currency string) (int64, error) {
	if currency != "USD" {
		return 0, fmt.Errorf("must be in USD, not %q: ACH moves US dollars only", currency)
	}
	c := amount.Shift(2)
	switch {
	case !c.IsInteger():
		return 0, fmt.Errorf("%s is not a whole number of cents", amount.String())
	case !c.IsPositive():
		return 0, fmt.Errorf("must be greater than 0, not %s", amount.String())
	case c.GreaterThan(decimal.NewFromInt(MaxEntryCents)):
		return 0, fmt.Errorf("%s exceeds %s, the most one entry carries", amount.String(), centsString(MaxEntryCents))
	}
	return c.IntPart(), nil
}

func centsString(c int64) string { return decimal.New(c, -2).StringFixed(2) }

func upperAlphanumeric(s string) bool {
	for _, r := range s {
		if r != ' ' && (r < '0' || r > '9') && (r < 'A' || r > 'Z') {
			return false
		}
	}
	return true
}

// day numbers a calendar date in the time's own location.
func day(t time.Time) int {
	y, m, d := t.Date()
	return y*10000 + int(m)*100 + d
}
