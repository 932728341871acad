package httpapi_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
)

func TestAuditorsFeedAndVerification(t *testing.T) {
	api := newAPI(t)
	id := api.submit("20.00").str("id")
	api.post("/v1/reimbursements/"+id+"/approve", `{"administrator_id":"`+api.dir.Admin.ID.String()+`"}`,
		"X-Correlation-ID", "audit-trail-1").want(t, http.StatusOK)
	api.submit("30.00")
	postgrestest.Eventually(t, "every event checkpointed", func() bool {
		return len(api.get("/v1/audit/checkpoints").want(t, http.StatusOK).items()) == 6
	})

	// Follow one reimbursement across streams by its correlation id.
	all := api.get("/v1/events").want(t, http.StatusOK).items()
	var trail []string
	for _, e := range all {
		if e["metadata"].(map[string]any)["correlation_id"] == "audit-trail-1" {
			trail = append(trail, e["type"].(string))
		}
		if h, _ := e["hash"].(string); len(h) != 64 {
			t.Fatalf("event without a hash: %v", e)
		}
		if e["metadata"].(map[string]any)["causation_id"] == "" {
			t.Fatalf("event without a causation id: %v", e)
		}
	}
	if strings.Join(trail, ",") != "ReimbursementApproved,PaymentRequested,PaymentSettled,MemberNotified" {
		t.Fatalf("correlated trail %v", trail)
	}

	submitted := api.get("/v1/events?type=ReimbursementSubmitted").want(t, http.StatusOK).items()
	if len(submitted) != 2 {
		t.Fatalf("type filter: %d events", len(submitted))
	}
	stream := api.get("/v1/events?stream_id="+id).want(t, http.StatusOK).items()
	if len(stream) != 2 || stream[1]["prev_hash"] != stream[0]["hash"] {
		t.Fatalf("stream filter: %v", stream)
	}
	future := url.QueryEscape(time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	if n := len(api.get("/v1/events?recorded_from="+future).want(t, http.StatusOK).items()); n != 0 {
		t.Fatalf("recorded_from in the future: %d events", n)
	}
	if n := len(api.get("/v1/events?recorded_to="+future+"&type=PaymentSettled,MemberNotified").want(t, http.StatusOK).items()); n != 2 {
		t.Fatalf("recorded_to with two types: %d events", n)
	}
	api.get("/v1/events?stream_id=nope").wantProblem(t, http.StatusBadRequest)
	api.get("/v1/events?recorded_from=yesterday").wantProblem(t, http.StatusBadRequest)

	ok := api.get("/v1/audit/verify").want(t, http.StatusOK)
	if ok.body["ok"] != true || ok.body["events_checked"] != float64(6) || ok.body["checkpoints_checked"] != float64(6) {
		t.Fatalf("verify on an intact log: %s", ok.raw)
	}
	if _, err := api.db.SQL().Exec(`BEGIN; SET LOCAL session_replication_role = replica;
		UPDATE events SET metadata = '{"correlation_id":"forged","causation_id":"x","actor":"x"}' WHERE position = 2; COMMIT`); err != nil {
		t.Fatal(err)
	}
	broken := api.get("/v1/audit/verify").want(t, http.StatusOK)
	problem, _ := broken.body["problem"].(map[string]any)
	if broken.body["ok"] != false || problem == nil || problem["position"] != float64(2) || problem["stream_id"] != id {
		t.Fatalf("verify after tampering: %s", broken.raw)
	}
}
