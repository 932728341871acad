-- +goose Up
-- Delivery waits only for the ledger's own appends (see subscriber.go): every
-- transaction that appends events first takes a shared advisory lock, and a
-- subscriber's horizon is the oldest transaction holding it.
--
-- Commit order is (transaction_id, position). After a logical restore into a
-- new cluster, the server's transaction ids start below the stored ones, and
-- new events would sort before every event already delivered. So the stored
-- transaction id is the server's plus a base, raised once after a restore
-- (postgres.Open re-bases) so that new ids follow every stored one.
CREATE TABLE delivery_base (
    id         integer PRIMARY KEY CHECK (id = 1),
    base       numeric NOT NULL,
    rebased_at timestamptz
);
INSERT INTO delivery_base (id, base) VALUES (1, 0);

-- +goose StatementBegin
CREATE FUNCTION ledger_transaction_id() RETURNS xid8 LANGUAGE sql VOLATILE AS $$
    SELECT (pg_current_xact_id()::text::numeric + base)::text::xid8 FROM delivery_base WHERE id = 1
$$;
-- +goose StatementEnd

ALTER TABLE events ALTER COLUMN transaction_id SET DEFAULT ledger_transaction_id();

-- +goose Down
ALTER TABLE events ALTER COLUMN transaction_id SET DEFAULT pg_current_xact_id();
DROP FUNCTION ledger_transaction_id();
DROP TABLE delivery_base;
