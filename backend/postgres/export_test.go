package postgres

import (
	"context"
	"database/sql"

	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// AppendInTx appends in a transaction the test controls, to hold it open.
func (db *DB) AppendInTx(ctx context.Context, tx *sql.Tx, meta ledger.Metadata, events ...ledger.PendingEvent) ([]ledger.RecordedEvent, error) {
	return db.appendEvents(ctx, tx, meta, events...)
}
