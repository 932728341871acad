package httpapi_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/httpapi"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
)

// Tiny but real files of each receipt type.
func tinyPDF() []byte {
	return []byte("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n" +
		"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")
}

func tinyImage(t *testing.T, encode func(io.Writer, image.Image) error) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 2, 2))
	img.Set(1, 1, color.RGBA{R: 200, A: 255})
	var b bytes.Buffer
	if err := encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// tinyHEIC is the start of a HEIC file: its ftyp box (major brand heic,
// compatible mif1 and heic), then a meta box's header.
func tinyHEIC() []byte {
	return append([]byte{0, 0, 0, 24, 'f', 't', 'y', 'p', 'h', 'e', 'i', 'c', 0, 0, 0, 0, 'm', 'i', 'f', '1', 'h', 'e', 'i', 'c'},
		0, 0, 0, 12, 'm', 'e', 't', 'a', 0, 0, 0, 0)
}

// multipartBody is a multipart/form-data body with one file part, sent as
// the client says: under field, named filename, declared as partType.
func multipartBody(t *testing.T, field, filename, partType string, data []byte) (body []byte, contentType string) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, field, filename))
	h.Set("Content-Type", partType)
	part, err := w.CreatePart(h)
	if err != nil {
		t.Fatal(err)
	}
	part.Write(data)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes(), w.FormDataContentType()
}

// send sends a body of any type as the caller, checked against the spec.
func (a *ledgerAPI) send(method, path string, body io.Reader, contentType string, contentLength int64) response {
	a.t.Helper()
	req, err := http.NewRequest(method, a.url+path, body)
	if err != nil {
		a.t.Fatal(err)
	}
	req.ContentLength = contentLength
	req.Header.Set("Content-Type", contentType)
	token := a.token
	if token == "" {
		token = a.defaultToken(method, path)
	}
	if token != noToken {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	checkAgainstSpec(a.t, req, res, raw)
	r := response{status: res.StatusCode, header: res.Header, raw: string(raw)}
	if strings.Contains(res.Header.Get("Content-Type"), "json") {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			a.t.Fatalf("%s %s answered %d with a body that is not a JSON object: %s", method, path, res.StatusCode, raw)
		}
	}
	return r
}

func (a *ledgerAPI) upload(id, field, filename, partType string, data []byte) response {
	a.t.Helper()
	body, ct := multipartBody(a.t, field, filename, partType, data)
	return a.send(http.MethodPost, "/v1/reimbursements/"+id+"/receipts", bytes.NewReader(body), ct, int64(len(body)))
}

func sha256Hex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// A member uploads a receipt of each type over real HTTP; they and their
// bank's administrators read it back byte for byte, as an attachment the
// browser must not sniff or run; anyone else finds nothing.
func TestReceiptsOverHTTP(t *testing.T) {
	api := newAPI(t)
	id := api.submit("80.00").str("id")
	files := []struct {
		name, partType, want, ext string
		data                      []byte
	}{
		{"invoice.pdf", "application/pdf", ledger.ContentTypePDF, "pdf", tinyPDF()},
		{"photo.jpg", "image/jpeg", ledger.ContentTypeJPEG, "jpg", tinyImage(t, func(w io.Writer, m image.Image) error { return jpeg.Encode(w, m, nil) })},
		{"scan.png", "image/png", ledger.ContentTypePNG, "png", tinyImage(t, png.Encode)},
		{"IMG_0001.HEIC", "image/heic", ledger.ContentTypeHEIC, "heic", tinyHEIC()},
		// The sender's name and type are not believed: the bytes are a PDF.
		{"photo.png", "image/png", ledger.ContentTypePDF, "pdf", tinyPDF()},
	}
	var ids []string
	for _, f := range files {
		got := api.upload(id, "file", f.name, f.partType, f.data).want(t, http.StatusCreated)
		if got.str("content_type") != f.want || got.str("sha256") != sha256Hex(f.data) || got.body["size"] != float64(len(f.data)) || got.str("attached_at") == "" {
			t.Fatalf("%s: %s", f.name, got.raw)
		}
		if loc := got.header.Get("Location"); loc != "/v1/reimbursements/"+id+"/receipts/"+got.str("id") {
			t.Fatalf("%s: Location %q", f.name, loc)
		}
		ids = append(ids, got.str("id"))
	}
	for _, token := range []string{api.member(), api.admin()} {
		list := api.as(token).get("/v1/reimbursements/"+id+"/receipts").want(t, http.StatusOK)
		if items := list.items(); len(items) != len(files) || items[0]["id"] != ids[0] || items[3]["content_type"] != ledger.ContentTypeHEIC || list.body["next_cursor"] != nil {
			t.Fatalf("listed %s", list.raw)
		}
		for i, f := range files {
			got := api.as(token).get("/v1/reimbursements/"+id+"/receipts/"+ids[i]).want(t, http.StatusOK)
			h := got.header
			if got.raw != string(f.data) || h.Get("Content-Type") != f.want || h.Get("Content-Length") != fmt.Sprint(len(f.data)) ||
				h.Get("Content-Disposition") != fmt.Sprintf(`attachment; filename="%s.%s"`, ids[i], f.ext) ||
				h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Content-Security-Policy") != "default-src 'none'; sandbox" {
				t.Fatalf("%s downloaded as %v, %d bytes", f.name, h, len(got.raw))
			}
		}
	}
	claim := api.get("/v1/reimbursements/"+id).want(t, http.StatusOK)
	if claim.body["receipt_count"] != float64(len(files)) || claim.str("status") != "pending" {
		t.Fatalf("the claim after its receipts: %s", claim.raw)
	}
	story := api.get("/v1/reimbursements/"+id+"/events").want(t, http.StatusOK).items()
	if len(story) != 1+len(files) || story[1]["type"] != ledger.TypeReceiptAttached {
		t.Fatalf("story %v", story)
	}

	// Another bank's administrator and another member find nothing, exactly
	// as for an id that does not exist; an auditor's role may not read receipts.
	ctx := t.Context()
	a := postgrestest.App(api.db)
	stranger, err := a.CreateMember(ctx, app.Administrator(api.dir.Admin.ID, api.dir.Bank.ID),
		ledger.Member{ID: uuid.New(), FirstName: "Grace", LastName: "Brewster", Email: "brewster@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	strangerToken := api.issuer.Token("member", stranger.ID.String())
	unknown := uuid.NewString()
	for who, token := range map[string]string{"another bank's administrator": api.otherAdmin(), "another member": strangerToken} {
		for _, path := range []string{"/v1/reimbursements/" + id + "/receipts", "/v1/reimbursements/" + id + "/receipts/" + ids[0]} {
			foreign := api.as(token).get(path).wantProblem(t, http.StatusNotFound)
			if strings.Contains(foreign.raw, ids[0]) {
				t.Fatalf("%s: %s", who, foreign.raw)
			}
		}
	}
	body, ct := multipartBody(t, "file", "x.pdf", "application/pdf", tinyPDF())
	api.as(strangerToken).send(http.MethodPost, "/v1/reimbursements/"+id+"/receipts", bytes.NewReader(body), ct, int64(len(body))).wantProblem(t, http.StatusNotFound)
	api.get("/v1/reimbursements/"+unknown+"/receipts").wantProblem(t, http.StatusNotFound)
	api.get("/v1/reimbursements/"+id+"/receipts/"+unknown).wantProblem(t, http.StatusNotFound)
	api.as(api.auditor()).get("/v1/reimbursements/"+id+"/receipts").wantProblem(t, http.StatusForbidden)

	// Refused uploads: a text file named x.pdf and declared a PDF, no file
	// part, not multipart at all.
	api.upload(id, "file", "x.pdf", "application/pdf", []byte("Total: 80.00 USD, paid in cash\n")).wantProblem(t, http.StatusUnsupportedMediaType)
	api.upload(id, "receipt", "x.pdf", "application/pdf", tinyPDF()).wantProblem(t, http.StatusUnprocessableEntity)
	api.send(http.MethodPost, "/v1/reimbursements/"+id+"/receipts", strings.NewReader(`{"file":"x"}`), "application/json", -1).wantProblem(t, http.StatusUnsupportedMediaType)
	api.send(http.MethodPost, "/v1/reimbursements/"+id+"/receipts", strings.NewReader("x"), "multipart/form-data", -1).wantProblem(t, http.StatusBadRequest)
	if n := len(api.get("/v1/reimbursements/"+id+"/receipts").want(t, http.StatusOK).items()); n != len(files) {
		t.Fatalf("%d receipts after refused uploads", n)
	}

	// Once the claim is no longer pending, no receipt is attached.
	api.post("/v1/reimbursements/"+id+"/withdraw", "").want(t, http.StatusOK)
	late := api.upload(id, "file", "late.pdf", "application/pdf", tinyPDF()).wantProblem(t, http.StatusConflict)
	if !strings.Contains(late.str("detail"), "withdrawn") {
		t.Fatalf("late receipt: %s", late.raw)
	}
	mustStoredReceipts(t, api, len(files))
}

// mustStoredReceipts fails unless the database holds n receipts' bytes, and
// no large object without its row.
func mustStoredReceipts(t *testing.T, api *ledgerAPI, n int) {
	t.Helper()
	var rows, objects int
	if err := api.db.SQL().QueryRow(`SELECT (SELECT count(*) FROM receipts), (SELECT count(*) FROM pg_largeobject_metadata)`).Scan(&rows, &objects); err != nil {
		t.Fatal(err)
	}
	if rows != n || objects != n {
		t.Fatalf("%d receipts and %d large objects stored, want %d", rows, objects, n)
	}
}

// A policy that requires a receipt above an amount refuses the approval of
// a claim above it until its member attached one, naming the rule.
func TestPolicyRequiresAReceipt(t *testing.T) {
	api := newAPI(t)
	bank := api.dir.Bank.ID.String()
	set := api.put("/v1/banks/"+bank+"/approval-policy", `{"second_approval_above":"1000.00","currency":"USD","receipt_required_above":"50.00"}`).want(t, http.StatusOK)
	if set.str("receipt_required_above") != "50.00" {
		t.Fatalf("policy set %s", set.raw)
	}
	if got := api.as(api.admin()).get("/v1/banks/"+bank+"/approval-policy").want(t, http.StatusOK); got.str("receipt_required_above") != "50.00" {
		t.Fatalf("policy read %s", got.raw)
	}
	small := api.submit("50.00").str("id")
	api.post("/v1/reimbursements/"+small+"/approve", "").want(t, http.StatusOK)

	id := api.submit("75.00").str("id")
	refused := api.post("/v1/reimbursements/"+id+"/approve", "").wantProblem(t, http.StatusConflict)
	if !strings.Contains(refused.str("detail"), "the bank's approval policy requires a receipt above 50.00 USD") {
		t.Fatalf("approval without a receipt: %s", refused.raw)
	}
	api.upload(id, "file", "taxi.pdf", "application/pdf", tinyPDF()).want(t, http.StatusCreated)
	approved := api.post("/v1/reimbursements/"+id+"/approve", "").want(t, http.StatusOK)
	if approved.str("status") != "approved" || approved.body["receipt_count"] != float64(1) {
		t.Fatalf("approved %s", approved.raw)
	}
	// Without the rule again, no receipt is asked for.
	cleared := api.put("/v1/banks/"+bank+"/approval-policy", `{"second_approval_above":"1000.00","currency":"USD"}`).want(t, http.StatusOK)
	if cleared.body["receipt_required_above"] != nil {
		t.Fatalf("policy cleared %s", cleared.raw)
	}
	api.post("/v1/reimbursements/"+api.submit("75.00").str("id")+"/approve", "").want(t, http.StatusOK)
}

// countingReader counts the bytes the HTTP client pulled from the body.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// pdfStream yields a PDF-looking stream of n bytes without holding them.
type pdfStream struct{ left int64 }

func (s *pdfStream) Read(p []byte) (int, error) {
	if s.left <= 0 {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), s.left))
	for i := range p[:n] {
		p[i] = 'x'
	}
	s.left -= int64(n)
	return n, nil
}

// An upload over the limit gets 413, and the server stops reading soon
// after the limit: the client could not hand over the rest of the body.
func TestOversizedReceiptIsNotReadToItsEnd(t *testing.T) {
	api := newAPI(t)
	const limit = 64 << 10
	srv := httptest.NewServer(httpapi.New(httpapi.Config{
		App:    app.New(app.Config{Stores: api.db.Stores(), AuditKeys: postgrestest.AuditKeys, ReceiptMaxBytes: limit}),
		Tokens: api.issuer.Verifier(), Ready: api.db.Ping, Logger: quiet, API: true}))
	t.Cleanup(srv.Close)
	small := *api
	small.url = srv.URL
	id := api.submit("80.00").str("id")

	const total = 64 << 20
	head, ct := multipartBody(t, "file", "huge.pdf", "application/pdf", []byte("%PDF-1.4\n"))
	trailer := head[bytes.LastIndex(head, []byte("\r\n--")):]
	head = head[:bytes.LastIndex(head, []byte("\r\n--"))]
	for _, known := range []bool{false, true} {
		body := &countingReader{r: io.MultiReader(bytes.NewReader(head), &pdfStream{left: total}, bytes.NewReader(trailer))}
		length := int64(-1) // chunked: the server learns the size only by reading
		if known {
			length = int64(len(head) + total + len(trailer))
		}
		got := small.send(http.MethodPost, "/v1/reimbursements/"+id+"/receipts", body, ct, length).wantProblem(t, http.StatusRequestEntityTooLarge)
		if !strings.Contains(got.str("detail"), fmt.Sprint(limit)) {
			t.Fatalf("413 with %s", got.raw)
		}
		// What the client handed over is the limit, the buffers of the
		// connection, and nothing more: far less than the body.
		pulled := body.n.Load()
		if pulled > total/4 {
			t.Fatalf("content length known %v: the client handed over %d of %d bytes", known, pulled, total)
		}
		t.Logf("content length known %v: the client handed over %d of %d bytes", known, pulled, total)
	}
	// One byte over the limit is refused, the limit itself taken.
	over := append(tinyPDF(), bytes.Repeat([]byte{' '}, limit+1-len(tinyPDF()))...)
	small.upload(id, "file", "over.pdf", "application/pdf", over).wantProblem(t, http.StatusRequestEntityTooLarge)
	mustStoredReceipts(t, api, 0)
	small.upload(id, "file", "exact.pdf", "application/pdf", over[:limit]).want(t, http.StatusCreated)
	mustStoredReceipts(t, api, 1)
}

// audit verify re-hashes every stored receipt: bytes swapped in storage are
// reported, naming the receipt and its claim.
func TestVerifyCatchesASwappedReceipt(t *testing.T) {
	api := newAPI(t)
	id := api.submit("80.00").str("id")
	receipt := api.upload(id, "file", "invoice.pdf", "application/pdf", tinyPDF()).want(t, http.StatusCreated).str("id")
	auditor := api.as(api.auditor())
	if ok := auditor.get("/v1/audit/verify").want(t, http.StatusOK); ok.body["ok"] != true {
		t.Fatalf("verify with an intact receipt: %s", ok.raw)
	}
	// Same length, one amount changed, written straight into the large object.
	forged := bytes.Replace(tinyPDF(), []byte("/Count 0"), []byte("/Count 9"), 1)
	if _, err := api.db.SQL().Exec(`SELECT lo_put(blob, 0, $2) FROM receipts WHERE id = $1`, receipt, forged); err != nil {
		t.Fatal(err)
	}
	if got := api.get("/v1/reimbursements/"+id+"/receipts/"+receipt).want(t, http.StatusOK); got.raw != string(forged) {
		t.Fatalf("the forged bytes were not stored: %q", got.raw)
	}
	broken := auditor.get("/v1/audit/verify").want(t, http.StatusOK)
	problem, _ := broken.body["problem"].(map[string]any)
	if broken.body["ok"] != false || problem == nil || problem["stream_id"] != id ||
		!strings.Contains(problem["detail"].(string), receipt) || !strings.Contains(problem["detail"].(string), id) {
		t.Fatalf("verify after the receipt was swapped: %s", broken.raw)
	}
}
