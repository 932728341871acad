-- +goose Up
-- Each member's personal data key (app/personaldata.go), wrapped under the
-- deployment's personal data key, and when it was erased: an erased row
-- keeps no key, and stays, so that nothing more is sealed under a new one.
CREATE TABLE subject_keys (
    subject_id  uuid        PRIMARY KEY,
    wrapped_key bytea,
    key_id      text,
    created_at  timestamptz NOT NULL,
    erased_at   timestamptz,
    CONSTRAINT subject_keys_key_or_erased CHECK ((wrapped_key IS NULL) = (key_id IS NULL))
);

-- An erased member keeps the row (ids and dates are the financial record);
-- its names and e-mail address are overwritten.
ALTER TABLE members ADD COLUMN erased_at timestamptz;

-- A member's claims, for their erasure and their copy of their data: the
-- submissions naming them.
CREATE INDEX events_submitted_by_member ON events ((data ->> 'bank_member_id'))
    WHERE type = 'ReimbursementSubmitted';

-- +goose Down
DROP INDEX events_submitted_by_member;
ALTER TABLE members DROP COLUMN erased_at;
DROP TABLE subject_keys;
