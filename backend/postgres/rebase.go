package postgres

import (
	"context"
	"database/sql"

	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/postgres/bus"
)

// Rebase keeps delivery flowing after a restore into a new cluster, whose
// transaction ids start below the stored ones: when the newest stored
// transaction id is not below the server's next one, it raises the
// delivery base so that new transaction ids follow every stored one. It
// holds the appenders' lock exclusively meanwhile, so no event is stored
// with an id from before. It reports whether it re-based.
func (db *DB) Rebase(ctx context.Context) (rebased bool, err error) {
	defer ledger.Wrap(&err, "rebase delivery")
	check := `
		SELECT coalesce((SELECT transaction_id::text::numeric FROM events ORDER BY transaction_id DESC LIMIT 1), 0)
			>= pg_snapshot_xmax(pg_current_snapshot())::text::numeric + base
		FROM delivery_base`
	var behind bool
	if err := db.pool.QueryRowContext(ctx, check).Scan(&behind); err != nil || !behind {
		return false, err
	}
	err = db.transact(ctx, func(tx *sql.Tx, _ *[]string) error {
		if err := bus.LockAppendersExclusively(ctx, tx); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `
			UPDATE delivery_base SET rebased_at = now(),
				base = (SELECT transaction_id::text::numeric FROM events ORDER BY transaction_id DESC LIMIT 1)
					- pg_snapshot_xmax(pg_current_snapshot())::text::numeric + 1
			WHERE (SELECT transaction_id::text::numeric FROM events ORDER BY transaction_id DESC LIMIT 1)
				>= pg_snapshot_xmax(pg_current_snapshot())::text::numeric + base`)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		rebased = n == 1
		return err
	})
	return rebased, err
}
