package httpapi_test

import (
	"bytes"
	"cmp"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/httpapi"
	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
)

// listed is a reimbursement as a list shows it: its place in the order.
type listed struct {
	id          string
	submittedAt time.Time
}

// compareNewestFirst orders newest submission first: submitted_at, then
// id, both descending (a uuid's lowercase text sorts as its bytes do).
func compareNewestFirst(x, y listed) int {
	if c := y.submittedAt.Compare(x.submittedAt); c != 0 {
		return c
	}
	return strings.Compare(y.id, x.id)
}

// Sixteen members' clients submit at once over HTTP. Afterwards every page
// of the bank's list, the member's list and the CSV export hold every
// claim once, newest submission first (submitted_at, then id, descending),
// and each claim's submitted_at is a time within its own request.
func TestConcurrentSubmissionsListNewestFirst(t *testing.T) {
	api := newAPI(t)
	const clients, each = 16, 24
	type submission struct {
		listed
		sent, answered time.Time
		position       string
	}
	var (
		mu   sync.Mutex
		subs []submission
		wg   sync.WaitGroup
	)
	body := `{"bank_account_id":"` + api.dir.Account.ID.String() + `","amount":"7.00","description":"Bus fare"}`
	token := api.member()
	for range clients {
		wg.Go(func() {
			for range each {
				req, err := http.NewRequest(http.MethodPost, api.url+"/v1/reimbursements", strings.NewReader(body))
				if err != nil {
					t.Error(err)
					return
				}
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+token)
				sent := time.Now().Truncate(time.Microsecond)
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				var out struct {
					ID          string    `json:"id"`
					SubmittedAt time.Time `json:"submitted_at"`
				}
				err = json.NewDecoder(res.Body).Decode(&out)
				res.Body.Close()
				if err != nil || res.StatusCode != http.StatusCreated {
					t.Errorf("submit: %d, %v", res.StatusCode, err)
					return
				}
				mu.Lock()
				subs = append(subs, submission{listed{out.ID, out.SubmittedAt}, sent, time.Now(), res.Header.Get("Ledger-Position")})
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	// submitted_at is the ledger's clock when it recorded the submission.
	for _, s := range subs {
		if s.submittedAt.Before(s.sent) || s.submittedAt.After(s.answered) {
			t.Fatalf("%s: submitted_at %s is outside its request, %s to %s", s.id, s.submittedAt, s.sent, s.answered)
		}
	}
	want := make([]listed, len(subs))
	for i, s := range subs {
		want[i] = s.listed
	}
	slices.SortFunc(want, compareNewestFirst)

	// Every submission is in the lists before they are read.
	memberList := "/v1/members/" + api.dir.Member.ID.String() + "/reimbursements"
	for _, s := range subs {
		api.get(memberList+"?limit=1&min_position="+url.QueryEscape(s.position)).want(t, http.StatusOK)
	}

	admin := api.as(api.admin())
	bankList := "/v1/banks/" + api.dir.Bank.ID.String() + "/reimbursements"
	for _, c := range []struct {
		api  *ledgerAPI
		path string
	}{{admin, bankList + "?limit=7"}, {api, memberList + "?limit=50"}, {admin, memberList + "?limit=200"}} {
		var got []listed
		next, pages := "", 0
		for {
			path := c.path
			if next != "" {
				path += "&cursor=" + url.QueryEscape(next)
			}
			page := c.api.get(path).want(t, http.StatusOK)
			pages++
			for _, it := range page.items() {
				at, err := time.Parse(time.RFC3339Nano, it["submitted_at"].(string))
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, listed{it["id"].(string), at})
			}
			if next = page.str("next_cursor"); next == "" {
				break
			}
			if pages > len(want) {
				t.Fatalf("%s: the cursor does not end", c.path)
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%s: %d items over %d pages are not the %d submissions newest first (first difference at %s)",
				c.path, len(got), pages, len(want), firstDifference(got, want))
		}
	}

	// The export, read here 50 rows a batch, is in the same order.
	exporter := httptest.NewServer(httpapi.New(httpapi.Config{App: app.New(app.Config{Stores: api.db.Stores(), AuditKeys: postgrestest.AuditKeys, ExportBatch: 50}),
		Tokens: api.issuer.Verifier(), Ready: api.db.Ping, Logger: quiet, API: true}))
	t.Cleanup(exporter.Close)
	req, err := http.NewRequest(http.MethodGet, exporter.URL+"/v1/banks/"+api.dir.Bank.ID.String()+"/reimbursements/export", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+api.admin())
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("export: %d, %v", res.StatusCode, err)
	}
	records, err := csv.NewReader(bytes.NewReader(raw)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var exported []listed
	for _, row := range records[1:] {
		at, err := time.Parse(time.RFC3339Nano, row[8])
		if err != nil {
			t.Fatal(err)
		}
		exported = append(exported, listed{row[0], at})
	}
	if !slices.Equal(exported, want) {
		t.Fatalf("the export's %d rows are not the %d submissions newest first (first difference at %s)", len(exported), len(want), firstDifference(exported, want))
	}

	// What the order would have been by position, for the record.
	inverted := 0
	byPosition := slices.Clone(subs)
	slices.SortFunc(byPosition, func(x, y submission) int { return cmp.Compare(api.positionOf(y.id), api.positionOf(x.id)) })
	for i := 1; i < len(byPosition); i++ {
		if compareNewestFirst(byPosition[i-1].listed, byPosition[i].listed) > 0 {
			inverted++
		}
	}
	t.Logf("%d submissions; position order would have inverted %d neighbouring pairs", len(subs), inverted)
}

// positionOf is the position of a reimbursement's submission.
func (a *ledgerAPI) positionOf(id string) int64 {
	a.t.Helper()
	var p int64
	if err := a.db.SQL().QueryRow(`SELECT position FROM events WHERE stream_id = $1 AND stream_version = 1`, id).Scan(&p); err != nil {
		a.t.Fatal(err)
	}
	return p
}

func firstDifference(got, want []listed) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return strconv.Itoa(i) + ": got " + got[i].id + " " + got[i].submittedAt.String() + ", want " + want[i].id + " " + want[i].submittedAt.String()
		}
	}
	return "the end: " + strconv.Itoa(len(got)) + " against " + strconv.Itoa(len(want))
}
