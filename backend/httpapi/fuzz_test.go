package httpapi

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

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
// and every position round-trips through the cursor the API hands out.
func FuzzCursor(f *testing.F) {
	f.Add("djE6MTIz", int64(123))
	f.Add("", int64(1))
	f.Add("djE6MDEy", int64(9223372036854775807))
	f.Add("bm90LWEtY3Vyc29y", int64(42))
	f.Add("djE6LTE", int64(-1))
	f.Fuzz(func(t *testing.T, cursor string, position int64) {
		if p, ok := decodeCursor(cursor); ok && p <= 0 {
			t.Fatalf("cursor %q decoded to position %d", cursor, p)
		}
		if position <= 0 {
			if encodeCursor(position) != nil {
				t.Fatalf("position %d got a cursor", position)
			}
			return
		}
		c := encodeCursor(position)
		if c == nil {
			t.Fatalf("position %d got no cursor", position)
		}
		if back, ok := decodeCursor(*c); !ok || back != position {
			t.Fatalf("position %d -> %q -> %d, %v", position, *c, back, ok)
		}
	})
}
