package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/reimbursement-ledger/ledger/backend/app"
)

func testIdempotencyKeys(t *testing.T, h Harness) {
	ctx := context.Background()
	keys := h.Stores.Idempotency
	// A transaction holds "k" until it ends.
	locked, release, held := make(chan bool, 1), make(chan struct{}), make(chan error, 1)
	go func() {
		held <- h.Stores.Transact(ctx, func(tx app.Tx) error {
			ok, err := tx.Idempotency.Lock(ctx, "k")
			locked <- ok
			<-release
			return err
		})
	}()
	if !<-locked {
		t.Fatal("the first transaction did not get the key")
	}
	must(t, h.Stores.Transact(ctx, func(tx app.Tx) error {
		if ok, err := tx.Idempotency.Lock(ctx, "k"); err != nil || ok {
			t.Errorf("a second transaction locked a held key: %v, %v", ok, err)
		}
		if ok, err := tx.Idempotency.Lock(ctx, "other"); err != nil || !ok {
			t.Errorf("another key: %v, %v", ok, err)
		}
		return nil
	}))
	close(release)
	must(t, <-held)
	must(t, h.Stores.Transact(ctx, func(tx app.Tx) error {
		for range 2 { // a transaction may take a key it holds
			if ok, err := tx.Idempotency.Lock(ctx, "k"); err != nil || !ok {
				t.Errorf("the key once its holder ended: %v, %v", ok, err)
			}
		}
		return nil
	}))

	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	first := app.StoredResponse{Fingerprint: []byte{1, 2, 3}, Status: 201, Headers: map[string]string{"Location": "/v1/x"}, Body: []byte(`{"id":"x"}` + "\n")}
	must(t, keys.Save(ctx, "k", first, at))
	find := func(since time.Time) (app.StoredResponse, bool) {
		t.Helper()
		resp, found, err := keys.Find(ctx, "k", since)
		if err != nil {
			t.Fatal(err)
		}
		return resp, found
	}
	if got, found := find(at.Add(-time.Second)); !found || string(got.Fingerprint) != string(first.Fingerprint) ||
		got.Status != first.Status || got.Headers["Location"] != "/v1/x" || len(got.Headers) != 1 || string(got.Body) != string(first.Body) {
		t.Fatalf("found %+v, %v; want %+v", got, found, first)
	}
	if _, found := find(at.Add(time.Second)); found {
		t.Fatal("found an answer stored before since")
	}
	second := app.StoredResponse{Fingerprint: []byte{4}, Status: 200, Body: []byte("{}\n")}
	must(t, keys.Save(ctx, "k", second, at.Add(time.Hour)))
	if got, found := find(at); !found || got.Status != 200 || string(got.Fingerprint) != "\x04" {
		t.Fatalf("after a second save found %+v, %v", got, found)
	}
	for _, want := range []int64{1, 0} {
		if n, err := keys.Prune(ctx, at.Add(2*time.Hour)); err != nil || n != want {
			t.Fatalf("prune %d, %v; want %d", n, err, want)
		}
	}
	if _, found := find(time.Time{}); found {
		t.Fatal("found a pruned answer")
	}
}
