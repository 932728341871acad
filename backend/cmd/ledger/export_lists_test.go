package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
)

// `ledger export` filters on every status and payment status the domain
// lists, names each in its help, and prints each as it is.
func TestExportHandlesEveryStatus(t *testing.T) {
	vars := map[string]string{"DATABASE_URL": postgrestest.NewDatabaseURL(t), "LOG_LEVEL": "error"}
	if err := run(context.Background(), []string{"seed"}, env(vars), io.Discard, io.Discard, nil); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("postgres", vars["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// One row for each pair a claim can show, and so for each status and
	// each payment status.
	type pair struct {
		status  ledger.Status
		payment ledger.PaymentStatus
	}
	var rows []pair
	for _, s := range ledger.Statuses {
		rows = append(rows, pair{s, ledger.PaymentStatusNone})
	}
	for _, p := range ledger.PaymentStatuses[1:] {
		rows = append(rows, pair{ledger.StatusApproved, p})
	}
	for i, r := range rows {
		if _, err := db.Exec(`
			INSERT INTO reimbursements_view (id, bank_id, bank_member_id, bank_account_id, amount, currency, description, status,
				submitted_at, submitted_position, payment_status, version)
			VALUES ($1, $2, $3, $4, 10.00, 'USD', 'Taxi', $5, '2026-03-01T09:00:00Z', $6, $7, 2)`,
			fmt.Sprintf("0193c000-0000-7000-8000-%012d", i+1), seedBank.ID, seedMembers[0].ID, seedAccounts[0].ID,
			string(r.status), i+1, string(r.payment)); err != nil {
			t.Fatal(err)
		}
	}
	export := func(args ...string) [][]string {
		t.Helper()
		var out, errOut bytes.Buffer
		if err := run(context.Background(), append([]string{"export", "--bank", seedBank.ID.String()}, args...), env(vars), &out, &errOut, nil); err != nil {
			t.Fatalf("export %v: %v\n%s", args, err, errOut.String())
		}
		records, err := csv.NewReader(&out).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		return records[1:]
	}
	count := func(match func(pair) bool) (n int) {
		for _, r := range rows {
			if match(r) {
				n++
			}
		}
		return n
	}
	var help bytes.Buffer
	_ = run(context.Background(), []string{"export", "-h"}, env(vars), io.Discard, &help, nil)
	for _, s := range ledger.Statuses {
		got := export("--status", string(s))
		if len(got) != count(func(r pair) bool { return r.status == s }) {
			t.Errorf("--status %s exported %d rows", s, len(got))
		}
		for _, record := range got {
			if record[7] != string(s) {
				t.Errorf("--status %s exported a row whose status is %q", s, record[7])
			}
		}
		if !strings.Contains(help.String(), string(s)) {
			t.Errorf("the help names no status %s:\n%s", s, help.String())
		}
	}
	for _, p := range ledger.PaymentStatuses {
		got := export("--payment-status", string(p))
		if len(got) != count(func(r pair) bool { return r.payment == p }) {
			t.Errorf("--payment-status %s exported %d rows", p, len(got))
		}
		for _, record := range got {
			if record[12] != string(p) {
				t.Errorf("--payment-status %s exported a row whose payment status is %q", p, record[12])
			}
		}
		if !strings.Contains(help.String(), string(p)) {
			t.Errorf("the help names no payment status %s:\n%s", p, help.String())
		}
	}
}
