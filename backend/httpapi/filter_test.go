package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// The lists' filters over HTTP: each narrows the list, they combine with
// status, and a bad value is a 400 naming its parameter.
func TestListFilters(t *testing.T) {
	api := newAPI(t)
	admin := api.as(api.admin())
	small := api.submit("9.99")
	exact := api.submit("125.50")
	large := api.submit("1000.00")
	at := admin.post("/v1/reimbursements/"+large.str("id")+"/approve", "").want(t, http.StatusOK).header.Get("Ledger-Position")
	bankList := "/v1/banks/" + api.dir.Bank.ID.String() + "/reimbursements?min_position=" + at
	memberList := "/v1/members/" + api.dir.Member.ID.String() + "/reimbursements?min_position=" + at
	day := func(r response) string {
		submitted, err := time.Parse(time.RFC3339Nano, r.str("submitted_at"))
		if err != nil {
			t.Fatal(err)
		}
		return submitted.Format(time.DateOnly)
	}
	ids := func(rs ...response) []string {
		out := []string{}
		for _, r := range rs {
			out = append(out, r.str("id"))
		}
		return out
	}
	for _, tt := range []struct {
		query string
		want  []string
	}{
		{"&amount_min=125.5&amount_max=125.50", ids(exact)},
		{"&amount_min=10", ids(large, exact)},
		{"&amount_max=125.49", ids(small)},
		{"&status=pending&amount_min=100", ids(exact)},
		{"&status=approved&payment_status=none", nil}, // the stub rail's payment may be requested or settled by now
		{"&payment_status=failed", ids()},
		{"&submitted_from=" + day(small) + "&submitted_to=" + day(large), ids(large, exact, small)},
		{"&submitted_to=" + day(small) + "T00:00:00Z", ids()},
	} {
		for _, list := range []string{bankList, memberList} {
			items := admin.get(list+tt.query).want(t, http.StatusOK).items()
			if tt.want == nil {
				continue
			}
			var got []string
			for _, it := range items {
				got = append(got, it["id"].(string))
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("%s%s: %v, want %v", list, tt.query, got, tt.want)
			}
		}
	}

	for _, tt := range []struct{ query, field string }{
		{"submitted_from=yesterday", "submitted_from"},
		{"submitted_to=2026-03-01T09:00:00", "submitted_to"}, // no offset
		{"amount_min=1e3", "amount_min"},
		{"amount_max=12,50", "amount_max"},
		{"payment_status=paid", "payment_status"},
		{"status=open", "status"},
		{"amount_min=10&amount_max=9.99", "amount_max"},
		{"submitted_from=2026-03-02&submitted_to=2026-03-01", "submitted_to"},
	} {
		for _, list := range []string{bankList, memberList} {
			r := admin.get(list+"&"+tt.query).wantProblem(t, http.StatusBadRequest)
			if r.fieldError(tt.field) == "" || !strings.Contains(r.str("detail"), tt.field) {
				t.Errorf("%s&%s: %s, want a problem naming %s", list, tt.query, r.raw, tt.field)
			}
		}
	}
}
