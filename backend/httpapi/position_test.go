package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/auth/authtest"
	"github.com/reimbursement-ledger/ledger/backend/httpapi"
	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
)

// streamPositions returns the positions of a stream's events, oldest first.
func (a *ledgerAPI) streamPositions(id string) []string {
	a.t.Helper()
	rows, err := a.db.SQL().Query(`SELECT position FROM events WHERE stream_id = $1 ORDER BY stream_version`, id)
	if err != nil {
		a.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var p int64
		if err := rows.Scan(&p); err != nil {
			a.t.Fatal(err)
		}
		out = append(out, strconv.FormatInt(p, 10))
	}
	if err := rows.Err(); err != nil {
		a.t.Fatal(err)
	}
	return out
}

// position is the answer's Ledger-Position, failing the test without one.
func (r response) position(t *testing.T) string {
	t.Helper()
	values := r.header.Values("Ledger-Position")
	if len(values) != 1 || values[0] == "" {
		t.Fatalf("Ledger-Position %q, want one position; headers %v", values, r.header)
	}
	return values[0]
}

// Every command that appends tells where its event landed, replays too;
// one that appends nothing says nothing.
func TestCommandAnswersCarryTheirPosition(t *testing.T) {
	api := newAPI(t)
	approvedID := api.submit("30.00").str("id")
	deniedID := api.submit("31.00")
	if got, want := deniedID.position(t), api.streamPositions(deniedID.str("id"))[0]; got != want {
		t.Fatalf("submission answered Ledger-Position %s, its event is at %s", got, want)
	}
	approved := api.post("/v1/reimbursements/"+approvedID+"/approve", "").want(t, http.StatusOK)
	if got, want := approved.position(t), api.streamPositions(approvedID)[1]; got != want {
		t.Fatalf("approval answered Ledger-Position %s, its event is at %s", got, want)
	}
	denied := api.post("/v1/reimbursements/"+deniedID.str("id")+"/deny", `{"reason":"no receipt"}`).want(t, http.StatusOK)
	if got, want := denied.position(t), api.streamPositions(deniedID.str("id"))[1]; got != want {
		t.Fatalf("denial answered Ledger-Position %s, its event is at %s", got, want)
	}

	// A replay is the stored answer, position included.
	body := `{"bank_account_id":"` + api.dir.Account.ID.String() + `","amount":"32.00","description":"Parking"}`
	first := api.post("/v1/reimbursements", body, "Idempotency-Key", "position-1").want(t, http.StatusCreated)
	again := api.post("/v1/reimbursements", body, "Idempotency-Key", "position-1").want(t, http.StatusCreated)
	if again.header.Get("Idempotent-Replayed") != "true" || again.position(t) != first.position(t) ||
		first.position(t) != api.streamPositions(first.str("id"))[0] {
		t.Fatalf("replayed Ledger-Position %q (replayed %q), first %q", again.header.Get("Ledger-Position"),
			again.header.Get("Idempotent-Replayed"), first.header.Get("Ledger-Position"))
	}

	// The directory appends no events: no position to read up to.
	member := api.as(api.admin()).post("/v1/members", `{"first_name":"Alan","last_name":"Turing","email":"alan-position@example.com"}`).want(t, http.StatusCreated)
	if member.header.Get("Ledger-Position") != "" {
		t.Fatalf("creating a member answered Ledger-Position %q", member.header.Get("Ledger-Position"))
	}
	// Nor does a refused command.
	if r := api.post("/v1/reimbursements/"+approvedID+"/approve", "").wantProblem(t, http.StatusConflict); r.header.Get("Ledger-Position") != "" {
		t.Fatalf("a refused approval answered Ledger-Position %q", r.header.Get("Ledger-Position"))
	}
}

// A list sent the position a command answered shows that command's effect,
// on its first read.
func TestListAtACommandsPositionShowsIt(t *testing.T) {
	api := newAPI(t)
	memberList := "/v1/members/" + api.dir.Member.ID.String() + "/reimbursements"
	bankList := "/v1/banks/" + api.dir.Bank.ID.String() + "/reimbursements"
	for range 3 {
		submitted := api.submit("12.00")
		id, at := submitted.str("id"), submitted.position(t)
		if items := api.get(memberList+"?min_position="+at).want(t, http.StatusOK).items(); len(items) == 0 || items[0]["id"] != id {
			t.Fatalf("the member's list at %s: %v, want %s first", at, items, id)
		}
		if items := api.as(api.admin()).get(bankList+"?status=pending&min_position="+at).want(t, http.StatusOK).items(); len(items) == 0 || items[0]["id"] != id {
			t.Fatalf("the bank's pending list at %s: %v, want %s first", at, items, id)
		}
	}
	id := api.submit("13.00").str("id")
	at := api.post("/v1/reimbursements/"+id+"/approve", "").want(t, http.StatusOK).position(t)
	items := api.get(bankList+"?status=approved&min_position="+at).want(t, http.StatusOK).items()
	if len(items) != 1 || items[0]["id"] != id || items[0]["status"] != "approved" {
		t.Fatalf("the bank's approved list at the approval's position %s: %v", at, items)
	}
	// An administrator reading the member's list waits the same way.
	items = api.as(api.admin()).get(memberList+"?status=approved&min_position="+at).want(t, http.StatusOK).items()
	if len(items) != 1 || items[0]["id"] != id {
		t.Fatalf("the member's approved list, read by their bank's administrator at %s: %v", at, items)
	}
}

// Without a projector, a list sent a position waits its bound and then
// says so: 503 with Retry-After. Without min_position it answers at once.
func TestListBehindItsPositionAnswers503(t *testing.T) {
	db := postgrestest.NewDB(t)
	api := &ledgerAPI{t: t, db: db, dir: postgrestest.MustDirectory(t, db), issuer: authtest.NewIssuer(t)}
	useCases := app.New(app.Config{Stores: db.Stores(), AuditKeys: postgrestest.AuditKeys, ReadWait: 20 * time.Millisecond})
	srv := httptest.NewServer(httpapi.New(httpapi.Config{App: useCases, Tokens: api.issuer.Verifier(), Ready: db.Ping, Logger: quiet, API: true}))
	t.Cleanup(srv.Close)
	api.url = srv.URL

	at := api.submit("14.00").position(t)
	memberList := "/v1/members/" + api.dir.Member.ID.String() + "/reimbursements"
	behind := api.get(memberList+"?min_position="+at).wantProblem(t, http.StatusServiceUnavailable)
	if behind.str("type") != "/problems/not-caught-up" {
		t.Fatalf("problem type %q", behind.str("type"))
	}
	if seconds, err := strconv.Atoi(behind.header.Get("Retry-After")); err != nil || seconds < 1 {
		t.Fatalf("Retry-After %q, want whole seconds", behind.header.Get("Retry-After"))
	}
	if items := api.get(memberList).want(t, http.StatusOK).items(); len(items) != 0 {
		t.Fatalf("nothing is projected, yet the list shows %v", items)
	}
}

// min_position is a position an answer gave: anything else is refused
// like any bad query value, once the caller may read the list at all.
func TestListRefusesABadMinPosition(t *testing.T) {
	api := newAPI(t)
	at := api.submit("15.00").position(t)
	next, _ := strconv.ParseInt(at, 10, 64)
	bankList := "/v1/banks/" + api.dir.Bank.ID.String() + "/reimbursements"
	memberList := "/v1/members/" + api.dir.Member.ID.String() + "/reimbursements"
	for _, path := range []string{
		bankList + "?min_position=-1",
		bankList + "?min_position=soon",
		bankList + "?min_position=" + strconv.FormatInt(next+1000, 10),
		memberList + "?min_position=99999999999999999999",
		memberList + "?min_position=" + strconv.FormatInt(next+1000, 10),
	} {
		if r := api.as(api.admin()).get(path).wantProblem(t, http.StatusBadRequest); r.fieldError("min_position") == "" {
			t.Fatalf("GET %s: %s, want an error naming min_position", path, r.raw)
		}
	}
	// Another bank's list does not exist for this caller, whatever the position.
	api.as(api.otherAdmin()).get(bankList+"?min_position="+strconv.FormatInt(next+1000, 10)).wantProblem(t, http.StatusNotFound)
	api.as(api.member()).get(bankList+"?min_position="+at).wantProblem(t, http.StatusForbidden)
}
