package httpapi_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
)

func TestAuditorsFeedAndVerification(t *testing.T) {
	api := newAPI(t)
	id := api.submit("20.00").str("id")
	api.post("/v1/reimbursements/"+id+"/approve", `{"administrator_id":"`+api.dir.Admin.ID.String()+`"}`,
		"X-Correlation-ID", "audit-trail-1").want(t, http.StatusOK)
	api.submit("30.00")
	postgrestest.Eventually(t, "every event in a signed head", func() bool {
		r := api.get("/v1/audit/heads/latest")
		return r.status == http.StatusOK && r.body["tree_size"] == float64(6)
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
	if ok.body["ok"] != true || ok.body["events_checked"] != float64(6) || ok.body["heads_checked"].(float64) < 1 || ok.body["checkpoints_checked"] != float64(0) {
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

// An auditor checks the heads, an inclusion proof of every event and the
// consistency of two heads with the public key alone, using an RFC 9162
// implementation that is not the ledger's (transparency-dev/merkle).
func TestAuditorsCheckHeadsAndProofsWithThePublicKey(t *testing.T) {
	api := newAPI(t)
	api.get("/v1/audit/heads/latest").wantProblem(t, http.StatusNotFound) // an empty log has no head
	first := api.submit("20.00").str("id")
	postgrestest.Eventually(t, "the first head", func() bool { return api.get("/v1/audit/heads/latest").status == http.StatusOK })
	older := headOf(t, api.get("/v1/audit/heads/latest").want(t, http.StatusOK))
	api.post("/v1/reimbursements/"+first+"/approve", `{}`).want(t, http.StatusOK)
	api.submit("30.00")
	var events int
	postgrestest.Eventually(t, "every event in a head", func() bool {
		events = api.eventCount()
		return api.get("/v1/audit/heads/latest").body["tree_size"] == float64(events)
	})

	key := api.get("/v1/audit/public-key").want(t, http.StatusOK)
	verifier, err := note.NewVerifier(key.str("note_verifier_key"))
	if err != nil || key.str("algorithm") != "Ed25519" || verifier.Name() != key.str("key_name") {
		t.Fatalf("public key %s: %v", key.raw, err)
	}
	raw, _ := base64.StdEncoding.DecodeString(key.str("public_key"))
	if vkey, err := note.NewEd25519VerifierKey(key.str("key_name"), ed25519.PublicKey(raw)); err != nil || vkey != key.str("note_verifier_key") {
		t.Fatalf("public_key and note_verifier_key disagree: %s (%v)", key.raw, err)
	}
	latest := api.get("/v1/audit/heads/latest").want(t, http.StatusOK)
	newer := headOf(t, latest)
	for _, h := range []signedHead{older, newer} {
		n, err := note.Open([]byte(h.note), note.VerifierList(verifier))
		want := fmt.Sprintf("%s\n%d\n%s\n", verifier.Name(), h.size, base64.StdEncoding.EncodeToString(h.root))
		if err != nil || n.Text != want {
			t.Fatalf("head %+v: note %+v, %v; want text %q", h, n, err, want)
		}
	}
	heads := api.get("/v1/audit/heads?limit=1000").want(t, http.StatusOK).items()
	if len(heads) == 0 || heads[len(heads)-1]["tree_size"].(float64) < float64(newer.size) {
		t.Fatalf("heads %v, want the newest last", heads)
	}
	// The sagas may still be appending, so later pages may hold newer heads:
	// the page after the first head starts with the second.
	page := api.get("/v1/audit/heads?limit=1").want(t, http.StatusOK)
	if page.body["next_cursor"] == nil {
		t.Fatalf("paging the heads: %s", page.raw)
	}
	if rest := api.get("/v1/audit/heads?after="+page.body["next_cursor"].(string)).want(t, http.StatusOK).items(); len(heads) > 1 &&
		(len(rest) < len(heads)-1 || rest[0]["tree_size"] != heads[1]["tree_size"]) {
		t.Fatalf("paging the heads: after %s came %v, want %v first", page.body["next_cursor"], rest, heads[1])
	}

	// The sagas may still be appending: every event the newer head holds
	// is proved against it, by its size.
	hasher := rfc6962.DefaultHasher
	proved := 0
	for _, e := range api.get("/v1/events").want(t, http.StatusOK).items() {
		position := int64(e["position"].(float64))
		chain, _ := hex.DecodeString(e["hash"].(string))
		p := api.get(fmt.Sprintf("/v1/events/%d/proof?tree_size=%d", position, newer.size))
		if p.status == http.StatusBadRequest && p.fieldError("tree_size") != "" {
			continue // a newer event than the head
		}
		if p.status == http.StatusNotFound {
			continue // newer still: the audit tree has not reached it (the count below checks the head's leaves)
		}
		p.want(t, http.StatusOK)
		proved++
		leaf := decode64(t, p.str("leaf_hash"))
		if !bytes.Equal(leaf, hasher.HashLeaf(chain)) || p.body["tree_size"] != float64(newer.size) {
			t.Fatalf("proof of %d: %s; want the leaf SHA-256(0x00 || %x) in the newest head", position, p.raw, chain)
		}
		err := proof.VerifyInclusion(hasher, uint64(p.body["leaf_index"].(float64)), uint64(newer.size), leaf, decodeAll(t, p.body["hashes"]), newer.root)
		if err != nil {
			t.Fatalf("inclusion proof of the event at %d: %v", position, err)
		}
	}
	if proved != int(newer.size) {
		t.Fatalf("proved %d events in the head of %d", proved, newer.size)
	}
	c := api.get(fmt.Sprintf("/v1/audit/consistency?from=%d&to=%d", older.size, newer.size)).want(t, http.StatusOK)
	if err := proof.VerifyConsistency(hasher, uint64(older.size), uint64(newer.size), decodeAll(t, c.body["hashes"]), older.root, newer.root); err != nil {
		t.Fatalf("consistency of %d and %d: %v", older.size, newer.size, err)
	}

	// Bad positions, sizes and ranges are 4xx problems naming what is wrong.
	for path, status := range map[string]int{
		"/v1/events/abc/proof":                  http.StatusNotFound,
		"/v1/events/0/proof":                    http.StatusNotFound,
		"/v1/events/999999/proof":               http.StatusNotFound,
		"/v1/events/1/proof?tree_size=x":        http.StatusBadRequest,
		"/v1/events/1/proof?tree_size=-1":       http.StatusBadRequest,
		"/v1/events/1/proof?tree_size=1000000":  http.StatusBadRequest,
		"/v1/audit/consistency?from=1":          http.StatusBadRequest,
		"/v1/audit/consistency?from=0&to=1":     http.StatusBadRequest,
		"/v1/audit/consistency?from=2&to=1":     http.StatusBadRequest,
		"/v1/audit/consistency?from=1&to=99999": http.StatusBadRequest,
		"/v1/audit/heads?after=x":               http.StatusBadRequest,
	} {
		if r := api.get(path); r.status != status {
			t.Errorf("GET %s: %d %s, want %d", path, r.status, r.raw, status)
		} else {
			r.wantProblem(t, status)
		}
	}
	lastPosition := int64(events)
	if r := api.get(fmt.Sprintf("/v1/events/%d/proof?tree_size=1", lastPosition)).wantProblem(t, http.StatusBadRequest); r.fieldError("tree_size") == "" {
		t.Fatalf("a tree too small for the event: %s", r.raw)
	}
	if r := api.get("/v1/audit/consistency?from=3&to=3").want(t, http.StatusOK); len(r.body["hashes"].([]any)) != 0 {
		t.Fatalf("from = to: %s", r.raw)
	}
	api.as(api.member()).get("/v1/audit/heads/latest").wantProblem(t, http.StatusForbidden)
	api.as(api.admin()).get("/v1/events/1/proof").wantProblem(t, http.StatusForbidden)
}

type signedHead struct {
	size int64
	root []byte
	note string
}

func headOf(t *testing.T, r response) signedHead {
	t.Helper()
	return signedHead{size: int64(r.body["tree_size"].(float64)), root: decode64(t, r.str("root_hash")), note: r.str("note")}
}

func decode64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != 32 {
		t.Fatalf("%q is not a base64 hash: %v", s, err)
	}
	return b
}

func decodeAll(t *testing.T, v any) [][]byte {
	t.Helper()
	var out [][]byte
	for _, s := range v.([]any) {
		out = append(out, decode64(t, s.(string)))
	}
	return out
}
