// Package nachatest builds, with moov-io/ach, the files an ODFI sends
// back for a file the ledger wrote: returns and notifications of change
// for chosen trace numbers, as tests of the ACH rail need them.
package nachatest

import (
	"bytes"
	"fmt"

	"github.com/moov-io/ach"
)

// Answer is the RDFI's answer to one entry of a sent file: a return (Code
// R01, R03, ...) or a notification of change (Code C01, ... with
// CorrectedData as the field's new value).
type Answer struct {
	Trace         string
	Code          string
	CorrectedData string
	// Cents, when set, is the amount a return carries instead of the
	// entry's (a return that does not match what was sent).
	Cents int
}

// rdfiRouting is the routing number of the bank the answers come from.
const rdfiRouting = "231380104"

// ReturnFile reads a file the ledger wrote and returns the ODFI's file
// carrying the answers, each to the entry with its trace number; an
// answer naming no entry of sent is kept as it is (a return for an
// unknown trace number), against a made-up entry of one dollar.
func ReturnFile(sent []byte, answers ...Answer) ([]byte, error) {
	f, err := ach.NewReader(bytes.NewReader(sent)).Read()
	if err != nil {
		return nil, fmt.Errorf("reading the sent file: %w", err)
	}
	entries := map[string]*ach.EntryDetail{}
	var companyName, companyID, odfi string
	for _, b := range f.Batches {
		h := b.GetHeader()
		companyName, companyID, odfi = h.CompanyName, h.CompanyIdentification, h.ODFIIdentification
		for _, ed := range b.GetEntries() {
			entries[ed.TraceNumber] = ed
		}
	}
	header := func(sec string) *ach.BatchHeader {
		bh := ach.NewBatchHeader()
		bh.ServiceClassCode = ach.CreditsOnly
		bh.StandardEntryClassCode = sec
		bh.CompanyName = companyName
		bh.CompanyIdentification = companyID
		bh.CompanyEntryDescription = "REIMBURSE"
		bh.EffectiveEntryDate = f.Header.FileCreationDate
		bh.ODFIIdentification = odfi
		return bh
	}
	returns, cor := ach.NewBatchPPD(header(ach.PPD)), ach.NewBatchCOR(header(ach.COR))
	var nReturns, nCOR int
	for i, a := range answers {
		orig, ok := entries[a.Trace]
		if !ok {
			orig = ach.NewEntryDetail()
			orig.TransactionCode = ach.CheckingCredit
			orig.SetRDFI(rdfiRouting)
			orig.DFIAccountNumber, orig.Amount, orig.IndividualName, orig.TraceNumber = "123456", 100, "UNKNOWN", a.Trace
		}
		ed := ach.NewEntryDetail()
		ed.TransactionCode = ach.CheckingReturnNOCCredit
		if orig.TransactionCode == ach.SavingsCredit {
			ed.TransactionCode = ach.SavingsReturnNOCCredit
		}
		ed.RDFIIdentification, ed.CheckDigit = orig.RDFIIdentification, orig.CheckDigit
		ed.DFIAccountNumber, ed.IndividualName = orig.DFIAccountNumber, orig.IndividualName
		ed.SetTraceNumber(rdfiRouting[:8], i+1)
		ed.AddendaRecordIndicator = 1
		if a.Code != "" && a.Code[0] == 'C' {
			a98 := ach.NewAddenda98()
			a98.ChangeCode, a98.OriginalTrace = a.Code, orig.TraceNumber
			a98.OriginalDFI = orig.RDFIIdentification + orig.CheckDigit
			a98.CorrectedData = a.CorrectedData
			ed.Addenda98, ed.Category = a98, ach.CategoryNOC
			cor.AddEntry(ed)
			nCOR++
			continue
		}
		ed.Amount = orig.Amount
		if a.Cents != 0 {
			ed.Amount = a.Cents
		}
		a99 := ach.NewAddenda99()
		a99.ReturnCode, a99.OriginalTrace, a99.OriginalDFI = a.Code, orig.TraceNumber, orig.RDFIIdentification
		ed.Addenda99, ed.Category = a99, ach.CategoryReturn
		returns.AddEntry(ed)
		nReturns++
	}
	out := ach.NewFile()
	fh := ach.NewFileHeader()
	fh.ImmediateDestination, fh.ImmediateOrigin = f.Header.ImmediateOrigin, f.Header.ImmediateDestination
	fh.FileCreationDate, fh.FileCreationTime, fh.FileIDModifier = f.Header.FileCreationDate, "0600", "A"
	fh.ImmediateDestinationName, fh.ImmediateOriginName = "LEDGER", "ODFI"
	out.SetHeader(fh)
	for _, b := range []struct {
		batch ach.Batcher
		n     int
	}{{returns, nReturns}, {cor, nCOR}} {
		if b.n == 0 {
			continue
		}
		if err := b.batch.Create(); err != nil {
			return nil, fmt.Errorf("the answers' batch: %w", err)
		}
		out.AddBatch(b.batch)
	}
	if err := out.Create(); err != nil {
		return nil, err
	}
	if err := out.Validate(); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := ach.NewWriter(&buf).Write(out); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Traces lists the trace numbers of a file's entries, in file order.
func Traces(file []byte) ([]string, error) {
	f, err := ach.NewReader(bytes.NewReader(file)).Read()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, b := range f.Batches {
		for _, ed := range b.GetEntries() {
			out = append(out, ed.TraceNumber)
		}
	}
	return out, nil
}
