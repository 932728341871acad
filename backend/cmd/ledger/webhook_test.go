package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
	"github.com/reimbursement-ledger/ledger/backend/webhook"
	"github.com/reimbursement-ledger/ledger/backend/worker"
)

// The webhooks' retry schedule and lease come from the environment, each
// setting checked alone and the schedule as a whole.
func TestWebhookDeliverySettings(t *testing.T) {
	withDB := func(vars map[string]string) map[string]string {
		vars["DATABASE_URL"] = "postgres://x"
		return vars
	}
	cfg, err := loadConfig(env(withDB(map[string]string{})))
	if err != nil || cfg.WebhookSchedule != webhook.DefaultSchedule || cfg.WebhookLease != worker.DefaultWebhookLease {
		t.Fatalf("unset: %+v, lease %s, %v; want the default schedule and lease", cfg.WebhookSchedule, cfg.WebhookLease, err)
	}
	cfg, err = loadConfig(env(withDB(map[string]string{"WEBHOOK_RETRY_FIRST": "2s", "WEBHOOK_RETRY_MAX_DELAY": "1m",
		"WEBHOOK_RETRY_WINDOW": "6h", "WEBHOOK_RETRY_JITTER": "0", "WEBHOOK_DELIVERY_LEASE": "45s"})))
	want := webhook.Schedule{First: 2 * time.Second, MaxDelay: time.Minute, Window: 6 * time.Hour, Jitter: 0}
	if err != nil || cfg.WebhookSchedule != want || cfg.WebhookLease != 45*time.Second {
		t.Fatalf("set: %+v, lease %s, %v; want %+v, 45s", cfg.WebhookSchedule, cfg.WebhookLease, err, want)
	}
	// One setting is enough; the others keep their defaults.
	cfg, err = loadConfig(env(withDB(map[string]string{"WEBHOOK_RETRY_WINDOW": "24h"})))
	if want := (webhook.Schedule{First: 5 * time.Second, MaxDelay: 8 * time.Hour, Window: 24 * time.Hour, Jitter: 0.2}); err != nil || cfg.WebhookSchedule != want {
		t.Fatalf("a shorter window alone: %+v, %v", cfg.WebhookSchedule, err)
	}

	for _, tt := range []struct {
		vars map[string]string
		want string
	}{
		{map[string]string{"WEBHOOK_RETRY_FIRST": "soon"}, "WEBHOOK_RETRY_FIRST"},
		{map[string]string{"WEBHOOK_RETRY_FIRST": "5"}, "WEBHOOK_RETRY_FIRST"}, // no unit
		{map[string]string{"WEBHOOK_RETRY_FIRST": "500ms"}, "at least 1s"},
		{map[string]string{"WEBHOOK_RETRY_MAX_DELAY": "-8h"}, "WEBHOOK_RETRY_MAX_DELAY"},
		{map[string]string{"WEBHOOK_RETRY_WINDOW": "3 days"}, "WEBHOOK_RETRY_WINDOW"},
		{map[string]string{"WEBHOOK_RETRY_JITTER": "20%"}, "WEBHOOK_RETRY_JITTER"},
		{map[string]string{"WEBHOOK_RETRY_JITTER": "1.5"}, "WEBHOOK_RETRY_JITTER"},
		{map[string]string{"WEBHOOK_RETRY_JITTER": "-0.1"}, "WEBHOOK_RETRY_JITTER"},
		{map[string]string{"WEBHOOK_RETRY_JITTER": "NaN"}, "WEBHOOK_RETRY_JITTER"},
		// Consistency: first <= longest delay <= window, with the others' defaults.
		{map[string]string{"WEBHOOK_RETRY_FIRST": "10h"}, "the longest delay must be at least the first"},
		{map[string]string{"WEBHOOK_RETRY_WINDOW": "1h"}, "the window must be at least the longest delay"},
		{map[string]string{"WEBHOOK_RETRY_FIRST": "1m", "WEBHOOK_RETRY_MAX_DELAY": "30s"}, "WEBHOOK_RETRY_MAX_DELAY 30s"},
		{map[string]string{"WEBHOOK_DELIVERY_LEASE": "2"}, "WEBHOOK_DELIVERY_LEASE"},
		{map[string]string{"WEBHOOK_DELIVERY_LEASE": "15s"}, "longer than an attempt may take (15s)"},
		{map[string]string{"WEBHOOK_DELIVERY_LEASE": "-2m"}, "WEBHOOK_DELIVERY_LEASE"},
		{map[string]string{"WEBHOOK_ROTATION_WINDOW": "59s"}, "WEBHOOK_ROTATION_WINDOW \"59s\": want a duration of at least 1m"},
		{map[string]string{"WEBHOOK_ROTATION_WINDOW": "24"}, "WEBHOOK_ROTATION_WINDOW"}, // no unit
		{map[string]string{"WEBHOOK_ALLOW_PRIVATE": "yes"}, "WEBHOOK_ALLOW_PRIVATE"},
	} {
		_, err := loadConfig(env(withDB(tt.vars)))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: %v, want an error about %s", tt.vars, err, tt.want)
		}
	}
}

// serve follows the schedule the environment sets: with a window of 2s, an
// endpoint whose receiver always fails is disabled within seconds (the
// default schedule would keep trying for three days), its reason naming
// the window.
func TestServeRetriesWebhooksOnTheConfiguredSchedule(t *testing.T) {
	var calls atomic.Int64
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer rcv.Close()
	vars := map[string]string{"DATABASE_URL": postgrestest.NewDatabaseURL(t), "HTTP_ADDR": "127.0.0.1:0", "LOG_LEVEL": "warn",
		"AUDIT_SIGNING_KEY": postgrestest.AuditSigningKey, "AUTH_DEV_ISSUER": "true", "WEBHOOK_ALLOW_PRIVATE": "true",
		"WEBHOOK_RETRY_FIRST": "1s", "WEBHOOK_RETRY_MAX_DELAY": "1s", "WEBHOOK_RETRY_WINDOW": "2s", "WEBHOOK_RETRY_JITTER": "0",
		"WEBHOOK_DELIVERY_LEASE": "30s"}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"seed"}, env(vars), &out, io.Discard, nil); err != nil {
		t.Fatalf("seed: %v", err)
	}
	ada, grace := printedToken(t, out.String(), "ADA_TOKEN"), printedToken(t, out.String(), "GRACE_TOKEN")
	base, _ := startServe(t, vars, nil)

	status, created := call(t, http.MethodPost, base+"/v1/banks/"+seedBank.ID.String()+"/webhook-endpoints", grace,
		`{"url":"`+rcv.URL+`","event_types":["reimbursement.submitted"]}`)
	if status != http.StatusCreated {
		t.Fatalf("register: %d %v", status, created)
	}
	endpoint := base + "/v1/banks/" + seedBank.ID.String() + "/webhook-endpoints/" + created["id"].(string)
	if status, body := call(t, http.MethodPost, base+"/v1/reimbursements", ada,
		`{"bank_account_id":"`+seedAccounts[0].ID.String()+`","amount":"4.20","description":"Bus"}`); status != http.StatusCreated {
		t.Fatalf("submit: %d %v", status, body)
	}
	var got map[string]any
	postgrestest.Eventually(t, "the endpoint disabled after the configured window", func() bool {
		_, got = call(t, http.MethodGet, endpoint, grace, "")
		return got["disabled"] == true
	})
	if reason, _ := got["disabled_reason"].(string); !strings.Contains(reason, "failed for 2s") || !strings.Contains(reason, "503") {
		t.Errorf("disabled_reason %q, want the 2s window and the last answer", reason)
	}
	if n := calls.Load(); n < 2 {
		t.Errorf("the receiver was called %d times, want a retry before giving up", n)
	}
}
