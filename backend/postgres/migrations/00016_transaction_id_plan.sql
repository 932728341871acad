-- +goose Up
-- Every appended row takes its transaction id from ledger_transaction_id()
-- (00010). As a SQL function it was parsed and planned again for each row;
-- PL/pgSQL keeps the plan of its query for the session, so a row costs one
-- execution. Same result, same volatility.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION ledger_transaction_id() RETURNS xid8 LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RETURN (SELECT (pg_current_xact_id()::text::numeric + base)::text::xid8 FROM delivery_base WHERE id = 1);
END
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION ledger_transaction_id() RETURNS xid8 LANGUAGE sql VOLATILE AS $$
    SELECT (pg_current_xact_id()::text::numeric + base)::text::xid8 FROM delivery_base WHERE id = 1
$$;
-- +goose StatementEnd
