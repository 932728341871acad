package httpapi

import (
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

type createWebhookEndpointRequest struct {
	URL         string   `json:"url"`
	EventTypes  []string `json:"event_types"`
	Description string   `json:"description"`
}

type webhookEndpointJSON struct {
	ID          uuid.UUID `json:"id"`
	BankID      uuid.UUID `json:"bank_id"`
	URL         string    `json:"url"`
	EventTypes  []string  `json:"event_types"`
	Description string    `json:"description"`
	// Secret is shown in the answers that make one (creation, rotation) only.
	Secret string `json:"secret,omitempty"`
	// PreviousSecretExpiresAt is when the secret a rotation replaced stops
	// signing.
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at,omitempty"`
	Disabled                bool       `json:"disabled"`
	DisabledAt              *time.Time `json:"disabled_at,omitempty"`
	DisabledReason          string     `json:"disabled_reason,omitempty"`
	CreatedAt               time.Time  `json:"created_at"`
}

func webhookEndpointOut(e app.WebhookEndpoint) webhookEndpointJSON {
	out := webhookEndpointJSON{ID: e.ID, BankID: e.BankID, URL: e.URL, EventTypes: e.EventTypes, Description: e.Description,
		Disabled: !e.DisabledAt.IsZero(), DisabledReason: e.DisabledReason, CreatedAt: e.CreatedAt}
	if !e.PreviousSecretExpiresAt.IsZero() {
		out.PreviousSecretExpiresAt = &e.PreviousSecretExpiresAt
	}
	if !e.DisabledAt.IsZero() {
		out.DisabledAt = &e.DisabledAt
	}
	return out
}

// withSecret is the endpoint with its secret: the one answer that shows it.
func withSecret(e app.WebhookEndpoint) webhookEndpointJSON {
	out := webhookEndpointOut(e)
	out.Secret = e.Secret
	return out
}

// createWebhookEndpoint answers with the secret once. It is not replayed
// under an Idempotency-Key: the stored answer would keep a copy of the
// secret.
func (s *Server) createWebhookEndpoint(c echo.Context) error {
	bankID, err := pathID(c, "bank_id", "bank")
	if err != nil {
		return err
	}
	var req createWebhookEndpointRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if err := requiredFields(c, "url", "event_types"); err != nil {
		return err
	}
	e, err := s.app.CreateWebhookEndpoint(c.Request().Context(), principal(c), app.CreateWebhookEndpointCommand{
		ID: newID(), BankID: bankID, URL: req.URL, EventTypes: req.EventTypes, Description: req.Description})
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/v1/banks/"+bankID.String()+"/webhook-endpoints/"+e.ID.String())
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return c.JSON(http.StatusCreated, withSecret(e))
}

func (s *Server) listWebhookEndpoints(c echo.Context) error {
	bankID, err := pathID(c, "bank_id", "bank")
	if err != nil {
		return err
	}
	endpoints, err := s.app.WebhookEndpoints(c.Request().Context(), principal(c), bankID)
	if err != nil {
		return err
	}
	body := list[webhookEndpointJSON]{Items: make([]webhookEndpointJSON, 0, len(endpoints))}
	for _, e := range endpoints {
		body.Items = append(body.Items, webhookEndpointOut(e))
	}
	return c.JSON(http.StatusOK, body)
}

func webhookEndpointPath(c echo.Context) (bankID, id uuid.UUID, err error) {
	if bankID, err = pathID(c, "bank_id", "bank"); err != nil {
		return
	}
	id, err = pathID(c, "endpoint_id", "webhook endpoint")
	return
}

func (s *Server) getWebhookEndpoint(c echo.Context) error {
	bankID, id, err := webhookEndpointPath(c)
	if err != nil {
		return err
	}
	e, err := s.app.WebhookEndpoint(c.Request().Context(), principal(c), bankID, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, webhookEndpointOut(e))
}

func (s *Server) deleteWebhookEndpoint(c echo.Context) error {
	bankID, id, err := webhookEndpointPath(c)
	if err != nil {
		return err
	}
	if err := s.app.DeleteWebhookEndpoint(c.Request().Context(), principal(c), bankID, id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// rotateWebhookSecret answers with the new secret, once.
func (s *Server) rotateWebhookSecret(c echo.Context) error {
	bankID, id, err := webhookEndpointPath(c)
	if err != nil {
		return err
	}
	e, err := s.app.RotateWebhookSecret(c.Request().Context(), principal(c), bankID, id)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return c.JSON(http.StatusOK, withSecret(e))
}

type webhookDeliveryJSON struct {
	ID            uuid.UUID            `json:"id"`
	EndpointID    uuid.UUID            `json:"endpoint_id"`
	EventID       uuid.UUID            `json:"event_id"`
	EventType     string               `json:"event_type"`
	Status        string               `json:"status"`
	NextAttemptAt *time.Time           `json:"next_attempt_at"`
	CreatedAt     time.Time            `json:"created_at"`
	Attempts      []webhookAttemptJSON `json:"attempts"`
}

type webhookAttemptJSON struct {
	AttemptedAt time.Time `json:"attempted_at"`
	// StatusCode is null when no answer came; Error says why.
	StatusCode *int    `json:"status_code"`
	LatencyMS  float64 `json:"latency_ms"`
	Answer     string  `json:"answer"`
	Error      *string `json:"error"`
}

func webhookDeliveryOut(d app.WebhookDelivery) webhookDeliveryJSON {
	out := webhookDeliveryJSON{ID: d.ID, EndpointID: d.EndpointID, EventID: d.EventID, EventType: d.EventType, Status: string(d.Status),
		CreatedAt: d.CreatedAt, Attempts: make([]webhookAttemptJSON, 0, len(d.Attempts))}
	if d.Status == app.WebhookPending && !d.NextAttemptAt.IsZero() {
		out.NextAttemptAt = &d.NextAttemptAt
	}
	for _, a := range d.Attempts {
		aj := webhookAttemptJSON{AttemptedAt: a.At, LatencyMS: float64(a.Latency.Microseconds()) / 1000, Answer: a.Answer}
		if a.StatusCode != 0 {
			aj.StatusCode = &a.StatusCode
		}
		if a.Error != "" {
			aj.Error = &a.Error
		}
		out.Attempts = append(out.Attempts, aj)
	}
	return out
}

// listWebhookDeliveries answers a page of the delivery log, newest first,
// paged as the directory's lists are (limit, cursor from next_cursor).
func (s *Server) listWebhookDeliveries(c echo.Context) error {
	bankID, id, err := webhookEndpointPath(c)
	if err != nil {
		return err
	}
	q := app.DeliveryQuery{EndpointID: id}
	if q.Limit, err = queryLimit(c, maxLimit); err != nil {
		return err
	}
	if raw := c.QueryParam("cursor"); raw != "" {
		key, ok := decodeKey(deliveryCursorPrefix, raw)
		if !ok {
			return badRequest("cursor must be a next_cursor value from a previous page of this list",
				ledger.FieldError{Field: "cursor", Message: "is not a cursor this API handed out"})
		}
		q.Before = key
	}
	page, err := s.app.WebhookDeliveries(c.Request().Context(), principal(c), bankID, q)
	if err != nil {
		return err
	}
	body := list[webhookDeliveryJSON]{Items: make([]webhookDeliveryJSON, 0, len(page.Items)), NextCursor: encodeKey(deliveryCursorPrefix, page.Next)}
	for _, d := range page.Items {
		body.Items = append(body.Items, webhookDeliveryOut(d))
	}
	return c.JSON(http.StatusOK, body)
}

// redeliverWebhook makes the delivery due now; the worker sends it.
func (s *Server) redeliverWebhook(c echo.Context) error {
	bankID, id, err := webhookEndpointPath(c)
	if err != nil {
		return err
	}
	deliveryID, err := pathID(c, "delivery_id", "webhook delivery")
	if err != nil {
		return err
	}
	if err := s.app.Redeliver(c.Request().Context(), principal(c), bankID, id, deliveryID); err != nil {
		return err
	}
	return c.NoContent(http.StatusAccepted)
}

// enableWebhookEndpoint turns deliveries back on after the endpoint was
// disabled.
func (s *Server) enableWebhookEndpoint(c echo.Context) error {
	bankID, id, err := webhookEndpointPath(c)
	if err != nil {
		return err
	}
	e, err := s.app.EnableWebhookEndpoint(c.Request().Context(), principal(c), bankID, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, webhookEndpointOut(e))
}
