package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/reimbursement-ledger/ledger/backend/achdir"
	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/audit"
	"github.com/reimbursement-ledger/ledger/backend/httpapi"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/metrics"
	"github.com/reimbursement-ledger/ledger/backend/postgres"
	"github.com/reimbursement-ledger/ledger/backend/postgres/bus"
	"github.com/reimbursement-ledger/ledger/backend/saga"
	"github.com/reimbursement-ledger/ledger/backend/tracing"
	"github.com/reimbursement-ledger/ledger/backend/webhook"
	"github.com/reimbursement-ledger/ledger/backend/worker"
)

type dbHandle struct{ *postgres.DB }

// The command line acts as the operator, and as the auditor for the
// auditor's commands: whoever runs it holds the database's credentials.
var (
	operator = app.Principal{Role: app.RoleOperator}
	auditor  = app.Principal{Role: app.RoleAuditor}
)

// newApp returns the use cases over db, for commands that check no part of
// the audit log.
func newApp(cfg config, db *postgres.DB) *app.App { return newAuditedApp(cfg, db, audit.Keys{}) }

// newAuditedApp returns the use cases over db, checking the audit log with keys.
func newAuditedApp(cfg config, db *postgres.DB, keys audit.Keys) *app.App {
	stores := db.Stores()
	if cfg.ReceiptStore != nil {
		stores.Receipts = cfg.ReceiptStore
	}
	return app.New(app.Config{Stores: stores, AuditKeys: keys, IdempotencyTTL: cfg.IdempotencyTTL, ReadWait: cfg.ReadWait, PositionKey: cfg.PositionKey,
		AccountNumberKey: cfg.AccountNumberKey, PaymentRail: cfg.PaymentRail, PIIKey: cfg.PIIKey, ReceiptMaxBytes: cfg.ReceiptMaxBytes,
		Webhooks: app.WebhookConfig{Destinations: webhook.Guard{AllowPrivate: cfg.WebhookAllowPrivate}, NewSecret: webhook.NewSecret,
			RotationWindow: cfg.WebhookRotationWindow}})
}

func withDB(ctx context.Context, cfg config, fn func(context.Context, *dbHandle) error) error {
	return withDBOptions(ctx, cfg, postgres.Options{MaxConns: cfg.MaxConns}, fn)
}

func withDBOptions(ctx context.Context, cfg config, opts postgres.Options, fn func(context.Context, *dbHandle) error) error {
	db, err := postgres.Open(ctx, cfg.DatabaseURL, opts)
	if err != nil {
		return err
	}
	defer db.Close()
	return fn(ctx, &dbHandle{db})
}

// serve runs the HTTP server (the API, or only the health endpoints for the
// worker role) and the workers, until ctx ends. Then it stops taking
// requests, lets in-flight ones finish, and stops the workers after their
// current event: nothing acknowledged is lost.
func serve(ctx context.Context, cfg config, r role, logger *slog.Logger, listening func(string)) error {
	tracingCfg := cfg.Tracing
	tracingCfg.Role = string(r)
	stopTracing, err := tracing.Setup(ctx, tracingCfg)
	if err != nil {
		return fmt.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT: %w", err)
	}
	if tracingCfg.Enabled() {
		logger.Info("tracing: exporting spans over OTLP", "endpoint", tracingCfg.Endpoint)
	}
	defer func() {
		// The spans still batched go out, within a bound: the collector
		// may be gone.
		flush, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := stopTracing(flush); err != nil {
			logger.Warn("tracing: the last spans were not exported", "error", err)
		}
	}()
	keys, signer, err := cfg.auditKeys()
	if err != nil {
		return err
	}
	if signer == nil && r != roleAPI {
		return errors.New("AUDIT_SIGNING_KEY is not set: a worker signs the audit tree heads with it (`ledger audit keygen` makes one)")
	}
	// Every API process must open the tokens the others sealed, so a
	// deployment sets one key; only a development ledger may do without.
	if cfg.PositionKey == nil && r != roleWorker {
		if !cfg.Auth.DevIssuer {
			return errors.New("POSITION_KEY is not set: it encrypts the Ledger-Position tokens, the same key in every API process (openssl rand -base64 32 makes one)")
		}
		logger.Warn("POSITION_KEY is not set: Ledger-Position tokens open only in this process, until it stops")
	}
	// What is sealed under one key must open under it later, in every
	// process: only a development ledger may do without.
	for _, k := range []struct {
		name, what, stored string
		key                []byte
	}{
		{"ACCOUNT_NUMBER_KEY", "the accounts' bank account numbers", "account numbers", cfg.AccountNumberKey},
		{"PII_KEY", "the members' personal data (descriptions, notes, e-mail addresses in the events)", "personal data", cfg.PIIKey},
	} {
		if k.key != nil {
			continue
		}
		if !cfg.Auth.DevIssuer {
			return fmt.Errorf("%s is not set: it encrypts %s, the same key in every process (openssl rand -base64 32 makes one)", k.name, k.what)
		}
		logger.Warn(k.name + " is not set: " + k.stored + " stored now open only in this process, until it stops")
	}
	return withDBOptions(ctx, cfg, postgres.Options{MaxConns: cfg.MaxConns, Timeouts: cfg.Timeouts, Logger: logger}, func(ctx context.Context, db *dbHandle) error {
		if cfg.MigrateOnStart {
			if err := db.Migrate(ctx); err != nil {
				return err
			}
		} else if rebased, err := db.Rebase(ctx); err != nil { // Migrate re-bases too
			return err
		} else if rebased {
			logger.Warn("the server's transaction ids were below the stored ones (a restore into a new cluster): delivery re-based")
		}
		var projections []app.Projection
		for _, p := range postgres.AllProjections() {
			projections = append(projections, p)
		}
		stores := db.Stores()
		m := metrics.New(metrics.Sources{Pool: db.SQL(), Subscriptions: db.Subscriptions, Deliveries: stores.Deliveries,
			DeadLetters: stores.DeadLetters}, worker.Groups(projections), worker.GroupTypes)
		ledgerApp := newAuditedApp(cfg, db.DB, keys)
		// Subscribers in this process of the types committed here wake at
		// once; those of other processes on the announcement (see Listen).
		notifier := bus.NewNotifier()
		db.OnCommit(func(types []string) {
			m.EventsAppended(types)
			if r != roleAPI {
				notifier.NotifyTypes(types)
			}
		})
		tokens, dev, err := cfg.Auth.tokens(ctx, db.DB, logger)
		if err != nil {
			return err
		}
		var w *worker.Worker // nil for the api role
		if r != roleAPI {
			streams := ledgerApp.Streams()
			var gateway saga.PaymentGateway = &saga.StubPaymentGateway{Logger: logger}
			var ach worker.ACHConfig
			if cfg.PaymentRail == ledger.PaymentRailACH {
				if ach, err = achRail(cfg, ledgerApp); err != nil {
					return err
				}
				gateway = worker.ACHGateway{Rail: ach.Rail}
			}
			w, err = worker.New(worker.Config{
				Stores:        stores,
				Bus:           db.Subscriptions.Bus(notifier),
				Projections:   projections,
				Observer:      m,
				PollInterval:  time.Second,
				Logger:        logger,
				Payments:      saga.NewPayments(streams, gateway, logger, time.Now),
				ACH:           ach,
				PersonalData:  ledgerApp.PersonalData(),
				Notifications: saga.NewNotifications(streams, mailer(cfg, logger), logger, time.Now),
				Webhooks: worker.WebhookConfig{
					Sender:   webhook.NewSender(webhook.SenderConfig{Guard: webhook.Guard{AllowPrivate: cfg.WebhookAllowPrivate}}),
					Schedule: cfg.WebhookSchedule,
					Lease:    cfg.WebhookLease,
				},
				AuditSigner: signer,
				MaxAttempts: cfg.WorkerMaxAttempts,
				StallAfter:  cfg.WorkerStallAfter,
			})
			if err != nil {
				return err
			}
		}
		// A worker is ready while its subscribers move; the API's readiness
		// does not depend on them (commands and reads go on while a
		// subscriber is stuck; /metrics and the logs report it).
		ready := db.Ping
		if r == roleWorker {
			ready = func(ctx context.Context) error {
				if err := db.Ping(ctx); err != nil {
					return err
				}
				if err := w.Ready(); err != nil {
					return &httpapi.NotReady{Reason: err.Error()}
				}
				return nil
			}
		}
		apiCfg := httpapi.Config{App: ledgerApp, Tokens: tokens, RateLimit: cfg.RateLimit, Ready: ready, Logger: logger,
			API: r != roleWorker, Observer: m, Metrics: m.Handler()}
		if dev != nil {
			apiCfg.DevTokens = dev
		}
		api := httpapi.New(apiCfg)
		ln, err := net.Listen("tcp", cfg.HTTPAddr)
		if err != nil {
			return fmt.Errorf("listen on %s: %w", cfg.HTTPAddr, err)
		}
		srv := newHTTPServer(api, defaultTimeouts)
		httpDone := make(chan error, 1)
		go func() { httpDone <- srv.Serve(ln) }()
		logger.Info("ledger serving", "addr", ln.Addr().String(), "role", string(r))
		if listening != nil {
			listening(ln.Addr().String())
		}

		if r != roleWorker {
			go pruneIdempotencyKeys(ctx, ledgerApp, logger)
		}

		workerCtx, stopWorker := context.WithCancel(context.WithoutCancel(ctx))
		defer stopWorker()
		go db.Subscriptions.AnnounceCommits(workerCtx, logger)
		var workerDone chan error // nil for the api role: never ready in a select
		if w != nil {
			workerDone = make(chan error, 1)
			go func() {
				if err := db.Subscriptions.Listen(workerCtx, notifier, logger); err != nil {
					logger.Warn("cannot listen for event notifications; subscribers poll", "error", err)
				}
			}()
			go func() { workerDone <- w.Run(workerCtx) }()
		}

		var runErr error
		select {
		case <-ctx.Done():
			logger.Info("shutting down")
		case err := <-httpDone:
			runErr = fmt.Errorf("http server: %w", err)
		case err := <-workerDone:
			runErr = fmt.Errorf("worker stopped unexpectedly: %v", err)
			workerDone = nil
		}

		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		defer cancel()
		if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
			runErr = errors.Join(runErr, fmt.Errorf("http shutdown: %w", err))
		}
		stopWorker()
		if workerDone != nil {
			select {
			case err := <-workerDone:
				if err != nil {
					runErr = errors.Join(runErr, fmt.Errorf("worker: %w", err))
				}
			case <-shutdownCtx.Done():
				runErr = errors.Join(runErr, errors.New("workers did not stop in time"))
			}
		}
		logger.Info("stopped")
		return runErr
	})
}

// pruneIdempotencyKeys deletes expired Idempotency-Keys every hour until ctx ends.
func pruneIdempotencyKeys(ctx context.Context, a *app.App, logger *slog.Logger) {
	tick := time.NewTicker(time.Hour)
	defer tick.Stop()
	for {
		if n, err := a.PruneIdempotencyKeys(ctx); err != nil && ctx.Err() == nil {
			logger.Warn("pruning idempotency keys failed", "error", err)
		} else if n > 0 {
			logger.Info("pruned idempotency keys", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// timeouts bound how long a client may take: a slow or stalled client cannot
// hold a connection, and so a goroutine and a pool slot, forever.
type timeouts struct {
	readHeader, read, write, idle time.Duration
}

var defaultTimeouts = timeouts{readHeader: 5 * time.Second, read: 15 * time.Second, write: 30 * time.Second, idle: 2 * time.Minute}

func newHTTPServer(h http.Handler, t timeouts) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: t.readHeader, ReadTimeout: t.read, WriteTimeout: t.write, IdleTimeout: t.idle}
}

// mailer is the SMTP mailer when MAIL_TRANSPORT=smtp, else the stub that
// logs each e-mail.
// achRail is the ACH rail over cfg's folders (PAYMENT_RAIL=ach).
func achRail(cfg config, a *app.App) (worker.ACHConfig, error) {
	outbox, err := achdir.NewOutbox(cfg.ACH.OutboxDir)
	if err != nil {
		return worker.ACHConfig{}, fmt.Errorf("ACH_OUTBOX_DIR: %w", err)
	}
	inbox, err := achdir.NewInbox(cfg.ACH.ReturnsDir)
	if err != nil {
		return worker.ACHConfig{}, fmt.Errorf("ACH_RETURNS_DIR: %w", err)
	}
	rail, err := a.ACHRail(app.ACHConfig{ODFIRouting: cfg.ACH.ODFIRouting, ODFIName: cfg.ACH.ODFIName, OriginID: cfg.ACH.OriginID,
		CompanyName: cfg.ACH.CompanyName, CompanyID: cfg.ACH.CompanyID, Outbox: outbox, Inbox: inbox, ReturnWindow: cfg.ACH.ReturnWindow})
	if err != nil {
		return worker.ACHConfig{}, err
	}
	return worker.ACHConfig{Rail: rail, Cutoff: cfg.ACH.Cutoff}, nil
}

func mailer(cfg config, logger *slog.Logger) saga.Mailer {
	if cfg.SMTPMailer != nil {
		return cfg.SMTPMailer
	}
	return &saga.StubMailer{Logger: logger}
}
