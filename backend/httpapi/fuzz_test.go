package httpapi

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// FuzzDecodeSubmit: any body, with any content type, either decodes into a
// submission or is refused with a client error; decoding never panics and
// never fails in a way that would become a 500.
func FuzzDecodeSubmit(f *testing.F) {
	for _, seed := range []string{
		`{"bank_account_id":"0193a000-0000-7000-8000-000000000301","amount":"125.50","description":"Taxi"}`,
		`{"amount":125.5}`, `{"ammount":"1"}`, `[]`, `null`, `{}`, `{"description":"\u0000"}`, `{"a":`, ``, `{} {}`,
		`{"description":` + strings.Repeat("[", 10000), `"just a string"`, `{"amount":"1","amount":"2"}`,
	} {
		f.Add(seed, "application/json")
	}
	f.Add(`{"amount":"1"}`, "application/json; charset=utf-8")
	f.Add(`{"amount":"1"}`, "text/plain")
	e := echo.New()
	f.Fuzz(func(t *testing.T, body, contentType string) {
		req := httptest.NewRequest(http.MethodPost, "/v1/reimbursements", strings.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		c := e.NewContext(req, httptest.NewRecorder())
		var got submitRequest
		err := decodeJSON(c, &got)
		if err == nil {
			return
		}
		p, known := toProblem(err)
		if !known || p.Status < 400 || p.Status >= 500 {
			t.Fatalf("body %q (%s) was refused with %d (%v), want a 4xx problem", body, contentType, p.Status, err)
		}
		var de *ledger.Error
		if errors.As(err, &de) && de.Code == ledger.EInvalid && len(de.Fields) == 0 {
			t.Fatalf("a validation problem without the field: %v", err)
		}
	})
}

// FuzzCursor: any cursor string is decoded or refused without panicking,
// and every key round-trips through the cursor the API hands out; one
// list's cursor is refused by the others.
func FuzzCursor(f *testing.F) {
	f.Add("cjE6MTc2NTEzNjAwMDAwMDAwMDowMTkzYTAwMC0wMDAwLTcwMDAtODAwMC0wMDAwMDAwMDAxMDE", int64(1765136000000000), []byte("0123456789abcdef"))
	f.Add("", int64(1), []byte{})
	f.Add("djE6MTIz", int64(-1), []byte("0123456789abcdef"))
	f.Add("bm90LWEtY3Vyc29y", int64(0), []byte{1})
	f.Fuzz(func(t *testing.T, cursor string, micros int64, id []byte) {
		if k, ok := decodeKey(reimbursementCursorPrefix, cursor); ok {
			if again := encodeKey(reimbursementCursorPrefix, k); again == nil {
				t.Fatalf("cursor %q decoded to the zero key", cursor)
			}
		}
		var key app.PageKey
		key.CreatedAt = time.UnixMicro(max(micros, 0)).UTC() // the ledger's times are after 1970
		copy(key.ID[:], id)
		c := encodeKey(reimbursementCursorPrefix, key)
		if c == nil {
			if !key.IsZero() {
				t.Fatalf("key %v got no cursor", key)
			}
			return
		}
		if back, ok := decodeKey(reimbursementCursorPrefix, *c); !ok || !back.CreatedAt.Equal(key.CreatedAt) || back.ID != key.ID {
			t.Fatalf("key %v -> %q -> %v, %v", key, *c, back, ok)
		}
		if _, ok := decodeKey(directoryCursorPrefix, *c); ok {
			t.Fatalf("a directory list took the reimbursement cursor %q", *c)
		}
	})
}
