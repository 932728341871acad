-- +goose Up
-- An account's bank details: where an ACH credit pays it. The routing
-- number, the type and the account number's last four digits may be shown;
-- the account number itself is stored only sealed (see app/accountnumber.go):
-- its ciphertext under a data key of its own, that data key wrapped by the
-- account number key, and the id of that key, so a rotation finds the rows
-- still wrapped by an old key. All or none.
ALTER TABLE accounts
    ADD COLUMN routing_number text,
    ADD COLUMN account_type text,
    ADD COLUMN account_number_last4 text,
    ADD COLUMN account_number_ciphertext bytea,
    ADD COLUMN account_number_wrapped_key bytea,
    ADD COLUMN account_number_key_id text,
    ADD CONSTRAINT accounts_bank_details_all_or_none CHECK (
        num_nulls(routing_number, account_type, account_number_last4, account_number_ciphertext,
                  account_number_wrapped_key, account_number_key_id) IN (0, 6)),
    ADD CONSTRAINT accounts_account_type_check CHECK (account_type IN ('checking', 'savings'));

-- +goose Down
ALTER TABLE accounts
    DROP COLUMN routing_number,
    DROP COLUMN account_type,
    DROP COLUMN account_number_last4,
    DROP COLUMN account_number_ciphertext,
    DROP COLUMN account_number_wrapped_key,
    DROP COLUMN account_number_key_id;
