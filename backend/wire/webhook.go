package wire

import (
	"time"

	"github.com/google/uuid"
)

// WebhookMessage is a webhook delivery's body, shaped as the Standard
// Webhooks specification advises (type, timestamp, data; docs/openapi.yaml,
// WebhookMessage).
type WebhookMessage struct {
	// Type is the webhook's event type, such as reimbursement.approved.
	Type string `json:"type"`
	// Timestamp is when the event was recorded.
	Timestamp time.Time   `json:"timestamp"`
	Data      WebhookData `json:"data"`
}

// WebhookData is what a webhook message is about: the event, and the
// reimbursement as of that event, with its sequence.
type WebhookData struct {
	EventID       uuid.UUID     `json:"event_id"`
	Reimbursement Reimbursement `json:"reimbursement"`
}
