-- +goose Up
-- The Merkle tree over the commit order and its signed heads (see
-- backend/audit/head.go). audit_tree keeps, for leaf n, the hashes tlog's
-- layout stores with it: its leaf hash and those of the perfect subtrees it
-- completes, 32 bytes each. It is what proofs are read from; a verify
-- recomputes it from the events. audit_heads keeps every signed head, one
-- per batch of the audit.tree subscriber.
CREATE TABLE audit_tree (
    leaf_index bigint PRIMARY KEY CHECK (leaf_index >= 0),
    position   bigint NOT NULL UNIQUE,
    hashes     bytea NOT NULL CHECK (octet_length(hashes) >= 32 AND octet_length(hashes) % 32 = 0)
);

CREATE TABLE audit_heads (
    tree_size   bigint PRIMARY KEY CHECK (tree_size > 0),
    root_hash   bytea NOT NULL CHECK (octet_length(root_hash) = 32),
    note        text NOT NULL,
    recorded_at timestamptz NOT NULL
);

-- Append-only, as the events are; the refusal names the table.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the % table is append-only: % is refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER audit_tree_append_only BEFORE UPDATE OR DELETE ON audit_tree
    FOR EACH ROW EXECUTE FUNCTION events_refuse_change();
CREATE TRIGGER audit_tree_no_truncate BEFORE TRUNCATE ON audit_tree
    FOR EACH STATEMENT EXECUTE FUNCTION events_refuse_change();
CREATE TRIGGER audit_heads_append_only BEFORE UPDATE OR DELETE ON audit_heads
    FOR EACH ROW EXECUTE FUNCTION events_refuse_change();
CREATE TRIGGER audit_heads_no_truncate BEFORE TRUNCATE ON audit_heads
    FOR EACH STATEMENT EXECUTE FUNCTION events_refuse_change();

-- +goose Down
DROP TABLE audit_heads;
DROP TABLE audit_tree;
