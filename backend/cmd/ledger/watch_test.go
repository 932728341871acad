package main

import (
	"database/sql"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/audit"
	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
)

// An operator who holds every key the ledger has (the database, AUDIT_KEY
// and the signing key) rewrites history and re-signs every head. The
// database alone then verifies; an auditor who stored a head earlier is not
// fooled: the watcher and the offline verify against the stored head catch
// a rewrite of the same size (two heads of one size), a rewrite that grew
// past the stored head, and a truncated, re-grown log.
func TestAuditorCatchesARewriteTheOperatorReSigned(t *testing.T) {
	vars := map[string]string{"DATABASE_URL": postgrestest.NewDatabaseURL(t), "HTTP_ADDR": "127.0.0.1:0", "LOG_LEVEL": "error",
		"AUDIT_SIGNING_KEY": postgrestest.AuditSigningKey, "AUDIT_KEY": string(postgrestest.AuditKey), "AUTH_DEV_ISSUER": "true"}
	if err := run(t.Context(), []string{"seed"}, env(vars), io.Discard, io.Discard, nil); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("postgres", vars["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	work := t.TempDir()
	keyFile, stored := filepath.Join(work, "ledger.pub"), filepath.Join(work, "head.json")
	if err := os.WriteFile(keyFile, []byte(postgrestest.AuditSigner.PublicKey().NoteKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	auditorToken := tokenFor(t, vars, "auditor")
	watch := func(base, store string) (int, string) {
		t.Helper()
		return runMain(t, map[string]string{"LEDGER_TOKEN": auditorToken},
			"audit", "watch", "--once", "--url", base, "--store", store, "--public-key", keyFile)
	}
	// serveAndSubmit serves the ledger, submits n claims and waits until
	// the tree holds every event; it returns the base URL and the stop.
	serveAndSubmit := func(n int) (string, func() error) {
		t.Helper()
		base, stop := startServe(t, vars, nil)
		ada := tokenFor(t, vars, "member", seedMembers[0].ID.String())
		for range n {
			if status, body := call(t, http.MethodPost, base+"/v1/reimbursements", ada,
				`{"bank_account_id":"`+seedAccounts[0].ID.String()+`","amount":"1.00","description":"Stamps"}`); status != http.StatusCreated {
				t.Fatalf("submit: %d %v", status, body)
			}
		}
		postgrestest.Eventually(t, "the tree holds every event", func() bool {
			var behind bool
			err := db.QueryRow(`SELECT (SELECT count(*) FROM events) <> (SELECT coalesce(max(tree_size), 0) FROM audit_heads)`).Scan(&behind)
			return err == nil && !behind
		})
		return base, stop
	}

	base, stop := serveAndSubmit(3)
	if code, out := watch(base, stored); code != 0 || !strings.Contains(out, "trusting the first head seen: tree size 3") {
		t.Fatalf("the first watch exited %d:\n%s", code, out)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	// The rewrite: the second claim's amount, its hash recomputed, the tree
	// and the heads rebuilt from the first event and signed again.
	rewrite(t, db, 2, `{"amount": "9999.00"}`)
	base, stop = serveAndSubmit(0)
	if code, out := runMain(t, vars, "audit", "verify"); code != 0 || !strings.Contains(out, "OK") {
		t.Fatalf("premise: the database alone verifies after the re-signed rewrite; exit %d:\n%s", code, out)
	}
	if code, out := watch(base, stored); code != 1 || !strings.Contains(out, "FORKED: two signed heads of tree size 3") {
		t.Fatalf("the watch after a rewrite of the same size exited %d:\n%s", code, out)
	}
	export := filepath.Join(work, "export")
	if code, out := runMain(t, vars, "audit", "export", "--to", export); code != 0 {
		t.Fatalf("export: exit %d\n%s", code, out)
	}
	if code, out := runMain(t, nil, "audit", "verify", "--offline", export, "--public-key", keyFile); code != 0 {
		t.Fatalf("premise: the rewritten export is consistent in itself; exit %d\n%s", code, out)
	}
	if code, out := runMain(t, nil, "audit", "verify", "--offline", export, "--public-key", keyFile, "--head", stored); code != 1 ||
		!strings.Contains(out, "BROKEN") {
		t.Fatalf("the offline verify against the stored head exited %d:\n%s", code, out)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	// A rewrite that grows past the stored head: its consistency proof
	// fails.
	rewrite(t, db, 1, `{"description": "Not stamps"}`)
	base, stop = serveAndSubmit(2)
	if code, out := watch(base, stored); code != 1 || !strings.Contains(out, "REWRITTEN: the head of tree size 5 does not extend the stored head of size 3") {
		t.Fatalf("the watch after a rewrite that grew exited %d:\n%s", code, out)
	}
	// An auditor who trusted the rewritten log from here on sees it move
	// on consistently...
	restored := filepath.Join(work, "head-after.json")
	if code, out := watch(base, restored); code != 0 {
		t.Fatalf("a fresh watch exited %d:\n%s", code, out)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	// ...until the newest events are removed and the log re-grown to a
	// larger size.
	if _, err := db.Exec(`BEGIN; SET LOCAL session_replication_role = replica;
		DELETE FROM events WHERE position = (SELECT max(position) FROM events);
		DELETE FROM audit_tree; DELETE FROM audit_heads;
		UPDATE subscription_offsets SET offset_acked = 0, last_processed_transaction_id = '0' WHERE consumer_group = 'audit.tree';
		COMMIT`); err != nil {
		t.Fatal(err)
	}
	base, _ = serveAndSubmit(3)
	if code, out := watch(base, restored); code != 1 || !strings.Contains(out, "REWRITTEN") {
		t.Fatalf("the watch after a truncated, re-grown log exited %d:\n%s", code, out)
	}
	if code, out := watch(base, stored); code != 1 {
		t.Fatalf("the first store after it all exited %d:\n%s", code, out)
	}
}

// rewrite changes the data of the event at position as an attacker with the
// database's rights would, recomputes its hash and the hashes of its
// stream's later events, and drops the tree and its heads so that the
// ledger rebuilds and re-signs them from the first event.
func rewrite(t *testing.T, db *sql.DB, position int64, patch string) {
	t.Helper()
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`SET LOCAL session_replication_role = replica`); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`UPDATE events SET data = (data::jsonb || $2::jsonb)::json WHERE position = $1`, position, patch); err != nil {
		t.Fatal(err)
	}
	var stream uuid.UUID
	if err := tx.QueryRow(`SELECT stream_id FROM events WHERE position = $1`, position).Scan(&stream); err != nil {
		t.Fatal(err)
	}
	rows, err := tx.Query(`SELECT position, event_id, stream_type, stream_version, type, data::text, metadata::text, recorded_at
		FROM events WHERE stream_id = $1 ORDER BY stream_version`, stream)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		position int64
		c        audit.Content
	}
	var events []row
	for rows.Next() {
		r := row{c: audit.Content{StreamID: stream}}
		var data, meta string
		if err := rows.Scan(&r.position, &r.c.EventID, &r.c.StreamType, &r.c.StreamVersion, &r.c.Type, &data, &meta, &r.c.RecordedAt); err != nil {
			t.Fatal(err)
		}
		r.c.Data, r.c.Metadata = []byte(data), []byte(meta)
		events = append(events, r)
	}
	rows.Close()
	var prev []byte
	for _, r := range events {
		hash := audit.EventHash(r.c, prev)
		if _, err := tx.Exec(`UPDATE events SET hash = $2, prev_hash = $3 WHERE position = $1`, r.position, hash, prev); err != nil {
			t.Fatal(err)
		}
		prev = hash
	}
	_, err = tx.Exec(`DELETE FROM audit_tree; DELETE FROM audit_heads;
		UPDATE subscription_offsets SET offset_acked = 0, last_processed_transaction_id = '0' WHERE consumer_group = 'audit.tree'`)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}
