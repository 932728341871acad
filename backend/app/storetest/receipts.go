package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"testing"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// pdfBytes is a receipt of n bytes that reads as a PDF, its bytes varying
// so that a chunk out of place shows.
func pdfBytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	copy(b, "%PDF-1.4\n")
	return b
}

// failingReader yields some bytes, then fails.
type failingReader struct{ left int }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, errors.New("the client went away")
	}
	n := min(len(p), r.left)
	clear(p[:n])
	r.left -= n
	return n, nil
}

func readAll(t *testing.T, blobs app.ReceiptBlobs, id uuid.UUID) []byte {
	t.Helper()
	rc, err := blobs.Open(context.Background(), id)
	must(t, err)
	defer rc.Close()
	data, err := io.ReadAll(rc)
	must(t, err)
	return data
}

func testReceiptBlobs(t *testing.T, h Harness) {
	ctx := context.Background()
	blobs := h.Stores.Receipts
	// Larger than a chunk of the PostgreSQL store and not a multiple of one.
	id, data := uuid.New(), pdfBytes(600<<10+17)
	must(t, blobs.Put(ctx, id, bytes.NewReader(data)))
	if got := readAll(t, blobs, id); !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes unlike the %d stored", len(got), len(data))
	}
	small := uuid.New()
	must(t, blobs.Put(ctx, small, bytes.NewReader([]byte("%PDF-"))))
	if got := readAll(t, blobs, small); string(got) != "%PDF-" {
		t.Fatalf("read back %q", got)
	}
	_, err := blobs.Open(ctx, uuid.New())
	wantCode(t, "open an id with nothing stored", err, ledger.ENotFound)

	failed := uuid.New()
	if err := blobs.Put(ctx, failed, &failingReader{left: 300 << 10}); err == nil {
		t.Fatal("a read that fails stored the receipt")
	}
	_, err = blobs.Open(ctx, failed)
	wantCode(t, "open what a failed read stored", err, ledger.ENotFound)

	must(t, blobs.Delete(ctx, id))
	_, err = blobs.Open(ctx, id)
	wantCode(t, "open a deleted receipt", err, ledger.ENotFound)
	must(t, blobs.Delete(ctx, id))
	if got := readAll(t, blobs, small); string(got) != "%PDF-" {
		t.Fatalf("deleting another receipt changed this one: %q", got)
	}
}

func testReceipts(t *testing.T, h Harness) {
	ctx := context.Background()
	a := app.New(app.Config{Stores: h.Stores, AuditKeys: auditKeys, ReceiptMaxBytes: 64 << 10})
	d := mustDirectory(t, a)
	r := mustSubmit(t, a, d, d.account, "80.00")
	attach := func(p app.Principal, id uuid.UUID, data []byte) (ledger.Receipt, error) {
		return a.AttachReceipt(ctx, p, id, bytes.NewReader(data), meta)
	}

	data := pdfBytes(64 << 10) // exactly the limit
	receipt, err := attach(d.member, r.ID, data)
	must(t, err)
	sum := sha256.Sum256(data)
	if receipt.SHA256 != hex.EncodeToString(sum[:]) || receipt.Size != int64(len(data)) || receipt.ContentType != ledger.ContentTypePDF || receipt.AttachedAt.IsZero() {
		t.Fatalf("attached %+v", receipt)
	}
	for _, p := range []app.Principal{d.member, d.admin} {
		got, body, err := a.OpenReceipt(ctx, p, r.ID, receipt.ID)
		must(t, err)
		stored, err := io.ReadAll(body)
		must(t, err)
		body.Close()
		if got != receipt || !bytes.Equal(stored, data) {
			t.Fatalf("%s opened %+v, %d bytes", p.Role, got, len(stored))
		}
	}
	// The other bank's administrator and another member see no claim.
	neighbour := app.Member(uuid.New())
	for _, p := range []app.Principal{d.otherAdmin, neighbour} {
		_, err := a.Receipts(ctx, p, r.ID)
		wantCode(t, "list another's receipts", err, ledger.ENotFound)
		_, _, err = a.OpenReceipt(ctx, p, r.ID, receipt.ID)
		wantCode(t, "open another's receipt", err, ledger.ENotFound)
	}
	_, err = attach(neighbour, r.ID, data)
	wantCode(t, "attach to another's claim", err, ledger.ENotFound)
	_, _, err = a.OpenReceipt(ctx, d.member, r.ID, uuid.New())
	wantCode(t, "open an unknown receipt", err, ledger.ENotFound)

	// Refused uploads store nothing: one byte too many, a type judged
	// from the content.
	_, err = attach(d.member, r.ID, pdfBytes(64<<10+1))
	wantCode(t, "attach one byte too many", err, ledger.ETooLarge)
	_, err = attach(d.member, r.ID, []byte("plain text, named receipt.pdf"))
	wantCode(t, "attach text", err, ledger.EUnsupportedType)
	list, err := a.Receipts(ctx, d.admin, r.ID)
	must(t, err)
	if len(list) != 1 || list[0] != receipt {
		t.Fatalf("listed %+v", list)
	}

	// The policy's receipt rule: a claim above it needs one.
	op := app.Principal{Role: app.RoleOperator, Subject: "storetest"}
	above := "50.00"
	_, err = a.SetApprovalPolicy(ctx, op, app.SetApprovalPolicyCommand{BankID: d.bank.ID, SecondApprovalAbove: "1000.00", Currency: "USD", ReceiptRequiredAbove: &above})
	must(t, err)
	bare := mustSubmit(t, a, d, d.account, "75.00")
	_, err = a.Approve(ctx, d.admin, app.DecideCommand{ReimbursementID: bare.ID})
	wantCode(t, "approve with no receipt", err, ledger.EConflict)
	_, err = a.Approve(ctx, d.admin, app.DecideCommand{ReimbursementID: r.ID})
	must(t, err)
	_, err = attach(d.member, r.ID, data)
	wantCode(t, "attach to an approved claim", err, ledger.EConflict)

	if h.Project != nil {
		h.Project(t)
	}
	page, err := h.Stores.Reimbursements.ListReimbursements(ctx, app.ListQuery{BankID: d.bank.ID, Limit: 10})
	must(t, err)
	counts := map[uuid.UUID]int{}
	for _, item := range page.Items {
		counts[item.ID] = item.ReceiptCount
	}
	if counts[r.ID] != 1 || counts[bare.ID] != 0 {
		t.Fatalf("listed receipt counts %v", counts)
	}

	report, err := a.Verify(ctx, auditor, nil)
	must(t, err)
	if !report.OK() {
		t.Fatalf("verify: %v", report.Problem)
	}
	// Bytes gone from storage are reported, naming the receipt and its claim.
	must(t, h.Stores.Receipts.Delete(ctx, receipt.ID))
	report, err = a.Verify(ctx, auditor, nil)
	must(t, err)
	if report.OK() || report.Problem.StreamID != r.ID || !bytes.Contains([]byte(report.Problem.Detail), []byte(receipt.ID.String())) {
		t.Fatalf("verify with a receipt's bytes gone: %+v", report.Problem)
	}
}
