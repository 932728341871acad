-- +goose Up
-- The development token issuer's signing key, used only when the ledger
-- runs with AUTH_DEV_ISSUER=true: kept in the database so that `ledger
-- serve` and `ledger token` sign and verify with the same key given the
-- same DATABASE_URL. A production ledger never creates the row.
CREATE TABLE dev_issuer_keys (
    id          integer PRIMARY KEY CHECK (id = 1),
    kid         text NOT NULL,
    private_key bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE dev_issuer_keys;
