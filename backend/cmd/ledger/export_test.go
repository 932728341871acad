package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"io"
	"strings"
	"testing"

	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
)

// `ledger export` prints the API's CSV export of a bank, with the lists'
// filters as flags, and tells its progress on standard error: plain lines
// when that is not a terminal.
func TestExportCommand(t *testing.T) {
	vars := map[string]string{"DATABASE_URL": postgrestest.NewDatabaseURL(t), "LOG_LEVEL": "error"}
	if err := run(context.Background(), []string{"seed"}, env(vars), io.Discard, io.Discard, nil); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("postgres", vars["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Rows as the projector writes them: three of the seeded bank's, one elsewhere.
	if _, err := db.Exec(`
		INSERT INTO reimbursements_view (id, bank_id, bank_member_id, bank_account_id, amount, currency, description, status,
			submitted_at, submitted_position, decided_at, decided_by, denial_reason, payment_status, version)
		VALUES
		('0193c000-0000-7000-8000-000000000001', $1, $2, $3, 12.30, 'USD', 'Parking', 'pending', '2026-03-01T09:00:00Z', 1, NULL, NULL, NULL, 'none', 1),
		('0193c000-0000-7000-8000-000000000002', $1, $2, $3, 480.00, 'USD', '=SUM(A1:A2)', 'approved', '2026-03-02T09:00:00Z', 2,
			'2026-03-02T10:00:00Z', $4, NULL, 'settled', 2),
		('0193c000-0000-7000-8000-000000000003', $1, $2, $3, 1200.00, 'USD', 'Flight, "economy"', 'denied', '2026-03-03T09:00:00Z', 3,
			'2026-03-03T10:00:00Z', $4, 'Over the limit', 'none', 2),
		('0193c000-0000-7000-8000-000000000004', $5, $2, $3, 99.00, 'USD', 'Elsewhere', 'pending', '2026-03-02T09:00:00Z', 4, NULL, NULL, NULL, 'none', 1)`,
		seedBank.ID, seedMembers[0].ID, seedAccounts[0].ID, seedAdministrators[0].ID, seedOtherBank.ID); err != nil {
		t.Fatal(err)
	}
	export := func(args ...string) (string, string, error) {
		var out, errOut bytes.Buffer
		err := run(context.Background(), append([]string{"export", "--bank", seedBank.ID.String()}, args...), env(vars), &out, &errOut, nil)
		return out.String(), errOut.String(), err
	}

	out, progress, err := export()
	if err != nil {
		t.Fatalf("export: %v\n%s", err, progress)
	}
	records, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(records) != 4 || strings.Join(records[0], ",") !=
		"id,bank_id,bank_member_id,bank_account_id,amount,currency,description,status,submitted_at,decided_at,decided_by,denial_reason,payment_status,version,receipt_count" {
		t.Fatalf("export printed %q, %v; want the header and the bank's three rows", out, err)
	}
	newest, middle := records[1], records[2]
	if newest[4] != "1200.00" || newest[6] != `Flight, "economy"` || newest[11] != "Over the limit" || newest[9] != "2026-03-03T10:00:00Z" ||
		middle[6] != "'=SUM(A1:A2)" || records[3][4] != "12.30" {
		t.Fatalf("rows %q", records[1:])
	}
	if !strings.Contains(out, "\r\n") || progress != "exported 3 reimbursements of bank "+seedBank.ID.String()+"\n" {
		t.Fatalf("standard error %q (not a terminal: one plain line at the end)", progress)
	}

	out, _, err = export("--submitted-from", "2026-03-02", "--submitted-to", "2026-03-02T12:00:00Z", "--amount-min", "100", "--status", "approved")
	if records, _ := csv.NewReader(strings.NewReader(out)).ReadAll(); err != nil || len(records) != 2 || records[1][0] != "0193c000-0000-7000-8000-000000000002" {
		t.Fatalf("filtered export %q, %v", out, err)
	}

	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--amount-min", "1e3"}, "--amount-min"},
		{[]string{"--submitted-from", "2026-03-02", "--submitted-to", "2026-03-01"}, "--submitted-to must be after submitted-from"},
		{[]string{"--payment-status", "paid"}, "--payment-status"},
		{[]string{"pending"}, "every filter is a flag"},
	} {
		if _, _, err := export(tt.args...); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("export %v: %v, want an error naming %s", tt.args, err, tt.want)
		}
	}
	var errOut bytes.Buffer
	if err := run(context.Background(), []string{"export", "--bank", "0193a000-0000-7000-8000-00000000dead"}, env(vars), io.Discard, &errOut, nil); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("export of an unknown bank: %v", err)
	}
	if err := run(context.Background(), []string{"export"}, env(vars), io.Discard, io.Discard, nil); err == nil || !strings.Contains(err.Error(), "--bank") {
		t.Errorf("export without a bank: %v", err)
	}
}

// On a terminal the progress is a bar that counts towards the total.
func TestExportProgressBar(t *testing.T) {
	var out bytes.Buffer
	progress, finish := exportProgress(&out, true, 3)
	progress(2)
	progress(4) // one submitted while the export ran: the bar grows
	finish()
	if s := out.String(); !strings.Contains(s, "exporting") || !strings.Contains(s, "100%") || !strings.Contains(s, "4/4") {
		t.Fatalf("the bar printed %q", s)
	}
}
