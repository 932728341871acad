package nacha_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/moov-io/ach"
	"github.com/shopspring/decimal"

	"github.com/reimbursement-ledger/ledger/backend/nacha"
)

// rdfiBatchHeader is the header of a batch an RDFI sends back.
func rdfiBatchHeader(sec string) *ach.BatchHeader {
	bh := ach.NewBatchHeader()
	bh.ServiceClassCode = ach.CreditsOnly
	bh.StandardEntryClassCode = sec
	bh.CompanyName = "RIVERSIDE CU"
	bh.CompanyIdentification = "1234567890"
	bh.CompanyEntryDescription = "REIMBURSE"
	bh.EffectiveEntryDate = "261210"
	bh.ODFIIdentification = "23138010"
	return bh
}

// returnEntry is the RDFI's return of an entry the ledger sent.
func returnEntry(orig *ach.EntryDetail, code string, seq int) *ach.EntryDetail {
	ed := ach.NewEntryDetail()
	ed.TransactionCode = ach.CheckingReturnNOCCredit
	if orig.TransactionCode == ach.SavingsCredit {
		ed.TransactionCode = ach.SavingsReturnNOCCredit
	}
	ed.RDFIIdentification, ed.CheckDigit = orig.RDFIIdentification, orig.CheckDigit
	ed.DFIAccountNumber = orig.DFIAccountNumber
	ed.Amount = orig.Amount
	ed.IndividualName = orig.IndividualName
	ed.SetTraceNumber("23138010", seq)
	a := ach.NewAddenda99()
	a.ReturnCode = code
	a.OriginalTrace = orig.TraceNumber
	a.OriginalDFI = orig.RDFIIdentification
	ed.Addenda99 = a
	ed.Category = ach.CategoryReturn
	ed.AddendaRecordIndicator = 1
	return ed
}

// mustReturnsFile builds, with moov-io/ach, what the ODFI sends back for
// the entries of a file the ledger wrote: R01 for the first, R03 for the
// second, a C01 correcting the third's account number, and two entries
// that are neither: a forward credit and a dishonored return.
func mustReturnsFile(t *testing.T, sent []*ach.EntryDetail) []byte {
	t.Helper()
	returns := ach.NewBatchPPD(rdfiBatchHeader(ach.PPD))
	returns.AddEntry(returnEntry(sent[0], "R01", 1))
	returns.AddEntry(returnEntry(sent[1], "R03", 2))
	if err := returns.Create(); err != nil {
		t.Fatalf("returns batch: %v", err)
	}

	cor := ach.NewBatchCOR(rdfiBatchHeader(ach.COR))
	noc := ach.NewEntryDetail()
	noc.TransactionCode = ach.CheckingReturnNOCCredit
	noc.RDFIIdentification, noc.CheckDigit = sent[2].RDFIIdentification, sent[2].CheckDigit
	noc.DFIAccountNumber = sent[2].DFIAccountNumber
	noc.IndividualName = sent[2].IndividualName
	noc.SetTraceNumber("23138010", 3)
	a98 := ach.NewAddenda98()
	a98.ChangeCode = "C01"
	a98.OriginalTrace = sent[2].TraceNumber
	a98.OriginalDFI = sent[2].RDFIIdentification + sent[2].CheckDigit
	a98.CorrectedData = "55512345"
	noc.Addenda98 = a98
	noc.Category = ach.CategoryNOC
	noc.AddendaRecordIndicator = 1
	cor.AddEntry(noc)
	if err := cor.Create(); err != nil {
		t.Fatalf("COR batch: %v", err)
	}

	forward := ach.NewBatchPPD(rdfiBatchHeader(ach.PPD))
	fe := ach.NewEntryDetail()
	fe.TransactionCode = ach.CheckingCredit
	fe.SetRDFI("231380104")
	fe.DFIAccountNumber = "123456"
	fe.Amount = 500
	fe.IndividualName = "SOMEONE ELSE"
	fe.SetTraceNumber("23138010", 4)
	forward.AddEntry(fe)
	dh := ach.NewEntryDetail()
	dh.TransactionCode = ach.CheckingReturnNOCCredit
	dh.RDFIIdentification, dh.CheckDigit = sent[0].RDFIIdentification, sent[0].CheckDigit
	dh.DFIAccountNumber = sent[0].DFIAccountNumber
	dh.Amount = sent[0].Amount
	dh.IndividualName = sent[0].IndividualName
	dh.SetTraceNumber("23138010", 5)
	da := ach.NewAddenda99Dishonored()
	da.DishonoredReturnReasonCode = "R68"
	da.OriginalEntryTraceNumber = sent[0].TraceNumber
	da.OriginalReceivingDFIIdentification = sent[0].RDFIIdentification
	da.ReturnTraceNumber = "231380100000001"
	da.ReturnSettlementDate = "344"
	da.ReturnReasonCode = "01"
	da.AddendaInformation = "Untimely Return"
	dh.Addenda99Dishonored = da
	dh.Category = ach.CategoryDishonoredReturn
	dh.AddendaRecordIndicator = 1
	dishonored := ach.NewBatchPPD(rdfiBatchHeader(ach.PPD))
	dishonored.AddEntry(dh)
	if err := dishonored.Create(); err != nil {
		t.Fatalf("dishonored batch: %v", err)
	}
	if err := forward.Create(); err != nil {
		t.Fatalf("forward batch: %v", err)
	}

	fh := ach.NewFileHeader()
	fh.ImmediateDestination = "121042882"
	fh.ImmediateOrigin = "231380104"
	fh.FileCreationDate = "261210"
	fh.FileCreationTime = "0600"
	fh.FileIDModifier = "A"
	fh.ImmediateDestinationName = "RIVERSIDE CU"
	fh.ImmediateOriginName = "WELLS FARGO"
	f := ach.NewFile()
	f.SetHeader(fh)
	f.AddBatch(returns)
	f.AddBatch(cor)
	f.AddBatch(forward)
	f.AddBatch(dishonored)
	if err := f.Create(); err != nil {
		t.Fatalf("returns file: %v", err)
	}
	if err := f.Validate(); err != nil {
		t.Fatalf("returns file: %v", err)
	}
	var buf bytes.Buffer
	if err := ach.NewWriter(&buf).Write(f); err != nil {
		t.Fatalf("writing the returns file: %v", err)
	}
	return buf.Bytes()
}

func TestReadReturnsMatchesTheSentTraces(t *testing.T) {
	sentBytes, written := mustWrite(t, newOriginator(), newPayouts(), 700)
	sent := mustRead(t, sentBytes).Batches[0].GetEntries()
	report, err := nacha.ReadReturns(bytes.NewReader(mustReturnsFile(t, sent)))
	if err != nil {
		t.Fatalf("ReadReturns: %v", err)
	}

	effective := time.Date(2026, 12, 10, 0, 0, 0, 0, time.UTC)
	wantReturns := []struct {
		trace, code, reason string
		cents               int64
		amount              string
	}{
		{written.Entries[0].TraceNumber, "R01", "Insufficient Funds", 123456, "1234.56"},
		{written.Entries[1].TraceNumber, "R03", "No Account/Unable to Locate Account", 1, "0.01"},
	}
	if len(report.Returns) != len(wantReturns) {
		t.Fatalf("%d returns, want %d: %+v", len(report.Returns), len(wantReturns), report.Returns)
	}
	for i, w := range wantReturns {
		r := report.Returns[i]
		if r.OriginalTrace != w.trace || r.Code != w.code || r.Reason != w.reason || r.Description == "" ||
			r.Cents != w.cents || !r.Amount.Equal(decimal.RequireFromString(w.amount)) || !r.Date.Equal(effective) ||
			r.TraceNumber != "23138010000000"+string(rune('1'+i)) {
			t.Errorf("return %d = %+v, want %+v", i, r, w)
		}
	}

	if len(report.Corrections) != 1 {
		t.Fatalf("%d corrections, want 1: %+v", len(report.Corrections), report.Corrections)
	}
	c := report.Corrections[0]
	if c.OriginalTrace != written.Entries[2].TraceNumber || c.Code != "C01" || c.Reason != "Incorrect bank account number" ||
		c.Corrected.AccountNumber != "55512345" || c.Corrected.RoutingNumber != "" || !c.Date.Equal(effective) {
		t.Errorf("correction = %+v", c)
	}

	if len(report.Other) != 2 {
		t.Fatalf("other = %+v, want the forward credit and the dishonored return", report.Other)
	}
	if o := report.Other[0]; o.TraceNumber != "231380100000004" || o.Cents != 500 || o.Category != ach.CategoryForward || o.Why == "" {
		t.Errorf("other[0] = %+v, want the forward credit", o)
	}
	if o := report.Other[1]; o.TraceNumber != "231380100000005" || o.OriginalTrace != written.Entries[0].TraceNumber ||
		o.Category != ach.CategoryDishonoredReturn || !strings.Contains(o.Why, "R68") {
		t.Errorf("other[1] = %+v, want the dishonored return of %s", o, written.Entries[0].TraceNumber)
	}
}

func TestReadReturnsRefusesMalformedFiles(t *testing.T) {
	sentBytes, _ := mustWrite(t, newOriginator(), newPayouts(), 1)
	good := mustReturnsFile(t, mustRead(t, sentBytes).Batches[0].GetEntries())
	lines := strings.SplitAfter(string(good), "\n")
	lastRecord := 0 // the file control, before the padding of nines
	for i, l := range lines {
		if strings.HasPrefix(l, "9") && !strings.HasPrefix(l, "99999") {
			lastRecord = i
		}
	}
	changed := func(i int, from, to string) string {
		ls := append([]string(nil), lines...)
		ls[i] = strings.Replace(ls[i], from, to, 1)
		return strings.Join(ls, "")
	}
	for _, tc := range []struct{ name, file string }{
		{"empty", ""},
		{"not NACHA", "hello, world\n"},
		{"no file control", strings.Join(lines[:lastRecord], "")},
		{"cut in a record", string(good[:len(strings.Join(lines[:4], ""))+40])},
		{"only the header", lines[0]},
		{"a record cut short", changed(2, lines[2][60:93], "")},
		{"an unknown return code", strings.Replace(string(good), "R01", "R9X", 1)},
		{"amounts that do not add up", changed(2, "0000123456", "0000123457")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			report, err := nacha.ReadReturns(strings.NewReader(tc.file))
			if !errors.Is(err, nacha.ErrMalformedFile) {
				t.Fatalf("error %v, want ErrMalformedFile", err)
			}
			if len(report.Returns)+len(report.Corrections)+len(report.Other) != 0 {
				t.Errorf("a report came with the error: %+v", report)
			}
			t.Log(err)
		})
	}
}
