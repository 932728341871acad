package bus

import (
	wsql "github.com/ThreeDotsLabs/watermill-sql/v3/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
)

// TouchDelivery runs a no-op in the transaction of the batch that delivered
// msg: it fails when a session bound has ended the transaction, and
// otherwise keeps it from being ended as idle. The worker touches the batch
// while it holds an event back (worker/health.go).
func TouchDelivery(msg *message.Message) error {
	tx, ok := wsql.TxFromContext(msg.Context())
	if !ok {
		return nil
	}
	_, err := tx.ExecContext(msg.Context(), `SELECT 1`)
	return err
}
