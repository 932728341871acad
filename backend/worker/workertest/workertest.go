// Package workertest runs a worker in a test: fast polls, the tests' audit
// key, and the sagas over the fakes of package sagatest unless the test
// brings its own.
package workertest

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/postgres"
	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
	"github.com/reimbursement-ledger/ledger/backend/saga"
	"github.com/reimbursement-ledger/ledger/backend/saga/sagatest"
	"github.com/reimbursement-ledger/ledger/backend/worker"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// Config returns cfg with what it leaves empty filled in: a quiet logger,
// 10 ms polls, 5 ms retries, postgrestest.AuditSigner, and the payment and
// notification sagas over a sagatest.Gateway and a sagatest.Mailer.
func Config(cfg worker.Config) worker.Config {
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 10 * time.Millisecond
	}
	if cfg.RetryInterval == 0 {
		cfg.RetryInterval = 5 * time.Millisecond
	}
	if cfg.AuditSigner == nil {
		cfg.AuditSigner = postgrestest.AuditSigner
	}
	if cfg.Payments == nil {
		cfg.Payments = Payments(cfg, &sagatest.Gateway{})
	}
	if cfg.Notifications == nil {
		cfg.Notifications = Notifications(cfg, &sagatest.Mailer{})
	}
	return cfg
}

// On returns cfg over db, as the binary wires it: db's stores, its bus
// (polling only, unless cfg brings a bus of its own) and every registered
// projection unless cfg names some.
func On(db *postgres.DB, cfg worker.Config) worker.Config {
	cfg.Stores = db.Stores()
	if cfg.Bus == nil {
		cfg.Bus = db.Subscriptions.Bus(nil)
	}
	if cfg.Projections == nil {
		cfg.Projections = Projections(postgres.AllProjections()...)
	}
	return cfg
}

// Projections returns the projections as the worker takes them.
func Projections(ps ...*postgres.Projection) []app.Projection {
	out := make([]app.Projection, len(ps))
	for i, p := range ps {
		out[i] = p
	}
	return out
}

// Payments is the payment saga over cfg's stores and the given rail.
func Payments(cfg worker.Config, gateway saga.PaymentGateway) *saga.Payments {
	return saga.NewPayments(streams(cfg), gateway, quiet, time.Now)
}

// Notifications is the notification saga over cfg's stores and the given
// mailer.
func Notifications(cfg worker.Config, mailer saga.Mailer) *saga.Notifications {
	return saga.NewNotifications(streams(cfg), mailer, quiet, time.Now)
}

// streams are the aggregates over cfg's stores as the sagas read them,
// with personal data opened under the process's key (app.New's default,
// which every App of a test without a PII key shares).
func streams(cfg worker.Config) app.Streams {
	return app.New(app.Config{Stores: cfg.Stores}).Streams()
}

// Start runs a worker of Config(cfg) until stop is called or the test
// ends; a worker that returns an error fails the test.
func Start(t testing.TB, cfg worker.Config) (w *worker.Worker, stop func()) {
	t.Helper()
	w, err := worker.New(Config(cfg))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	<-w.Running()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("worker: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return w, stop
}
