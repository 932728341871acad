package httpapi

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"iter"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/wire"
)

// CSVWriter writes reimbursements as CSV, one row each after a header row
// that names the columns as the JSON fields: RFC 4180 quoting (encoding/csv)
// and CRLF between records, amounts as decimal strings with the currency's
// decimal places, times in RFC 3339 UTC, an absent value empty. A cell that
// a spreadsheet would run as a formula (one that begins with =, +, -, @, a
// tab or a carriage return) starts with a single quote instead, as OWASP
// advises against CSV injection: members write the descriptions.
type CSVWriter struct {
	out io.Writer
	// record holds one record while encoding/csv quotes it: a line break
	// inside a field is kept as it was sent, and only the record ends with
	// CRLF (encoding/csv's UseCRLF would rewrite the line breaks inside).
	record bytes.Buffer
	enc    *csv.Writer
	cells  []string
}

// exportHeader names the export's columns.
const exportHeader = "id,bank_id,bank_member_id,bank_account_id,amount,currency,description,status," +
	"submitted_at,decided_at,decided_by,denial_reason,payment_status,version,receipt_count"

// NewCSVWriter writes the header row to out and returns the writer of the rows.
func NewCSVWriter(out io.Writer) (*CSVWriter, error) {
	w := &CSVWriter{out: out}
	w.enc = csv.NewWriter(&w.record)
	return w, w.write(strings.Split(exportHeader, ","))
}

// Write writes one reimbursement's row.
func (w *CSVWriter) Write(r ledger.Reimbursement) error {
	j := wire.NewReimbursement(r)
	w.cells = append(w.cells[:0], j.ID.String(), j.BankID.String(), j.BankMemberID.String(), j.BankAccountID.String(),
		j.Amount, j.Currency, j.Description, j.Status, j.SubmittedAt.Format(time.RFC3339Nano), "", "", "",
		j.PaymentStatus, strconv.FormatInt(j.Version, 10), strconv.Itoa(j.ReceiptCount))
	if j.DecidedAt != nil {
		w.cells[9] = j.DecidedAt.UTC().Format(time.RFC3339Nano)
	}
	if j.DecidedBy != nil {
		w.cells[10] = j.DecidedBy.String()
	}
	if j.DenialReason != nil {
		w.cells[11] = *j.DenialReason
	}
	return w.write(w.cells)
}

func (w *CSVWriter) write(cells []string) error {
	for i, cell := range cells {
		cells[i] = neutralise(cell)
	}
	w.record.Reset()
	if err := w.enc.Write(cells); err != nil {
		return err
	}
	w.enc.Flush()
	line := w.record.Bytes()
	line = append(line[:len(line)-1], '\r', '\n') // encoding/csv ends the record with \n
	_, err := w.out.Write(line)
	return err
}

// neutralise keeps a spreadsheet from reading a cell as a formula.
func neutralise(cell string) string {
	if cell != "" && strings.IndexByte("=+-@\t\r", cell[0]) >= 0 {
		return "'" + cell
	}
	return cell
}

// exportWriteTimeout is how long each batch of an export may take to reach
// the client: a stalled client is let go, a long export is not (the
// server's write timeout would end it however well it went).
const exportWriteTimeout = 30 * time.Second

// exportReimbursements streams a bank's reimbursements as CSV, with the
// lists' filters and min_position, a batch at a time: it holds one batch however many rows
// there are, and sends each before it reads the next. Until the first
// batch is read nothing is sent, so an error is still a problem answer;
// after that, an error ends the connection without the closing chunk, so
// that the client sees a broken transfer, not a short file.
func (s *Server) exportReimbursements(c echo.Context) error {
	id, err := pathID(c, "bank_id", "bank")
	if err != nil {
		return err
	}
	q, err := queryFilters(c)
	if err != nil {
		return err
	}
	q.BankID = id
	q.MinPosition = c.QueryParam("min_position")
	ctx := c.Request().Context()
	batches, err := s.app.ExportReimbursements(ctx, principal(c), q)
	if err != nil {
		return err
	}
	next, stop := iter.Pull2(batches)
	defer stop()
	batch, err, _ := next()
	if err != nil {
		return err
	}

	res := c.Response()
	res.Header().Set(echo.HeaderContentType, "text/csv; charset=utf-8; header=present")
	res.Header().Set(echo.HeaderContentDisposition, `attachment; filename="reimbursements-`+id.String()+`.csv"`)
	res.Header().Set("Cache-Control", "no-store")
	res.WriteHeader(http.StatusOK)
	conn := http.NewResponseController(res.Writer)
	buffered := bufio.NewWriterSize(res, 32<<10)
	out, err := NewCSVWriter(buffered)
	n := 0
	// The next batch is read only once this one is written: read in the
	// loop's post statement, it would overwrite a failed write's error.
	for more := true; err == nil && more; {
		if err = conn.SetWriteDeadline(time.Now().Add(exportWriteTimeout)); errors.Is(err, http.ErrNotSupported) {
			err = nil
		}
		for _, r := range batch {
			if err == nil {
				err = out.Write(r)
				n++
			}
		}
		if err == nil {
			err = buffered.Flush()
		}
		if err == nil {
			err = conn.Flush()
		}
		if err == nil {
			batch, err, more = next()
		}
	}
	if err != nil {
		if ctx.Err() == nil {
			s.logger.ErrorContext(ctx, "export failed after it began: connection aborted", "error", err, "bank_id", id, "rows", n)
		}
		panic(http.ErrAbortHandler)
	}
	return nil
}
