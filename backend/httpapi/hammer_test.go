package httpapi_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
)

// Fifty clients hammer ten reimbursements with approvals, denials and
// retried submissions. Afterwards each reimbursement has exactly one
// decision, each Idempotency-Key exactly one effect, and the read model
// matches the events.
func TestFiftyClientsHammering(t *testing.T) {
	api := newAPI(t)
	var targets []string
	for range 10 {
		targets = append(targets, api.submit("10.00").str("id"))
	}
	const clients, keys = 50, 40
	approve := `{"administrator_id":"` + api.dir.Admin.ID.String() + `"}`
	deny := `{"administrator_id":"` + api.dir.Admin.ID.String() + `","reason":"duplicate"}`

	var mu sync.Mutex
	created := map[string]string{} // Idempotency-Key -> reimbursement id
	statuses := map[string]map[int]int{}
	record := func(kind string, status int) {
		mu.Lock()
		defer mu.Unlock()
		if statuses[kind] == nil {
			statuses[kind] = map[int]int{}
		}
		statuses[kind][status]++
	}
	deadline := time.Now().Add(3 * time.Second)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(c), 7))
			for time.Now().Before(deadline) {
				switch rng.IntN(3) {
				case 0, 1:
					path, body := "/approve", approve
					if rng.IntN(2) == 0 {
						path, body = "/deny", deny
					}
					r := api.post("/v1/reimbursements/"+targets[rng.IntN(len(targets))]+path, body)
					record("decide", r.status)
				default:
					key := fmt.Sprintf("retry-%d", rng.IntN(keys))
					body := `{"bank_account_id":"` + api.dir.Account.ID.String() + `","amount":"5.00","description":"` + key + `"}`
					r := api.post("/v1/reimbursements", body, "Idempotency-Key", key)
					record("submit", r.status)
					if r.status == http.StatusCreated {
						mu.Lock()
						if prev, ok := created[key]; ok && prev != r.str("id") {
							t.Errorf("key %s created %s and %s", key, prev, r.str("id"))
						}
						created[key] = r.str("id")
						mu.Unlock()
					}
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("answers: %v", statuses)
	for status := range statuses["decide"] {
		if status != http.StatusOK && status != http.StatusConflict {
			t.Errorf("a decision answered %d", status)
		}
	}
	for status := range statuses["submit"] {
		if status != http.StatusCreated && status != http.StatusConflict {
			t.Errorf("a retried submission answered %d", status)
		}
	}
	if statuses["decide"][http.StatusOK] != len(targets) {
		t.Errorf("%d decisions succeeded, want exactly %d", statuses["decide"][http.StatusOK], len(targets))
	}

	ctx := context.Background()
	for _, id := range targets {
		story, err := postgrestest.App(api.db).Story(ctx, postgrestest.Auditor, uuid.MustParse(id))
		if err != nil {
			t.Fatal(err)
		}
		decisions := 0
		for _, e := range story {
			if e.Type == ledger.TypeReimbursementApproved || e.Type == ledger.TypeReimbursementDenied {
				decisions++
			}
		}
		if decisions != 1 {
			t.Fatalf("reimbursement %s has %d decisions", id, decisions)
		}
	}
	var submissions int
	if err := api.db.SQL().QueryRow(`SELECT count(*) FROM events WHERE type = 'ReimbursementSubmitted'`).Scan(&submissions); err != nil {
		t.Fatal(err)
	}
	if submissions != len(targets)+len(created) {
		t.Fatalf("%d submissions recorded for %d keys (plus %d set up): a key had more than one effect", submissions, len(created), len(targets))
	}

	var all []uuid.UUID
	if err := func() error {
		rows, err := api.db.SQL().Query(`SELECT stream_id FROM events WHERE type = 'ReimbursementSubmitted'`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id uuid.UUID
			if err := rows.Scan(&id); err != nil {
				return err
			}
			all = append(all, id)
		}
		return rows.Err()
	}(); err != nil {
		t.Fatal(err)
	}
	postgrestest.Eventually(t, "the read model catches up", func() bool {
		page, err := api.db.Reimbursements.ListReimbursements(ctx, app.ListQuery{BankID: api.dir.Bank.ID, Limit: 200})
		if err != nil || len(page.Items) != len(all) {
			return false
		}
		for _, row := range page.Items {
			want, err := postgrestest.Streams(api.db).Reimbursement(ctx, row.ID)
			if err != nil || row.Status != want.Status || row.Version != want.Version || row.PaymentStatus != want.PaymentStatus {
				return false
			}
		}
		return true
	})
}
