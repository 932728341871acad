package httpapi_test

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
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

// position is the answer's Ledger-Position token, failing the test without one.
func (r response) position(t *testing.T) string {
	t.Helper()
	values := r.header.Values("Ledger-Position")
	if len(values) != 1 || values[0] == "" {
		t.Fatalf("Ledger-Position %q, want one token; headers %v", values, r.header)
	}
	return values[0]
}

// revealsNothing fails the test when a Ledger-Position token shows the
// event's position: as the number, or as its 8 bytes anywhere in the token.
func revealsNothing(t *testing.T, token, position string) {
	t.Helper()
	p, err := strconv.ParseInt(position, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		t.Fatalf("Ledger-Position %q is not base64url: %v", token, err)
	}
	if token == position {
		t.Fatalf("Ledger-Position %q is the position", token)
	}
	for _, shown := range [][]byte{binary.BigEndian.AppendUint64(nil, uint64(p)), binary.LittleEndian.AppendUint64(nil, uint64(p))} {
		if bytes.Contains(raw, shown) {
			t.Fatalf("Ledger-Position %q holds the position %s in the clear", token, position)
		}
	}
}

// Every command that appends answers an opaque Ledger-Position token, a
// new one each time and all of one length, which shows nothing of the
// event's position; a replay answers the same token, and a command that
// appends nothing answers none.
func TestCommandAnswersCarryAPositionToken(t *testing.T) {
	api := newAPI(t)
	approvedID := api.submit("30.00").str("id")
	denied := api.submit("31.00")
	approved := api.post("/v1/reimbursements/"+approvedID+"/approve", "").want(t, http.StatusOK)
	deniedAgain := api.post("/v1/reimbursements/"+denied.str("id")+"/deny", `{"reason":"no receipt"}`).want(t, http.StatusOK)
	tokens := map[string]bool{}
	for _, c := range []struct {
		answer response
		event  string
	}{{denied, api.streamPositions(denied.str("id"))[0]}, {approved, api.streamPositions(approvedID)[1]}, {deniedAgain, api.streamPositions(denied.str("id"))[1]}} {
		token := c.answer.position(t)
		revealsNothing(t, token, c.event)
		if tokens[token] || (len(tokens) > 0 && len(token) != len(denied.position(t))) {
			t.Fatalf("Ledger-Position %q repeats or differs in length from %v", token, tokens)
		}
		tokens[token] = true
	}

	// A replay is the stored answer, token included.
	body := `{"bank_account_id":"` + api.dir.Account.ID.String() + `","amount":"32.00","description":"Parking"}`
	first := api.post("/v1/reimbursements", body, "Idempotency-Key", "position-1").want(t, http.StatusCreated)
	again := api.post("/v1/reimbursements", body, "Idempotency-Key", "position-1").want(t, http.StatusCreated)
	if again.header.Get("Idempotent-Replayed") != "true" || again.position(t) != first.position(t) {
		t.Fatalf("replayed Ledger-Position %q (replayed %q), first %q", again.header.Get("Ledger-Position"),
			again.header.Get("Idempotent-Replayed"), first.header.Get("Ledger-Position"))
	}
	memberList := "/v1/members/" + api.dir.Member.ID.String() + "/reimbursements"
	if items := api.get(memberList+"?min_position="+again.position(t)).want(t, http.StatusOK).items(); len(items) == 0 || items[0]["id"] != first.str("id") {
		t.Fatalf("the list at the replayed token: %v", items)
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

// A list sent the token a command answered shows that command's effect,
// on its first read: the member's own, and an administrator's on the
// bank's list and the member's.
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
	}
	id := api.submit("13.00").str("id")
	admin := api.as(api.admin())
	at := admin.post("/v1/reimbursements/"+id+"/approve", "").want(t, http.StatusOK).position(t)
	items := admin.get(bankList+"?status=approved&min_position="+at).want(t, http.StatusOK).items()
	if len(items) != 1 || items[0]["id"] != id || items[0]["status"] != "approved" {
		t.Fatalf("the bank's approved list at the approval's token %s: %v", at, items)
	}
	// An administrator reading the member's list waits the same way.
	items = admin.get(memberList+"?status=approved&min_position="+at).want(t, http.StatusOK).items()
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

// min_position is a token an answer gave the caller: a number, a forged,
// altered or cut token, and another's token (another member's, another
// bank's, the operator's) are all refused alike, with one answer naming
// min_position that tells none of them apart, once the caller may read
// the list at all.
func TestListRefusesABadMinPosition(t *testing.T) {
	api := newAPI(t)
	submitted := api.submit("15.00")
	mine := submitted.position(t)
	admin := api.as(api.admin())
	theBanks := admin.post("/v1/reimbursements/"+submitted.str("id")+"/approve", "").want(t, http.StatusOK).position(t)
	operators := api.as(api.operator()).put("/v1/banks/"+api.dir.OtherBank.ID.String()+"/approval-policy",
		`{"second_approval_above":"500.00","currency":"USD"}`).want(t, http.StatusOK).position(t)
	tampered := []byte(theBanks)
	tampered[len(tampered)/2] ^= 1 // still base64url: a flipped low bit of a letter or digit
	bankList := "/v1/banks/" + api.dir.Bank.ID.String() + "/reimbursements"
	memberList := "/v1/members/" + api.dir.Member.ID.String() + "/reimbursements"
	var detail string
	for _, c := range []struct {
		api  *ledgerAPI
		path string
	}{
		{admin, bankList + "?min_position=-1"},
		{admin, bankList + "?min_position=soon"},
		{admin, bankList + "?min_position=" + api.streamPositions(submitted.str("id"))[1]}, // the event's position itself
		{admin, bankList + "?min_position=99999999999999999999"},
		{admin, bankList + "?min_position=" + string(tampered)},
		{admin, bankList + "?min_position=" + theBanks[:len(theBanks)-2]},
		{admin, bankList + "?min_position=" + theBanks + "AA"},
		{admin, bankList + "?min_position=" + strings.Repeat(theBanks, 4)},
		{admin, bankList + "?min_position=" + mine},      // the member's
		{admin, bankList + "?min_position=" + operators}, // the operator's
		{admin, memberList + "?min_position=" + mine},
		{api, memberList + "?min_position=" + theBanks}, // the bank's, at the member
		{admin, bankList + "/export?min_position=" + mine},
	} {
		r := c.api.get(c.path).wantProblem(t, http.StatusBadRequest)
		if r.fieldError("min_position") == "" {
			t.Fatalf("GET %s: %s, want an error naming min_position", c.path, r.raw)
		}
		if detail == "" {
			detail = r.str("detail")
		}
		if r.str("detail") != detail || r.fieldError("min_position") == "" {
			t.Fatalf("GET %s: %s; every bad token answers alike (%q)", c.path, r.raw, detail)
		}
	}
	// Another bank's list does not exist for this caller, whatever the token.
	api.as(api.otherAdmin()).get(bankList+"?min_position="+theBanks).wantProblem(t, http.StatusNotFound)
	api.as(api.otherAdmin()).get(bankList+"?min_position=forged").wantProblem(t, http.StatusNotFound)
	api.as(api.member()).get(bankList+"?min_position="+mine).wantProblem(t, http.StatusForbidden)
	// Every administrator of the bank may wait on the bank's token.
	admin.get(bankList+"?min_position="+theBanks).want(t, http.StatusOK)
}

// A reimbursement's story shows its member and its bank's administrators
// the events in order without their global positions; auditors, who read
// the whole feed anyway, see them.
func TestStoryShowsPositionsToAuditorsOnly(t *testing.T) {
	api := newAPI(t)
	id := api.submit("16.00").str("id")
	api.as(api.admin()).post("/v1/reimbursements/"+id+"/approve", "").want(t, http.StatusOK)
	for _, c := range []struct {
		token     string
		positions bool
	}{{api.member(), false}, {api.admin(), false}, {api.auditor(), true}} {
		story := api.as(c.token).get("/v1/reimbursements/"+id+"/events").want(t, http.StatusOK).items()
		if len(story) < 2 || story[0]["type"] != "ReimbursementSubmitted" || story[1]["type"] != "ReimbursementApproved" {
			t.Fatalf("story %v", story)
		}
		for _, e := range story {
			if _, shown := e["position"]; shown != c.positions {
				t.Fatalf("a story event shows position %v, want shown=%v: %v", e["position"], c.positions, e)
			}
		}
	}
}
