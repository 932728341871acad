package app

import (
	"context"
	"net/url"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// WebhookEventTypes are the event types an endpoint may subscribe to: the
// webhook types of the ledger's event table.
var WebhookEventTypes = ledger.WebhookTypes()

// WebhookEndpoint is where a bank hears about its reimbursements.
type WebhookEndpoint struct {
	ID          uuid.UUID
	BankID      uuid.UUID
	URL         string
	EventTypes  []string
	Description string
	// Secret signs deliveries; PreviousSecret signs them too until
	// PreviousSecretExpiresAt, after a rotation.
	Secret                  string
	PreviousSecret          string
	PreviousSecretExpiresAt time.Time
	// DisabledAt is set, with the reason, when deliveries failed for the
	// whole retry schedule.
	DisabledAt     time.Time
	DisabledReason string
	CreatedAt      time.Time
}

// Secrets are the secrets that sign a delivery at now: the current one, and
// the previous one during its rotation window.
func (e WebhookEndpoint) Secrets(now time.Time) []string {
	if e.PreviousSecret != "" && now.Before(e.PreviousSecretExpiresAt) {
		return []string{e.Secret, e.PreviousSecret}
	}
	return []string{e.Secret}
}

// WebhookEndpoints stores the banks' webhook endpoints.
type WebhookEndpoints interface {
	// AddEndpoint stores a validated endpoint.
	AddEndpoint(ctx context.Context, e WebhookEndpoint) error
	// Endpoint returns ENotFound for an unknown id or another bank's.
	Endpoint(ctx context.Context, bankID, id uuid.UUID) (WebhookEndpoint, error)
	// Endpoints lists a bank's endpoints, oldest first.
	Endpoints(ctx context.Context, bankID uuid.UUID) ([]WebhookEndpoint, error)
	// DeleteEndpoint returns ENotFound for an unknown id or another bank's.
	DeleteEndpoint(ctx context.Context, bankID, id uuid.UUID) error
	// RotateSecret makes secret current, keeping the current one as the
	// previous until expires; ENotFound as Endpoint.
	RotateSecret(ctx context.Context, bankID, id uuid.UUID, secret string, expires time.Time) (WebhookEndpoint, error)
	// Enable clears an endpoint's disabling; ENotFound as Endpoint.
	Enable(ctx context.Context, bankID, id uuid.UUID) (WebhookEndpoint, error)
	// Deliveries lists an endpoint's deliveries, newest first (by creation
	// time, then id), with their attempts: at most q.Limit, before q.Before.
	Deliveries(ctx context.Context, q DeliveryQuery) ([]WebhookDelivery, error)
	// Redeliver makes a delivery of the endpoint due now, on a fresh
	// schedule; ENotFound for an unknown id or another endpoint's.
	Redeliver(ctx context.Context, endpointID, deliveryID uuid.UUID, now time.Time) error
}

// DeliveryQuery selects a page of an endpoint's delivery log, newest first.
type DeliveryQuery struct {
	EndpointID uuid.UUID
	Limit      int
	// Before is the cursor: the key of the previous page's last delivery;
	// the zero key for the first page.
	Before PageKey
}

// WebhookDelivery is one event on its way to one endpoint.
type WebhookDelivery struct {
	// ID is the message's webhook-id, the same on every attempt.
	ID         uuid.UUID
	EndpointID uuid.UUID
	EventID    uuid.UUID
	EventType  string
	Status     WebhookDeliveryStatus
	// AttemptCount is how many attempts were made; Attempts lists them
	// where the store read them, oldest first.
	AttemptCount int
	Attempts     []WebhookAttempt
	// FirstAttemptAt starts the retry schedule; NextAttemptAt is when a
	// pending delivery is due.
	FirstAttemptAt time.Time
	NextAttemptAt  time.Time
	CreatedAt      time.Time
}

// WebhookEnqueue is one event to deliver to its bank's enabled endpoints
// that subscribe to its type: what the webhooks consumer group writes to
// the delivery log.
type WebhookEnqueue struct {
	BankID    uuid.UUID
	EventID   uuid.UUID
	EventType string // the webhook's type, reimbursement.approved
	Payload   []byte
	At        time.Time
}

// WebhookOutcome is what the delivery loop decided after an attempt.
type WebhookOutcome struct {
	Attempt WebhookAttempt
	// Status is the delivery's new status: pending (NextAttemptAt set),
	// succeeded or failed.
	Status        WebhookDeliveryStatus
	NextAttemptAt time.Time
	// DisableReason, when the delivery failed for the whole schedule,
	// disables its endpoint.
	DisableReason string
}

// WebhookDeliveryStatus is where a delivery stands.
type WebhookDeliveryStatus string

// A delivery is pending until a receiver answers 2xx (succeeded) or its
// schedule ends (failed).
const (
	WebhookPending   WebhookDeliveryStatus = "pending"
	WebhookSucceeded WebhookDeliveryStatus = "succeeded"
	WebhookFailed    WebhookDeliveryStatus = "failed"
)

// WebhookAttempt is one try at a delivery.
type WebhookAttempt struct {
	At time.Time
	// StatusCode is 0 when no answer came; Error then says why.
	StatusCode int
	Latency    time.Duration
	// Answer holds the first bytes of the receiver's answer.
	Answer string
	Error  string
}

// DestinationChecker refuses URLs deliveries must not go to (backend/webhook's
// Guard): EInvalid is made of its error.
type DestinationChecker interface {
	CheckURL(ctx context.Context, raw string) error
}

// WebhookConfig is what the webhook use cases need besides the store.
type WebhookConfig struct {
	Destinations DestinationChecker
	// NewSecret returns a fresh signing secret (webhook.NewSecret).
	NewSecret func() (string, error)
	// RotationWindow is how long the previous secret still signs after a
	// rotation; DefaultRotationWindow when zero.
	RotationWindow time.Duration
}

// DefaultRotationWindow is how long both secrets sign after a rotation.
const DefaultRotationWindow = 24 * time.Hour

// CreateWebhookEndpointCommand registers an endpoint for a bank.
type CreateWebhookEndpointCommand struct {
	ID          uuid.UUID
	BankID      uuid.UUID
	URL         string
	EventTypes  []string
	Description string
}

// CreateWebhookEndpoint registers an endpoint of the administrator's own
// bank (ENotFound for another's) with a fresh secret, which the caller shows
// once. Errors: EForbidden, ENotFound, EInvalid (naming url, event_types or
// description; a destination that is not https or not public is invalid).
func (a *App) CreateWebhookEndpoint(ctx context.Context, p Principal, cmd CreateWebhookEndpointCommand) (_ WebhookEndpoint, err error) {
	defer ledger.Wrap(&err, "CreateWebhookEndpoint(bank %s)", cmd.BankID)
	if err := a.ownBank(p, cmd.BankID); err != nil {
		return WebhookEndpoint{}, err
	}
	var fields []ledger.FieldError
	if u, perr := url.Parse(cmd.URL); cmd.URL == "" || perr != nil || !u.IsAbs() || len(cmd.URL) > 2000 {
		fields = append(fields, ledger.FieldError{Field: "url", Message: "must be an absolute URL of at most 2000 characters"})
	} else if err := a.webhooks.Destinations.CheckURL(ctx, cmd.URL); err != nil {
		fields = append(fields, ledger.FieldError{Field: "url", Message: err.Error()})
	}
	if len(cmd.EventTypes) == 0 {
		fields = append(fields, ledger.FieldError{Field: "event_types", Message: "name at least one event type"})
	}
	types := slices.Clone(cmd.EventTypes)
	slices.Sort(types)
	types = slices.Compact(types)
	for _, t := range types {
		if !slices.Contains(WebhookEventTypes, t) {
			fields = append(fields, ledger.FieldError{Field: "event_types", Message: "unknown event type " + t})
		}
	}
	if utf8.RuneCountInString(cmd.Description) > 500 {
		fields = append(fields, ledger.FieldError{Field: "description", Message: "must be at most 500 characters"})
	}
	if len(fields) > 0 {
		return WebhookEndpoint{}, &ledger.Error{Code: ledger.EInvalid, Message: "the webhook endpoint is invalid", Fields: fields}
	}
	secret, err := a.webhooks.NewSecret()
	if err != nil {
		return WebhookEndpoint{}, err
	}
	if cmd.ID == uuid.Nil {
		cmd.ID = uuid.New()
	}
	e := WebhookEndpoint{ID: cmd.ID, BankID: cmd.BankID, URL: cmd.URL, EventTypes: types, Description: cmd.Description,
		Secret: secret, CreatedAt: a.now()}
	if err := a.stores.Webhooks.AddEndpoint(ctx, e); err != nil {
		return WebhookEndpoint{}, err
	}
	return e, nil
}

// WebhookEndpoint returns one endpoint of the administrator's own bank.
func (a *App) WebhookEndpoint(ctx context.Context, p Principal, bankID, id uuid.UUID) (WebhookEndpoint, error) {
	if err := a.ownBank(p, bankID); err != nil {
		return WebhookEndpoint{}, err
	}
	return a.stores.Webhooks.Endpoint(ctx, bankID, id)
}

// WebhookEndpoints lists the endpoints of the administrator's own bank.
func (a *App) WebhookEndpoints(ctx context.Context, p Principal, bankID uuid.UUID) ([]WebhookEndpoint, error) {
	if err := a.ownBank(p, bankID); err != nil {
		return nil, err
	}
	return a.stores.Webhooks.Endpoints(ctx, bankID)
}

// DeleteWebhookEndpoint removes an endpoint of the administrator's own
// bank; its pending deliveries are dropped with it.
func (a *App) DeleteWebhookEndpoint(ctx context.Context, p Principal, bankID, id uuid.UUID) (err error) {
	defer ledger.Wrap(&err, "DeleteWebhookEndpoint(%s)", id)
	if err := a.ownBank(p, bankID); err != nil {
		return err
	}
	return a.stores.Webhooks.DeleteEndpoint(ctx, bankID, id)
}

// RotateWebhookSecret gives an endpoint a fresh secret, which the caller
// shows once; the old one keeps signing for the rotation window, so that the
// bank can switch its receiver without losing a delivery.
func (a *App) RotateWebhookSecret(ctx context.Context, p Principal, bankID, id uuid.UUID) (_ WebhookEndpoint, err error) {
	defer ledger.Wrap(&err, "RotateWebhookSecret(%s)", id)
	if err := a.ownBank(p, bankID); err != nil {
		return WebhookEndpoint{}, err
	}
	secret, err := a.webhooks.NewSecret()
	if err != nil {
		return WebhookEndpoint{}, err
	}
	return a.stores.Webhooks.RotateSecret(ctx, bankID, id, secret, a.now().Add(a.webhooks.RotationWindow))
}

// EnableWebhookEndpoint turns deliveries back on for an endpoint disabled
// after failing for the whole schedule: new events are delivered again;
// the failed deliveries stay failed until redelivered.
func (a *App) EnableWebhookEndpoint(ctx context.Context, p Principal, bankID, id uuid.UUID) (_ WebhookEndpoint, err error) {
	defer ledger.Wrap(&err, "EnableWebhookEndpoint(%s)", id)
	if err := a.ownBank(p, bankID); err != nil {
		return WebhookEndpoint{}, err
	}
	return a.stores.Webhooks.Enable(ctx, bankID, id)
}

// WebhookDeliveries lists a page of an endpoint's deliveries, newest
// first, with every attempt; the endpoint must be of the administrator's
// own bank (ENotFound otherwise).
func (a *App) WebhookDeliveries(ctx context.Context, p Principal, bankID uuid.UUID, q DeliveryQuery) (_ Page[WebhookDelivery], err error) {
	defer ledger.Wrap(&err, "WebhookDeliveries(%s)", q.EndpointID)
	if _, err := a.WebhookEndpoint(ctx, p, bankID, q.EndpointID); err != nil {
		return Page[WebhookDelivery]{}, err
	}
	q.Limit++
	deliveries, err := a.stores.Webhooks.Deliveries(ctx, q)
	return pageOf(deliveries, q.Limit-1, deliveryKey), err
}

func deliveryKey(d WebhookDelivery) PageKey { return PageKey{d.CreatedAt, d.ID} }

// Redeliver sends a delivery again, now, on a fresh retry schedule,
// whatever its status.
func (a *App) Redeliver(ctx context.Context, p Principal, bankID, endpointID, deliveryID uuid.UUID) (err error) {
	defer ledger.Wrap(&err, "Redeliver(%s)", deliveryID)
	if _, err := a.WebhookEndpoint(ctx, p, bankID, endpointID); err != nil {
		return err
	}
	return a.stores.Webhooks.Redeliver(ctx, endpointID, deliveryID, a.now())
}

// ownBank allows administrators of bankID only: ENotFound for another
// bank's, EForbidden for other roles.
func (a *App) ownBank(p Principal, bankID uuid.UUID) error {
	if err := p.must(RoleAdministrator); err != nil {
		return err
	}
	if bankID != p.BankID {
		return ledger.Errorf(ledger.ENotFound, "bank %s not found", bankID)
	}
	return nil
}
