package httpapi_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/httpapi"
	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
	"github.com/reimbursement-ledger/ledger/backend/s3blobs"
	"github.com/reimbursement-ledger/ledger/backend/webhook"
)

// RECEIPT_STORE=s3 against a real S3-compatible server (gofakes3) started
// here: a receipt uploaded over HTTP lands in the bucket and downloads
// byte for byte; bytes swapped in the bucket are caught by audit verify;
// erasing the member deletes the object.
func TestReceiptsInS3(t *testing.T) {
	api := newAPI(t)
	backend := s3mem.New()
	if err := backend.CreateBucket("receipts"); err != nil {
		t.Fatal(err)
	}
	s3 := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(s3.Close)
	u, _ := url.Parse(s3.URL)
	store, err := s3blobs.New(s3blobs.Config{Endpoint: u.Host, Bucket: "receipts", Region: "us-east-1", AccessKeyID: "k", SecretAccessKey: "s", Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	stores := api.db.Stores()
	stores.Receipts = store
	a := app.New(app.Config{Stores: stores, AuditKeys: postgrestest.AuditKeys,
		Webhooks: app.WebhookConfig{Destinations: webhook.Guard{AllowPrivate: true}, NewSecret: webhook.NewSecret}})
	srv := httptest.NewServer(httpapi.New(httpapi.Config{App: a, Tokens: api.issuer.Verifier(), Ready: api.db.Ping, Logger: quiet, API: true}))
	t.Cleanup(srv.Close)
	api.url = srv.URL

	id := api.submit("30.00").str("id")
	pdf := tinyPDF()
	receipt := api.as(api.member()).upload(id, "file", "taxi.pdf", "application/pdf", pdf).want(t, http.StatusCreated)
	key := "receipts/" + receipt.str("id")
	obj, err := backend.GetObject("receipts", key, nil)
	if err != nil {
		t.Fatalf("the bucket holds no %s: %v", key, err)
	}
	stored, _ := io.ReadAll(obj.Contents)
	obj.Contents.Close()
	if !bytes.Equal(stored, pdf) {
		t.Fatalf("the bucket holds %q", stored)
	}
	got := api.as(api.admin()).get("/v1/reimbursements/"+id+"/receipts/"+receipt.str("id")).want(t, http.StatusOK)
	if got.raw != string(pdf) {
		t.Fatalf("downloaded %q", got.raw)
	}

	// Swapped in the bucket: verify names the receipt.
	forged := []byte("%PDF-1.4\n% another document\n%%EOF\n")
	if _, err := backend.PutObject("receipts", key, map[string]string{}, bytes.NewReader(forged), int64(len(forged)), nil); err != nil {
		t.Fatal(err)
	}
	report, err := a.Verify(context.Background(), app.Principal{Role: app.RoleAuditor, Subject: "a"}, nil)
	if err != nil || report.OK() || !strings.Contains(report.Problem.Detail, receipt.str("id")) {
		t.Fatalf("verify after a swap in the bucket: %+v %v", report, err)
	}
	if _, err := backend.PutObject("receipts", key, map[string]string{}, bytes.NewReader(pdf), int64(len(pdf)), nil); err != nil {
		t.Fatal(err)
	}

	// Erasing the member deletes the object; the audit still verifies.
	api.as(api.admin()).post("/v1/reimbursements/"+id+"/deny", `{"reason":"duplicate"}`).want(t, http.StatusOK)
	api.as(api.operator()).post("/v1/members/"+api.dir.Member.ID.String()+"/erasure", `{"reason":"request"}`).want(t, http.StatusOK)
	if _, err := backend.GetObject("receipts", key, nil); err == nil {
		t.Fatal("the erased member's receipt is still in the bucket")
	}
	if report, err := a.Verify(context.Background(), app.Principal{Role: app.RoleAuditor, Subject: "a"}, nil); err != nil || !report.OK() {
		t.Fatalf("verify after the erasure: %+v %v", report, err)
	}
}
