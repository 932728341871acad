// Command ledger runs the reimbursement ledger: `ledger serve` for the HTTP
// API and the workers, `ledger migrate` for the schema, `ledger seed` for a
// demo directory.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/audit"
	"github.com/reimbursement-ledger/ledger/backend/httpapi"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/logging"
	"github.com/reimbursement-ledger/ledger/backend/postgres"
	"github.com/reimbursement-ledger/ledger/backend/s3blobs"
	"github.com/reimbursement-ledger/ledger/backend/smtp"
	"github.com/reimbursement-ledger/ledger/backend/tracing"
	"github.com/reimbursement-ledger/ledger/backend/webhook"
	"github.com/reimbursement-ledger/ledger/backend/worker"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr, nil)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "ledger:", err)
	}
	os.Exit(exitCode(err))
}

// errCheckFailed marks a check that ran and found a problem (audit verify
// on an altered log): exit status 1.
var errCheckFailed = errors.New("check failed")

// exitCode is the process's exit status for run's error: 0 when it did its
// work (or printed the help asked for), 1 when a check found a problem, 2
// when it could not do its work: a usage or configuration error, or a
// failure such as an unreachable database.
func exitCode(err error) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errCheckFailed):
		return 1
	default:
		return 2
	}
}

const usage = `usage: ledger <command> [flags]

commands:
  serve [--role api|worker|all]       serve the HTTP API and/or run the workers (migrates first unless MIGRATE_ON_START=false)
  migrate                             apply database migrations
  seed                                create a demo bank, members, administrators and accounts
  audit verify [--checkpoints FILE]   recompute every hash chain, the Merkle tree against every signed head, and the
                                      HMAC checkpoints of an older log; exit 1 naming the first broken event
  audit verify --since-head           check only the newest signed head and the events after it (fast; not the whole log)
  audit export --to DIR               write the events (as hashed) and the signed heads into DIR, for an offline verify
  audit export                        print the HMAC checkpoints an older ledger recorded as JSON lines
  audit verify --offline DIR --public-key FILE [--head FILE]
                                      check an export with the public key alone (no database, no secret); --head: a
                                      head stored earlier, which the export must extend
  audit watch --store FILE --public-key FILE [--url URL] [--once] [--interval D]
                                      follow the signed heads over the API (LEDGER_TOKEN: an auditor's token), accept each
                                      only with a consistency proof from the stored one; exit 1 on a fork or rewrite
  audit keygen --name NAME            print a new signing key (first line, for AUDIT_SIGNING_KEY) and its public key
  events tail [--follow] [--after N]  print the event feed as JSON lines
  projections status                  each projector and saga: its position, the head, the lag
  projections rebuild NAME            rebuild a read model from the events while the live one serves
  deadletters list [--status S]       the events a saga gave up on (parked; or retrying, resolved, discarded, all)
  deadletters retry ID [--wait D]     have the worker handle a parked event again with its saga (waits 30s for the outcome)
  deadletters discard ID --reason TEXT [--by NAME]
                                      give up on a parked event for good, recorded as a DeadLetterDiscarded event
  ach returns [--limit N]             the ACH return files read, newest first, with what could not be applied
                                      (unknown trace numbers, ...) and the files rejected as malformed
  export --bank ID [--status S] [--payment-status S] [--submitted-from T] [--submitted-to T] [--amount-min A] [--amount-max A]
                                      print a bank's reimbursements as CSV, filtered as the API's lists are
                                      (ledger export --bank ID > file.csv; progress on standard error)
  sleep DURATION                      wait, then exit 0 (a preStop hook in an image without a shell)
  token member ID | admin ID | auditor | operator
                                      print a development token (AUTH_DEV_ISSUER=true only)

environment:
  DATABASE_URL   PostgreSQL URL (required)
  HTTP_ADDR      listen address (default :8080)
  LOG_LEVEL      debug, info, warn or error (default info)
  DB_MAX_CONNS   connection pool size (default 20)
  AUDIT_SIGNING_KEY  the Ed25519 key that signs the audit tree heads, from ` + "`ledger audit keygen`" + ` (serve, audit); a
                 rotated key keeps its name
  AUDIT_PUBLIC_KEYS  more public keys heads may be signed with (retired keys after a rotation), comma-separated;
                 without AUDIT_SIGNING_KEY, enough for serve --role api and audit verify
  AUDIT_KEY      the secret that signed the HMAC checkpoints of a ledger older than tree heads; set, audit
                 verify checks them too (optional)
  IDEMPOTENCY_TTL  how long Idempotency-Keys are remembered (default 24h)
  READ_WAIT_MAX  how long a list sent min_position waits for the projection before 503 (default 2s, at most 5s)
  RECEIPT_MAX_BYTES  the largest receipt a member may upload, in bytes (default 10485760, 10 MiB; at most 1 GiB);
                 a larger upload gets 413 without the rest being read
  RECEIPT_STORE  where receipts' bytes are kept: postgres (default: large objects in the ledger's database) or s3
  S3_ENDPOINT, S3_BUCKET, S3_REGION, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY
                 the S3-compatible bucket of RECEIPT_STORE=s3 (endpoint host[:port], e.g.
                 nyc3.digitaloceanspaces.com); S3_INSECURE=true talks plain http, to a local server only
  POSITION_KEY   32 random bytes in base64 (openssl rand -base64 32) that encrypt the Ledger-Position tokens;
                 one per deployment, the same in every API process (serve, unless AUTH_DEV_ISSUER=true: then
                 a random key of the process's own when unset)
  ACCOUNT_NUMBER_KEY  32 random bytes in base64 (openssl rand -base64 32) that wrap the keys encrypting the
                 accounts' bank account numbers; one per deployment, kept for as long as the numbers (serve,
                 unless AUTH_DEV_ISSUER=true: then a random key of the process's own when unset)
  PII_KEY        32 random bytes in base64 (openssl rand -base64 32) that wrap each member's key, under which
                 their personal data in the events is sealed (descriptions, notes, reasons, e-mail addresses);
                 one per deployment, kept for as long as the events (serve, unless AUTH_DEV_ISSUER=true: then
                 a random key of the process's own when unset; see docs/privacy.md)
  PAYMENT_RAIL   how payouts are paid: stub (default, pays nothing) or ach, which requires every new account's
                 routing_number, account_number and account_type, and the ACH_ settings (see docs/payments.md)
  ACH_ODFI_ROUTING, ACH_ORIGIN_ID, ACH_COMPANY_NAME, ACH_COMPANY_ID
                 the ODFI's routing number, the origin id it assigned, the name members see (at most 16
                 characters) and the 10-character company id (PAYMENT_RAIL=ach)
  ACH_ODFI_NAME  the ODFI's name in the file header (optional)
  ACH_OUTBOX_DIR  where the NACHA files go for the ODFI's uploader (PAYMENT_RAIL=ach)
  ACH_RETURNS_DIR  where the ODFI's return files are dropped; read ones move into processed/ or rejected/
  ACH_CUTOFF     how often the files are written (default 15m)
  ACH_RETURN_WINDOW  how long after it was sent a credit with no return settles (default 96h)
  MIGRATE_ON_START  false leaves migrations to ` + "`ledger migrate`" + ` (default true)
  AUTH_ISSUER    issuer (iss) of the bearer tokens the API accepts (serve)
  AUTH_AUDIENCE  audience (aud) the tokens must carry (serve)
  AUTH_JWKS_URL  the issuer's JWK Set (default: found by OpenID Connect discovery at AUTH_ISSUER)
  AUTH_DEV_ISSUER  true makes the ledger sign and accept its own development tokens; never in production,
                 and refused together with AUTH_ISSUER (default false)
  RATE_LIMIT, RATE_LIMIT_BURST  commands per second each caller may send, and at once (default 50, 100)
  WORKER_MAX_ATTEMPTS  failures in a row on one event before a saga parks it as a dead letter and a projector
                 halts (it never skips one) and is reported (default 10)
  WORKER_STALL_AFTER  how long a subscriber's position may stay put while events wait before the worker reports
                 it stalled in /readyz and ledger_subscriber_stalled (default 30s)
  WEBHOOK_ALLOW_PRIVATE  true lets webhook endpoints use loopback or private addresses (a receiver on a
                 developer's machine), over https or, to those addresses only, plain http; a public
                 address needs https whatever the setting; never in production (default false)
  WEBHOOK_ROTATION_WINDOW  how long a rotated webhook secret still signs deliveries, at least 1m (default 24h)
  WEBHOOK_RETRY_FIRST, WEBHOOK_RETRY_MAX_DELAY, WEBHOOK_RETRY_WINDOW
                 when a failed webhook delivery is tried again: after the first delay, doubling up to the
                 longest delay, until the window has passed since the first attempt; then it has failed and
                 its endpoint is disabled (default 5s, 8h, 72h; first <= longest delay <= window, first >= 1s)
  WEBHOOK_RETRY_JITTER  the fraction of each delay drawn at random, from 0 to 1 (default 0.2)
  WEBHOOK_DELIVERY_LEASE  how long a worker holds a delivery it is sending before another may send it; longer
                 than an attempt may take, 15s (default 2m)
  MAIL_TRANSPORT  how the member e-mails go out: log (only logged; the default) or smtp
  SMTP_URL       the SMTP server (MAIL_TRANSPORT=smtp): smtp://user:password@host:587 requires STARTTLS,
                 smtps://user:password@host:465 is TLS from the start, smtp://host:1025?tls=none sends in clear
                 and without credentials, to a local catcher such as Mailpit
  SMTP_FROM      the sender's address (MAIL_TRANSPORT=smtp); its domain ends each Message-ID
  DB_IDLE_IN_TRANSACTION_TIMEOUT, DB_STATEMENT_TIMEOUT, DB_LOCK_TIMEOUT
                 bounds on serve's database sessions (default 5s, 30s, 30s): a frozen worker's batch
                 holds its consumer groups for at most the first, and another worker takes over
  OTEL_EXPORTER_OTLP_ENDPOINT  where serve sends its traces over OTLP/HTTP (say http://localhost:4318); unset,
                 tracing is off. The exporter reads the other OTEL_EXPORTER_OTLP_* variables (headers, timeout) and
                 OTEL_RESOURCE_ATTRIBUTES itself (see docs/operations.md, "Traces")

exit status:
  0  done
  1  a check found a problem (audit verify: the log was altered)
  2  usage or configuration error, or the work could not be done (e.g. the database does not answer)
`

// maxReadWait bounds READ_WAIT_MAX.
const maxReadWait = 5 * time.Second

// config is the environment, read once here and passed down.
type config struct {
	DatabaseURL string
	HTTPAddr    string
	LogLevel    slog.Level
	MaxConns    int
	// auditSecret (AUDIT_KEY) checks the HMAC checkpoints recorded before
	// tree heads; auditSigningKey (AUDIT_SIGNING_KEY) signs tree heads;
	// auditPublicKeys (AUDIT_PUBLIC_KEYS) are more keys heads may carry.
	auditSecret, auditSigningKey, auditPublicKeys string
	// Tracing exports spans over OTLP when its endpoint
	// (OTEL_EXPORTER_OTLP_ENDPOINT) is set (serve).
	Tracing tracing.Config
	// IdempotencyTTL is how long Idempotency-Keys are remembered.
	IdempotencyTTL time.Duration
	// ReceiptMaxBytes (RECEIPT_MAX_BYTES) is the largest receipt accepted.
	ReceiptMaxBytes int64
	// ReceiptStore (RECEIPT_STORE=s3) keeps receipts' bytes in a bucket;
	// nil keeps them in PostgreSQL.
	ReceiptStore *s3blobs.Store
	// ReadWait bounds how long a list waits for the projection to reach
	// the min_position it was sent.
	ReadWait time.Duration
	// PositionKey (POSITION_KEY) seals the Ledger-Position tokens; nil
	// when unset.
	PositionKey []byte
	// AccountNumberKey (ACCOUNT_NUMBER_KEY) wraps the keys of the account
	// numbers; nil when unset.
	AccountNumberKey []byte
	// PIIKey (PII_KEY) wraps the members' personal data keys; nil when
	// unset.
	PIIKey []byte
	// PaymentRail (PAYMENT_RAIL) is ledger.PaymentRailStub or
	// ledger.PaymentRailACH.
	PaymentRail string
	// MigrateOnStart lets serve apply pending migrations before it serves.
	MigrateOnStart bool
	Auth           authConfig
	// RateLimit bounds each principal's commands.
	RateLimit httpapi.RateLimit
	// WorkerMaxAttempts is how many failures in a row on one event a
	// subscriber takes before a saga parks the event and a projector halts.
	WorkerMaxAttempts int
	// WorkerStallAfter is how long a subscriber may stand still with events
	// waiting before it is reported stalled.
	WorkerStallAfter time.Duration
	// Timeouts bound serve's database sessions (the command line's keep
	// the defaults: a rebuild's statements run long).
	Timeouts postgres.Timeouts
	// WebhookAllowPrivate is the development setting that lets webhooks go
	// to plain http and to loopback and private addresses.
	WebhookAllowPrivate bool
	// WebhookRotationWindow is how long a rotated secret still signs.
	WebhookRotationWindow time.Duration
	// WebhookSchedule is when failed deliveries are tried again.
	WebhookSchedule webhook.Schedule
	// WebhookLease is how long a worker holds a delivery it sends.
	WebhookLease time.Duration
	// SMTPMailer delivers the member e-mails when MAIL_TRANSPORT=smtp; nil
	// logs them (the stub).
	SMTPMailer *smtp.Mailer
	// ACH configures the ACH rail when PaymentRail is ach.
	ACH achConfig
}

// achConfig is the ACH rail's settings.
type achConfig struct {
	ODFIRouting, ODFIName, OriginID, CompanyName, CompanyID string
	OutboxDir, ReturnsDir                                   string
	Cutoff, ReturnWindow                                    time.Duration
}

// auditKeys returns the keys that check the log: the public keys of tree
// heads (AUDIT_SIGNING_KEY's, then AUDIT_PUBLIC_KEYS), and AUDIT_KEY for
// the HMAC checkpoints recorded before heads, when set. The signer is nil
// unless AUDIT_SIGNING_KEY is set.
func (c config) auditKeys() (audit.Keys, *audit.Signer, error) {
	var keys audit.Keys
	var signer *audit.Signer
	if c.auditSigningKey != "" {
		s, err := audit.NewSigner(c.auditSigningKey)
		if err != nil {
			return keys, nil, err
		}
		signer = s
		keys.Public = append(keys.Public, s.PublicKey())
	}
	if c.auditPublicKeys != "" {
		more, err := audit.ParsePublicKeys(c.auditPublicKeys)
		if err != nil {
			return keys, nil, fmt.Errorf("AUDIT_PUBLIC_KEYS: %w", err)
		}
		keys.Public = append(keys.Public, more...)
	}
	if len(keys.Public) == 0 {
		return keys, nil, errors.New("AUDIT_SIGNING_KEY is not set: it signs the audit tree heads (`ledger audit keygen` makes one)")
	}
	if c.auditSecret != "" {
		k, err := audit.NewKey(c.auditSecret)
		if err != nil {
			return keys, nil, err
		}
		keys.HMAC = k
	}
	return keys, signer, nil
}

func loadConfig(getenv func(string) string) (config, error) {
	cfg := config{DatabaseURL: getenv("DATABASE_URL"), HTTPAddr: getenv("HTTP_ADDR"), MaxConns: postgres.DefaultMaxConns, auditSecret: getenv("AUDIT_KEY"),
		auditSigningKey: getenv("AUDIT_SIGNING_KEY"), auditPublicKeys: getenv("AUDIT_PUBLIC_KEYS"),
		Tracing: tracing.Config{Endpoint: getenv("OTEL_EXPORTER_OTLP_ENDPOINT")}}
	if cfg.DatabaseURL == "" {
		return cfg, errors.New("DATABASE_URL is not set (for a local database: go tool task run)")
	}
	if cfg.HTTPAddr == "" {
		cfg.HTTPAddr = ":8080"
	}
	if raw := getenv("LOG_LEVEL"); raw != "" {
		if err := cfg.LogLevel.UnmarshalText([]byte(raw)); err != nil {
			return cfg, fmt.Errorf("LOG_LEVEL %q: want debug, info, warn or error", raw)
		}
	}
	cfg.MigrateOnStart = true
	if raw := getenv("MIGRATE_ON_START"); raw != "" {
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return cfg, fmt.Errorf("MIGRATE_ON_START %q: want true or false", raw)
		}
		cfg.MigrateOnStart = b
	}
	var err error
	if cfg.Auth, err = loadAuthConfig(getenv); err != nil {
		return config{}, err
	}
	cfg.RateLimit = httpapi.RateLimit{PerSecond: 50, Burst: 100}
	if raw := getenv("RATE_LIMIT"); raw != "" {
		n, err := strconv.ParseFloat(raw, 64)
		if err != nil || n < 0 {
			return cfg, fmt.Errorf("RATE_LIMIT %q: want commands per second per caller, such as 50 (0 for no limit)", raw)
		}
		cfg.RateLimit.PerSecond = n
	}
	if raw := getenv("RATE_LIMIT_BURST"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 {
			return cfg, fmt.Errorf("RATE_LIMIT_BURST %q: want a whole number of at least 1", raw)
		}
		cfg.RateLimit.Burst = n
	}
	cfg.Timeouts = postgres.Timeouts{IdleInTransaction: 5 * time.Second, Statement: 30 * time.Second, Lock: 30 * time.Second}
	for _, setting := range []struct {
		name string
		into *time.Duration
	}{{"DB_IDLE_IN_TRANSACTION_TIMEOUT", &cfg.Timeouts.IdleInTransaction}, {"DB_STATEMENT_TIMEOUT", &cfg.Timeouts.Statement}, {"DB_LOCK_TIMEOUT", &cfg.Timeouts.Lock}} {
		if raw := getenv(setting.name); raw != "" {
			d, err := time.ParseDuration(raw)
			if err != nil || d < 100*time.Millisecond {
				return config{}, fmt.Errorf("%s %q: want a duration of at least 100ms, such as 5s", setting.name, raw)
			}
			*setting.into = d
		}
	}
	cfg.IdempotencyTTL = app.DefaultIdempotencyTTL
	if raw := getenv("IDEMPOTENCY_TTL"); raw != "" {
		d, err := time.ParseDuration(raw)
		if err != nil || d < time.Hour {
			return cfg, fmt.Errorf("IDEMPOTENCY_TTL %q: want a duration of at least 1h, such as 24h", raw)
		}
		cfg.IdempotencyTTL = d
	}
	cfg.ReceiptMaxBytes = app.DefaultReceiptMaxBytes
	if raw := getenv("RECEIPT_MAX_BYTES"); raw != "" {
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || n < 1 || n > 1<<30 {
			return cfg, fmt.Errorf("RECEIPT_MAX_BYTES %q: want a number of bytes from 1 to 1073741824, such as 10485760", raw)
		}
		cfg.ReceiptMaxBytes = n
	}
	switch store := getenv("RECEIPT_STORE"); store {
	case "", "postgres":
	case "s3":
		insecure := getenv("S3_INSECURE")
		if insecure != "" && insecure != "true" && insecure != "false" {
			return cfg, fmt.Errorf("S3_INSECURE %q: want true or false", insecure)
		}
		if cfg.ReceiptStore, err = s3blobs.New(s3blobs.Config{Endpoint: getenv("S3_ENDPOINT"), Bucket: getenv("S3_BUCKET"),
			Region: getenv("S3_REGION"), AccessKeyID: getenv("S3_ACCESS_KEY_ID"), SecretAccessKey: getenv("S3_SECRET_ACCESS_KEY"),
			Insecure: insecure == "true"}); err != nil {
			return cfg, fmt.Errorf("RECEIPT_STORE=s3: %w", err)
		}
	default:
		return cfg, fmt.Errorf("RECEIPT_STORE %q: want postgres (the default) or s3", store)
	}
	switch raw := getenv("WEBHOOK_ALLOW_PRIVATE"); raw {
	case "", "false":
	case "true":
		cfg.WebhookAllowPrivate = true
	default:
		return cfg, fmt.Errorf("WEBHOOK_ALLOW_PRIVATE %q: want true or false (written out)", raw)
	}
	cfg.WebhookRotationWindow = app.DefaultRotationWindow
	if raw := getenv("WEBHOOK_ROTATION_WINDOW"); raw != "" {
		d, err := time.ParseDuration(raw)
		if err != nil || d < time.Minute {
			return cfg, fmt.Errorf("WEBHOOK_ROTATION_WINDOW %q: want a duration of at least 1m, such as 24h", raw)
		}
		cfg.WebhookRotationWindow = d
	}
	if cfg.WebhookSchedule, cfg.WebhookLease, err = loadWebhookDelivery(getenv); err != nil {
		return config{}, err
	}
	switch transport := getenv("MAIL_TRANSPORT"); transport {
	case "", "log":
	case "smtp":
		// A delivery runs inside the subscriber's open batch transaction:
		// it must give up before the database ends that idle transaction.
		timeout := cfg.Timeouts.IdleInTransaction * 4 / 5
		if cfg.SMTPMailer, err = smtp.New(smtp.Config{URL: getenv("SMTP_URL"), From: getenv("SMTP_FROM"), Timeout: timeout}); err != nil {
			return config{}, fmt.Errorf("MAIL_TRANSPORT=smtp: %w", err)
		}
	default:
		return config{}, fmt.Errorf("MAIL_TRANSPORT %q: want log (the default) or smtp", transport)
	}
	cfg.WorkerMaxAttempts = worker.DefaultMaxAttempts
	if raw := getenv("WORKER_MAX_ATTEMPTS"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 {
			return cfg, fmt.Errorf("WORKER_MAX_ATTEMPTS %q: want a whole number of at least 1, such as 10", raw)
		}
		cfg.WorkerMaxAttempts = n
	}
	cfg.WorkerStallAfter = worker.DefaultStallAfter
	if raw := getenv("WORKER_STALL_AFTER"); raw != "" {
		d, err := time.ParseDuration(raw)
		if err != nil || d < time.Second {
			return cfg, fmt.Errorf("WORKER_STALL_AFTER %q: want a duration of at least 1s, such as 30s", raw)
		}
		cfg.WorkerStallAfter = d
	}
	// Well inside the API's 10 s bound on a request's work, so that a list
	// still behind answers 503 with Retry-After, not a timeout.
	cfg.ReadWait = app.DefaultReadWait
	if raw := getenv("READ_WAIT_MAX"); raw != "" {
		d, err := time.ParseDuration(raw)
		if err != nil || d <= 0 || d > maxReadWait {
			return cfg, fmt.Errorf("READ_WAIT_MAX %q: want a duration above 0 and at most %s, such as 2s", raw, maxReadWait)
		}
		cfg.ReadWait = d
	}
	if raw := getenv("POSITION_KEY"); raw != "" {
		if cfg.PositionKey, err = app.ParsePositionKey(raw); err != nil {
			return cfg, fmt.Errorf("POSITION_KEY: %w", err)
		}
	}
	if raw := getenv("PII_KEY"); raw != "" {
		if cfg.PIIKey, err = app.ParsePIIKey(raw); err != nil {
			return cfg, fmt.Errorf("PII_KEY: %w", err)
		}
	}
	if raw := getenv("ACCOUNT_NUMBER_KEY"); raw != "" {
		if cfg.AccountNumberKey, err = app.ParseAccountNumberKey(raw); err != nil {
			return cfg, fmt.Errorf("ACCOUNT_NUMBER_KEY: %w", err)
		}
	}
	switch cfg.PaymentRail = getenv("PAYMENT_RAIL"); cfg.PaymentRail {
	case "":
		cfg.PaymentRail = ledger.PaymentRailStub
	case ledger.PaymentRailStub:
	case ledger.PaymentRailACH:
		if cfg.ACH, err = loadACH(getenv); err != nil {
			return cfg, err
		}
	default:
		return cfg, fmt.Errorf("PAYMENT_RAIL %q: want stub or ach", cfg.PaymentRail)
	}
	if raw := getenv("DB_MAX_CONNS"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 2 {
			return cfg, fmt.Errorf("DB_MAX_CONNS %q: want a whole number of at least 2", raw)
		}
		cfg.MaxConns = n
	}
	return cfg, nil
}

// loadACH reads the ACH rail's settings (PAYMENT_RAIL=ach); the rail
// checks that the originator's make a valid file when it starts.
func loadACH(getenv func(string) string) (achConfig, error) {
	c := achConfig{ODFIRouting: getenv("ACH_ODFI_ROUTING"), ODFIName: getenv("ACH_ODFI_NAME"), OriginID: getenv("ACH_ORIGIN_ID"),
		CompanyName: getenv("ACH_COMPANY_NAME"), CompanyID: getenv("ACH_COMPANY_ID"),
		OutboxDir: getenv("ACH_OUTBOX_DIR"), ReturnsDir: getenv("ACH_RETURNS_DIR")}
	for name, v := range map[string]string{"ACH_ODFI_ROUTING": c.ODFIRouting, "ACH_ORIGIN_ID": c.OriginID, "ACH_COMPANY_NAME": c.CompanyName,
		"ACH_COMPANY_ID": c.CompanyID, "ACH_OUTBOX_DIR": c.OutboxDir, "ACH_RETURNS_DIR": c.ReturnsDir} {
		if v == "" {
			return c, fmt.Errorf("PAYMENT_RAIL=ach needs %s", name)
		}
	}
	for _, setting := range []struct {
		name    string
		into    *time.Duration
		example string
	}{{"ACH_CUTOFF", &c.Cutoff, "15m"}, {"ACH_RETURN_WINDOW", &c.ReturnWindow, "96h"}} {
		if raw := getenv(setting.name); raw != "" {
			d, err := time.ParseDuration(raw)
			if err != nil || d < time.Second {
				return c, fmt.Errorf("%s %q: want a duration of at least 1s, such as %s", setting.name, raw, setting.example)
			}
			*setting.into = d
		}
	}
	return c, nil
}

// loadWebhookDelivery reads the webhooks' retry schedule and lease.
func loadWebhookDelivery(getenv func(string) string) (webhook.Schedule, time.Duration, error) {
	s := webhook.DefaultSchedule
	for _, setting := range []struct {
		name    string
		into    *time.Duration
		example string
	}{{"WEBHOOK_RETRY_FIRST", &s.First, "5s"}, {"WEBHOOK_RETRY_MAX_DELAY", &s.MaxDelay, "8h"}, {"WEBHOOK_RETRY_WINDOW", &s.Window, "72h"}} {
		if raw := getenv(setting.name); raw != "" {
			d, err := time.ParseDuration(raw)
			if err != nil || d < time.Second {
				return s, 0, fmt.Errorf("%s %q: want a duration of at least 1s, such as %s", setting.name, raw, setting.example)
			}
			*setting.into = d
		}
	}
	if raw := getenv("WEBHOOK_RETRY_JITTER"); raw != "" {
		j, err := strconv.ParseFloat(raw, 64)
		if err != nil || math.IsNaN(j) || j < 0 || j > 1 {
			return s, 0, fmt.Errorf("WEBHOOK_RETRY_JITTER %q: want a fraction from 0 to 1, such as 0.2", raw)
		}
		s.Jitter = j
	}
	if err := s.Validate(); err != nil {
		return s, 0, fmt.Errorf("WEBHOOK_RETRY_FIRST %s, WEBHOOK_RETRY_MAX_DELAY %s, WEBHOOK_RETRY_WINDOW %s: %w",
			s.First, s.MaxDelay, s.Window, err)
	}
	lease := worker.DefaultWebhookLease
	if raw := getenv("WEBHOOK_DELIVERY_LEASE"); raw != "" {
		d, err := time.ParseDuration(raw)
		// The lease must outlast an attempt, or another worker would send
		// the message again while the first is still waiting for an answer.
		if err != nil || d <= webhook.DefaultTimeout {
			return s, 0, fmt.Errorf("WEBHOOK_DELIVERY_LEASE %q: want a duration longer than an attempt may take (%s), such as 2m",
				raw, webhook.DefaultTimeout)
		}
		lease = d
	}
	return s, lease, nil
}

// run is the whole program; listening, when not nil, is told the HTTP
// address once the server listens (tests serve on port 0).
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, listening func(addr string)) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		if len(args) == 0 {
			return errors.New("no command given")
		}
		return nil
	}
	if args[0] == "sleep" { // needs no configuration: it runs in a preStop hook
		return runSleep(ctx, args[1:])
	}
	if args[0] == "audit" { // the auditor's own tools need no database and no secret
		if done, err := runAuditor(ctx, args[1:], getenv, stdout, stderr); done {
			return err
		}
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	logger := logging.New(stderr, cfg.LogLevel)

	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		flags := flag.NewFlagSet("serve", flag.ContinueOnError)
		flags.SetOutput(stderr)
		role := flags.String("role", "all", "what to run: api, worker or all")
		if err := flags.Parse(rest); err != nil {
			return err
		}
		r, err := parseRole(*role)
		if err != nil {
			return err
		}
		return serve(ctx, cfg, r, logger, listening)
	case "migrate":
		return withDB(ctx, cfg, func(ctx context.Context, db *dbHandle) error {
			if err := db.Migrate(ctx); err != nil {
				return err
			}
			logger.Info("migrations applied")
			return nil
		})
	case "seed":
		return withDB(ctx, cfg, func(ctx context.Context, db *dbHandle) error {
			if err := db.Migrate(ctx); err != nil {
				return err
			}
			return seed(ctx, cfg, db.DB, stdout)
		})
	case "audit":
		return runAudit(ctx, cfg, rest, stdout, stderr)
	case "events":
		return runEvents(ctx, cfg, rest, stdout, stderr)
	case "projections":
		return runProjections(ctx, cfg, rest, stdout, stderr)
	case "deadletters":
		return runDeadLetters(ctx, cfg, rest, getenv, stdout, stderr)
	case "ach":
		return runACH(ctx, cfg, rest, stdout, stderr)
	case "export":
		return runExport(ctx, cfg, rest, stdout, stderr)
	case "token":
		return runToken(ctx, cfg, rest, stdout)
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}

type role string

const (
	roleAPI    role = "api"
	roleWorker role = "worker"
	roleAll    role = "all"
)

func parseRole(s string) (role, error) {
	switch r := role(strings.ToLower(s)); r {
	case roleAPI, roleWorker, roleAll:
		return r, nil
	}
	return "", fmt.Errorf("--role %q: want api, worker or all", s)
}

// shutdownTimeout bounds how long in-flight requests and handlers may take
// to finish after SIGTERM; Kubernetes waits 30 s by default.
const shutdownTimeout = 25 * time.Second

// runSleep waits for a duration such as 10s, or until interrupted. A
// Kubernetes preStop hook runs it so that a pod keeps serving while the
// load balancer stops sending it requests.
func runSleep(ctx context.Context, args []string) error {
	if len(args) != 1 {
		return errors.New("sleep: want one duration, such as 10s")
	}
	d, err := time.ParseDuration(args[0])
	if err != nil || d < 0 || d > 10*time.Minute {
		return fmt.Errorf("sleep %q: want a duration from 0s to 10m", args[0])
	}
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
	return nil
}
