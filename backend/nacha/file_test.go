package nacha_test

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/moov-io/ach"
	"github.com/shopspring/decimal"

	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/nacha"
)

var created = time.Date(2026, 12, 7, 15, 30, 0, 0, time.UTC)

func newOriginator() nacha.Originator {
	return nacha.Originator{
		ODFIRouting:      "121042882",
		ODFIName:         "Wells Fargo",
		ImmediateOrigin:  "231380104",
		CompanyName:      "Riverside CU",
		CompanyID:        "1234567890",
		EntryDescription: "Reimburse",
		EffectiveDate:    created.AddDate(0, 0, 1),
		CreatedAt:        created,
		FileIDModifier:   "A",
	}
}

func newPayouts() []nacha.Payout {
	return []nacha.Payout{
		{ID: uuid.MustParse("0193a000-0000-7000-8000-00000000a001"), ClaimID: uuid.MustParse("0193a000-0000-7000-8000-00000000c001"),
			Name: "Ada Lovelace", RoutingNumber: "231380104", AccountNumber: "987654321", AccountType: nacha.Checking,
			Amount: decimal.RequireFromString("1234.56"), Currency: "USD"},
		{ID: uuid.MustParse("0193a000-0000-7000-8000-00000000a002"), ClaimID: uuid.MustParse("0193a000-0000-7000-8000-00000000c002"),
			Name: "Zoë Ångström-Kowalczyk de la Vega", RoutingNumber: "021000021", AccountNumber: "0001", AccountType: nacha.Savings,
			Amount: decimal.RequireFromString("0.01"), Currency: "USD"},
		{ID: uuid.MustParse("0193a000-0000-7000-8000-00000000a003"), ClaimID: uuid.MustParse("0193a000-0000-7000-8000-00000000c003"),
			Name: "  grace   hopper ", RoutingNumber: "011000015", AccountNumber: "12345678901234567", AccountType: nacha.Checking,
			Amount: decimal.RequireFromString("99.9"), Currency: "USD"},
	}
}

// mustWrite writes a file and returns its bytes and what WriteFile reported.
func mustWrite(t *testing.T, o nacha.Originator, payouts []nacha.Payout, first int) ([]byte, nacha.Written) {
	t.Helper()
	var buf bytes.Buffer
	w, err := nacha.WriteFile(&buf, o, payouts, first)
	if err != nil {
		t.Fatalf("WriteFile: %v", err)
	}
	return buf.Bytes(), w
}

// mustRead parses and validates a file with moov-io/ach, as the ODFI would.
func mustRead(t *testing.T, b []byte) ach.File {
	t.Helper()
	f, err := ach.NewReader(bytes.NewReader(b)).Read()
	if err != nil {
		t.Fatalf("ach reader: %v", err)
	}
	if err := f.Validate(); err != nil {
		t.Fatalf("ach validate: %v", err)
	}
	return f
}

func TestWriteFileReadsBackWithEveryField(t *testing.T) {
	payouts := newPayouts()
	b, w := mustWrite(t, newOriginator(), payouts, 41)

	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines)%10 != 0 {
		t.Errorf("%d records: a file is blocked in tens", len(lines))
	}
	for i, l := range lines {
		if len(l) != 94 {
			t.Errorf("record %d is %d characters, want 94: %q", i+1, len(l), l)
		}
	}

	f := mustRead(t, b)
	if f.Header.ImmediateDestination != "121042882" || f.Header.ImmediateOrigin != "231380104" {
		t.Errorf("header destination %q origin %q", f.Header.ImmediateDestination, f.Header.ImmediateOrigin)
	}
	if f.Header.FileCreationDate != "261207" || f.Header.FileCreationTime != "1530" || f.Header.FileIDModifier != "A" {
		t.Errorf("header created %s %s modifier %s", f.Header.FileCreationDate, f.Header.FileCreationTime, f.Header.FileIDModifier)
	}
	if f.Header.ImmediateDestinationName != "WELLS FARGO" || f.Header.ImmediateOriginName != "RIVERSIDE CU" {
		t.Errorf("header names %q %q", f.Header.ImmediateDestinationName, f.Header.ImmediateOriginName)
	}
	if len(f.Batches) != 1 {
		t.Fatalf("%d batches, want 1", len(f.Batches))
	}
	bh := f.Batches[0].GetHeader()
	if bh.StandardEntryClassCode != ach.PPD || bh.ServiceClassCode != ach.CreditsOnly || bh.CompanyName != "RIVERSIDE CU" ||
		bh.CompanyIdentification != "1234567890" || bh.CompanyEntryDescription != "REIMBURSE" || bh.EffectiveEntryDate != "261208" ||
		bh.ODFIIdentification != "12104288" {
		t.Errorf("batch header %+v", bh)
	}

	type want struct {
		code                    int
		rdfi, check, acct, name string
		cents                   int
	}
	wants := []want{
		{ach.CheckingCredit, "23138010", "4", "987654321", "ADA LOVELACE", 123456},
		{ach.SavingsCredit, "02100002", "1", "0001", "ZOE ANGSTROM-KOWALCZYK", 1},
		{ach.CheckingCredit, "01100001", "5", "12345678901234567", "GRACE HOPPER", 9990},
	}
	entries := f.Batches[0].GetEntries()
	if len(entries) != len(wants) || len(w.Entries) != len(wants) {
		t.Fatalf("%d entries in the file, %d reported, want %d", len(entries), len(w.Entries), len(wants))
	}
	seen := map[string]bool{}
	var hash int
	for i, ed := range entries {
		wt := wants[i]
		if ed.TransactionCode != wt.code || ed.RDFIIdentification != wt.rdfi || ed.CheckDigit != wt.check ||
			strings.TrimSpace(ed.DFIAccountNumber) != wt.acct || ed.Amount != wt.cents || strings.TrimSpace(ed.IndividualName) != wt.name {
			t.Errorf("entry %d = code %d rdfi %s%s acct %q amount %d name %q, want %+v",
				i, ed.TransactionCode, ed.RDFIIdentification, ed.CheckDigit, ed.DFIAccountNumber, ed.Amount, ed.IndividualName, wt)
		}
		wantTrace := "12104288" + "00000" + strconv.Itoa(41+i)
		if ed.TraceNumber != wantTrace || w.Entries[i].TraceNumber != wantTrace || seen[wantTrace] {
			t.Errorf("entry %d trace %s, reported %s, want %s once", i, ed.TraceNumber, w.Entries[i].TraceNumber, wantTrace)
		}
		seen[ed.TraceNumber] = true
		if w.Entries[i].PayoutID != payouts[i].ID || w.Entries[i].ClaimID != payouts[i].ClaimID || w.Entries[i].Cents != int64(wt.cents) {
			t.Errorf("reported entry %d = %+v", i, w.Entries[i])
		}
		if ed.AddendaRecordIndicator != 1 || len(ed.Addenda05) != 1 {
			t.Fatalf("entry %d has indicator %d and %d Addenda05", i, ed.AddendaRecordIndicator, len(ed.Addenda05))
		}
		wantInfo := "CLAIM " + strings.ToUpper(payouts[i].ClaimID.String())
		if got := ed.Addenda05[0].PaymentRelatedInformation; got != wantInfo {
			t.Errorf("entry %d addenda %q, want %q", i, got, wantInfo)
		}
		if id, ok := nacha.ClaimID(ed); !ok || id != payouts[i].ClaimID {
			t.Errorf("entry %d ClaimID = %s %v", i, id, ok)
		}
		if strings.TrimSpace(ed.IdentificationNumber) != "" {
			t.Errorf("entry %d individual id %q, want blank", i, ed.IdentificationNumber)
		}
		n, _ := strconv.Atoi(wt.rdfi)
		hash += n
	}

	const total = 123456 + 1 + 9990
	if w.TotalCents != total || w.NextSequence != 44 {
		t.Errorf("reported total %d next %d, want %d and 44", w.TotalCents, w.NextSequence, total)
	}
	bc := f.Batches[0].GetControl()
	if bc.TotalCreditEntryDollarAmount != total || bc.TotalDebitEntryDollarAmount != 0 || bc.EntryAddendaCount != 6 || bc.EntryHash != hash {
		t.Errorf("batch control %+v, want credit %d, 6 records, hash %d", bc, total, hash)
	}
	fc := f.Control
	if fc.TotalCreditEntryDollarAmountInFile != total || fc.TotalDebitEntryDollarAmountInFile != 0 ||
		fc.EntryAddendaCount != 6 || fc.EntryHash != hash || fc.BatchCount != 1 {
		t.Errorf("file control %+v", fc)
	}
}

func TestTraceNumbersGoOnAcrossFiles(t *testing.T) {
	_, first := mustWrite(t, newOriginator(), newPayouts(), 1)
	payouts := newPayouts()
	for i := range payouts {
		payouts[i].ID, payouts[i].ClaimID = uuid.New(), uuid.New()
	}
	o := newOriginator()
	o.FileIDModifier = "B"
	b, second := mustWrite(t, o, payouts, first.NextSequence)
	seen := map[string]bool{}
	for _, e := range append(first.Entries, second.Entries...) {
		if seen[e.TraceNumber] {
			t.Errorf("trace %s in both files", e.TraceNumber)
		}
		seen[e.TraceNumber] = true
	}
	if f := mustRead(t, b); f.Batches[0].GetEntries()[0].TraceNumber != "121042880000004" {
		t.Errorf("the second file starts at %s", f.Batches[0].GetEntries()[0].TraceNumber)
	}
	if second.NextSequence != 7 {
		t.Errorf("next sequence %d, want 7", second.NextSequence)
	}

	// The last sequence fits; one more would wrap.
	if _, err := nacha.WriteFile(&bytes.Buffer{}, o, payouts, nacha.MaxSequence-2); err != nil {
		t.Errorf("sequences up to the last: %v", err)
	}
	if _, err := nacha.WriteFile(&bytes.Buffer{}, o, payouts, nacha.MaxSequence-1); !hasField(err, "first_sequence") {
		t.Errorf("sequences past the last: %v", err)
	}
}

func TestCents(t *testing.T) {
	for _, tc := range []struct {
		amount, currency string
		cents            int64
		bad              bool
	}{
		{"1234.56", "USD", 123456, false},
		{"0.01", "USD", 1, false},
		{"1.1", "USD", 110, false},
		{"1.000", "USD", 100, false},
		{"99999999.99", "USD", 9999999999, false},
		{"100000000.00", "USD", 0, true},
		{"1.005", "USD", 0, true},
		{"0.001", "USD", 0, true},
		{"0", "USD", 0, true},
		{"-5.00", "USD", 0, true},
		{"10.00", "EUR", 0, true},
		{"10.00", "", 0, true},
		{"10.00", "usd", 0, true},
	} {
		got, err := nacha.Cents(decimal.RequireFromString(tc.amount), tc.currency)
		if (err != nil) != tc.bad || got != tc.cents {
			t.Errorf("Cents(%s %s) = %d, %v; want %d, refused %v", tc.amount, tc.currency, got, err, tc.cents, tc.bad)
		}
	}
}

func TestWriteFileRefusesBadInput(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(o *nacha.Originator, p []nacha.Payout) []nacha.Payout
		first int
		field string
	}{
		{"non-USD", func(_ *nacha.Originator, p []nacha.Payout) []nacha.Payout { p[1].Currency = "CAD"; return p }, 1, "payouts[1].amount"},
		{"fraction of a cent", func(_ *nacha.Originator, p []nacha.Payout) []nacha.Payout {
			p[0].Amount = decimal.RequireFromString("10.005")
			return p
		}, 1, "payouts[0].amount"},
		{"zero", func(_ *nacha.Originator, p []nacha.Payout) []nacha.Payout { p[0].Amount = decimal.Zero; return p }, 1, "payouts[0].amount"},
		{"negative", func(_ *nacha.Originator, p []nacha.Payout) []nacha.Payout {
			p[2].Amount = decimal.RequireFromString("-1.00")
			return p
		}, 1, "payouts[2].amount"},
		{"over the field", func(_ *nacha.Originator, p []nacha.Payout) []nacha.Payout {
			p[0].Amount = decimal.RequireFromString("100000000")
			return p
		}, 1, "payouts[0].amount"},
		{"routing checksum", func(_ *nacha.Originator, p []nacha.Payout) []nacha.Payout { p[0].RoutingNumber = "231380105"; return p }, 1, "payouts[0].routing_number"},
		{"routing length", func(_ *nacha.Originator, p []nacha.Payout) []nacha.Payout { p[0].RoutingNumber = "23138010"; return p }, 1, "payouts[0].routing_number"},
		{"routing letters", func(_ *nacha.Originator, p []nacha.Payout) []nacha.Payout { p[0].RoutingNumber = "23138010A"; return p }, 1, "payouts[0].routing_number"},
		{"account too short", func(_ *nacha.Originator, p []nacha.Payout) []nacha.Payout { p[0].AccountNumber = "123"; return p }, 1, "payouts[0].account_number"},
		{"account too long", func(_ *nacha.Originator, p []nacha.Payout) []nacha.Payout {
			p[0].AccountNumber = "123456789012345678"
			return p
		}, 1, "payouts[0].account_number"},
		{"account not digits", func(_ *nacha.Originator, p []nacha.Payout) []nacha.Payout {
			p[0].AccountNumber = "744-5678-99"
			return p
		}, 1, "payouts[0].account_number"},
		{"account type", func(_ *nacha.Originator, p []nacha.Payout) []nacha.Payout { p[0].AccountType = "loan"; return p }, 1, "payouts[0].account_type"},
		{"empty name", func(_ *nacha.Originator, p []nacha.Payout) []nacha.Payout { p[1].Name = "  "; return p }, 1, "payouts[1].name"},
		{"name of nothing NACHA carries", func(_ *nacha.Originator, p []nacha.Payout) []nacha.Payout { p[1].Name = "李小龍"; return p }, 1, "payouts[1].name"},
		{"no payout id", func(_ *nacha.Originator, p []nacha.Payout) []nacha.Payout { p[0].ID = uuid.Nil; return p }, 1, "payouts[0].id"},
		{"no claim id", func(_ *nacha.Originator, p []nacha.Payout) []nacha.Payout { p[0].ClaimID = uuid.Nil; return p }, 1, "payouts[0].claim_id"},
		{"payout twice", func(_ *nacha.Originator, p []nacha.Payout) []nacha.Payout { p[2].ID = p[0].ID; return p }, 1, "payouts[2].id"},
		{"claim twice", func(_ *nacha.Originator, p []nacha.Payout) []nacha.Payout { p[2].ClaimID = p[1].ClaimID; return p }, 1, "payouts[2].claim_id"},
		{"no payouts", func(_ *nacha.Originator, _ []nacha.Payout) []nacha.Payout { return nil }, 1, "payouts"},
		{"sequence zero", func(_ *nacha.Originator, p []nacha.Payout) []nacha.Payout { return p }, 0, "first_sequence"},
		{"ODFI checksum", func(o *nacha.Originator, p []nacha.Payout) []nacha.Payout { o.ODFIRouting = "121042883"; return p }, 1, "originator.odfi_routing"},
		{"origin", func(o *nacha.Originator, p []nacha.Payout) []nacha.Payout { o.ImmediateOrigin = "000000000"; return p }, 1, "originator.immediate_origin"},
		{"company name long", func(o *nacha.Originator, p []nacha.Payout) []nacha.Payout {
			o.CompanyName = "Riverside Credit Union"
			return p
		}, 1, "originator.company_name"},
		{"company id short", func(o *nacha.Originator, p []nacha.Payout) []nacha.Payout { o.CompanyID = "123456789"; return p }, 1, "originator.company_id"},
		{"company id lower", func(o *nacha.Originator, p []nacha.Payout) []nacha.Payout { o.CompanyID = "1234567abc"; return p }, 1, "originator.company_id"},
		{"description empty", func(o *nacha.Originator, p []nacha.Payout) []nacha.Payout { o.EntryDescription = ""; return p }, 1, "originator.entry_description"},
		{"description long", func(o *nacha.Originator, p []nacha.Payout) []nacha.Payout {
			o.EntryDescription = "REIMBURSEMENT"
			return p
		}, 1, "originator.entry_description"},
		{"effective before creation", func(o *nacha.Originator, p []nacha.Payout) []nacha.Payout {
			o.EffectiveDate = created.AddDate(0, 0, -1)
			return p
		}, 1, "originator.effective_date"},
		{"no creation time", func(o *nacha.Originator, p []nacha.Payout) []nacha.Payout { o.CreatedAt = time.Time{}; return p }, 1, "originator.created_at"},
		{"file id modifier", func(o *nacha.Originator, p []nacha.Payout) []nacha.Payout { o.FileIDModifier = "a"; return p }, 1, "originator.file_id_modifier"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := newOriginator()
			payouts := tc.edit(&o, newPayouts())
			var buf bytes.Buffer
			_, err := nacha.WriteFile(&buf, o, payouts, tc.first)
			if !hasField(err, tc.field) {
				t.Errorf("error %v, want one naming %s", err, tc.field)
			}
			if ledger.ErrorCode(err) != ledger.EInvalid {
				t.Errorf("code %q, want %q", ledger.ErrorCode(err), ledger.EInvalid)
			}
			if buf.Len() != 0 {
				t.Errorf("%d bytes written for refused input", buf.Len())
			}
		})
	}
}

func hasField(err error, field string) bool {
	var e *ledger.Error
	if !errors.As(err, &e) {
		return false
	}
	for _, f := range e.Fields {
		if f.Field == field {
			return true
		}
	}
	return false
}

func TestNamesFitTheField(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"Ada Lovelace", "ADA LOVELACE"},
		{"José Núñez", "JOSE NUNEZ"},
		{"O'Brien-Smith, Jr.", "O'BRIEN-SMITH, JR."},
		{"Maximilian Alexander Featherstonehaugh", "MAXIMILIAN ALEXANDER F"},
		{"Twenty Two Characters!", "TWENTY TWO CHARACTERS"},
		{"Ada\tLovelace\n<script>", "ADA LOVELACE SCRIPT"},
		{"Renée 李 Dubois", "RENEE DUBOIS"},
		{"Abcdefghijklmnopqrstu vwxyz", "ABCDEFGHIJKLMNOPQRSTU"}, // cut at a space: no trailing blank kept
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPayouts()[:1]
			p[0].Name = tc.name
			b, _ := mustWrite(t, newOriginator(), p, 1)
			got := mustRead(t, b).Batches[0].GetEntries()[0].IndividualName
			if strings.TrimRight(got, " ") != tc.want {
				t.Errorf("individual name %q, want %q", got, tc.want)
			}
			if len(got) > 22 {
				t.Errorf("individual name %q is longer than 22", got)
			}
		})
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteFileReportsTheWritersError(t *testing.T) {
	if _, err := nacha.WriteFile(failingWriter{}, newOriginator(), newPayouts(), 1); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("error %v, want the writer's", err)
	}
}
