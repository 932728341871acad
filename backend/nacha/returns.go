package nacha

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/moov-io/ach"
	"github.com/shopspring/decimal"

	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// ErrMalformedFile is wrapped by ReadReturns' error when the file is not a
// valid NACHA file: truncated, a record of the wrong length or type,
// controls that do not add up. The error's text names the record and field.
var ErrMalformedFile = errors.New("malformed NACHA file")

// Return is an entry the RDFI sent back unpaid (an Addenda99).
type Return struct {
	OriginalTrace string // the trace number of the entry WriteFile wrote
	Code          string // R01, R03, ...
	Reason        string // the code's title in NACHA's table, e.g. "Insufficient Funds"
	Description   string // the table's longer description
	Cents         int64  // the amount returned, as the original entry carried it
	Amount        decimal.Decimal
	Date          time.Time // the return batch's effective entry date (UTC); zero when the file has none
	OriginalDFI   string    // the RDFI's 8-digit identification
	TraceNumber   string    // the return entry's own trace number
	Information   string    // the addenda information, when the RDFI gave any
}

// Correction is a notification of change (COR/NOC, an Addenda98): the entry
// settled, but the RDFI asks that future entries use corrected data.
type Correction struct {
	OriginalTrace string
	Code          string // C01, C02, ...
	Reason        string // e.g. "Incorrect bank account number"
	Description   string
	CorrectedData string // the field as the RDFI sent it
	Corrected     CorrectedData
	Date          time.Time
	TraceNumber   string
}

// CorrectedData is what a notification of change corrects, parsed by its
// code; only the fields the code corrects are set.
type CorrectedData struct {
	RoutingNumber   string
	AccountNumber   string
	TransactionCode int         // C05, C06, C07: the transaction code future entries must use
	AccountType     AccountType // which account that code credits, when it is checking or savings
	Name            string
	Identification  string
}

// Other is an entry of the file that is neither a return nor a
// notification of change this package reads; it is reported so that the
// caller can look into it, never dropped.
type Other struct {
	TraceNumber     string
	OriginalTrace   string // the entry it concerns, when its addenda names one
	Category        string // moov-io/ach's category: Forward, DishonoredReturn, ...
	TransactionCode int
	Cents           int64
	Why             string
}

// Report is what a returns file holds.
type Report struct {
	Returns     []Return
	Corrections []Correction
	Other       []Other
}

// ReadReturns parses and validates a returns file from the ODFI. A file that
// is not valid NACHA is an error wrapping ErrMalformedFile, and no report.
func ReadReturns(r io.Reader) (report Report, err error) {
	defer ledger.Wrap(&err, "nacha.ReadReturns")
	file, err := ach.NewReader(r).Read()
	if err != nil {
		return Report{}, fmt.Errorf("%w: %w", ErrMalformedFile, err)
	}
	if err := file.Validate(); err != nil {
		return Report{}, fmt.Errorf("%w: %w", ErrMalformedFile, err)
	}
	for _, b := range file.Batches {
		date := batchDate(b.GetHeader())
		for _, ed := range b.GetEntries() {
			switch {
			case ed.Addenda99 != nil:
				report.Returns = append(report.Returns, returnOf(ed, date))
			case ed.Addenda98 != nil:
				report.Corrections = append(report.Corrections, correctionOf(ed, date))
			default:
				report.Other = append(report.Other, otherOf(ed))
			}
		}
	}
	for _, b := range file.IATBatches {
		for _, ed := range b.Entries {
			report.Other = append(report.Other, Other{
				TraceNumber: ed.TraceNumber, Category: ed.Category, TransactionCode: ed.TransactionCode,
				Cents: int64(ed.Amount), Why: "an international (IAT) entry: not read by this package",
			})
		}
	}
	return report, nil
}

func returnOf(ed *ach.EntryDetail, date time.Time) Return {
	a := ed.Addenda99
	ret := Return{
		OriginalTrace: a.OriginalTraceField(),
		Code:          a.ReturnCode,
		Cents:         int64(ed.Amount),
		Amount:        decimal.New(int64(ed.Amount), -2),
		Date:          date,
		OriginalDFI:   a.OriginalDFI,
		TraceNumber:   ed.TraceNumber,
		Information:   a.AddendaInformation,
	}
	if rc := a.ReturnCodeField(); rc != nil {
		ret.Reason, ret.Description = rc.Reason, rc.Description
	}
	return ret
}

func correctionOf(ed *ach.EntryDetail, date time.Time) Correction {
	a := ed.Addenda98
	c := Correction{
		OriginalTrace: a.OriginalTraceField(),
		Code:          a.ChangeCode,
		CorrectedData: a.CorrectedData,
		Date:          date,
		TraceNumber:   ed.TraceNumber,
	}
	if cc := a.ChangeCodeField(); cc != nil {
		c.Reason, c.Description = cc.Reason, cc.Description
	}
	if d := a.ParseCorrectedData(); d != nil {
		c.Corrected = CorrectedData{
			RoutingNumber:   d.RoutingNumber,
			AccountNumber:   d.AccountNumber,
			TransactionCode: d.TransactionCode,
			AccountType:     accountTypeOf(d.TransactionCode),
			Name:            d.Name,
			Identification:  d.Identification,
		}
	}
	return c
}

func otherOf(ed *ach.EntryDetail) Other {
	o := Other{TraceNumber: ed.TraceNumber, Category: ed.Category, TransactionCode: ed.TransactionCode, Cents: int64(ed.Amount)}
	switch {
	case ed.Addenda99Dishonored != nil:
		o.OriginalTrace = ed.Addenda99Dishonored.OriginalEntryTraceNumber
		o.Why = "a dishonored return (" + ed.Addenda99Dishonored.DishonoredReturnReasonCode + "): the ODFI refused a return"
	case ed.Addenda99Contested != nil:
		o.OriginalTrace = ed.Addenda99Contested.OriginalEntryTraceNumber
		o.Why = "a contested dishonored return (" + ed.Addenda99Contested.ContestedReturnCode + ")"
	case ed.Addenda98Refused != nil:
		o.OriginalTrace = ed.Addenda98Refused.OriginalTrace
		o.Why = "a refused notification of change (" + ed.Addenda98Refused.RefusedChangeCode + ")"
	default:
		o.Why = "neither a return nor a notification of change"
	}
	return o
}

// accountTypeOf names the account a transaction code reaches, when it is
// one a payout could credit.
func accountTypeOf(code int) AccountType {
	switch code / 10 {
	case 2:
		return Checking
	case 3:
		return Savings
	}
	return ""
}

// batchDate is the batch's effective entry date, or zero.
func batchDate(bh *ach.BatchHeader) time.Time {
	t, err := time.Parse("060102", bh.EffectiveEntryDate)
	if err != nil {
		return time.Time{}
	}
	return t
}
