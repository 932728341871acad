-- +goose Up
-- Reference data: ordinary tables, written directly by the directory endpoints.
CREATE TABLE banks (
    id         uuid PRIMARY KEY,
    name       text NOT NULL,
    location   text NOT NULL,
    created_at timestamptz NOT NULL
);

CREATE TABLE members (
    id         uuid PRIMARY KEY,
    first_name text NOT NULL,
    last_name  text NOT NULL,
    email      text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX members_email_key ON members (lower(email));

CREATE TABLE administrators (
    id         uuid PRIMARY KEY,
    bank_id    uuid NOT NULL REFERENCES banks (id),
    first_name text NOT NULL,
    last_name  text NOT NULL,
    email      text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX administrators_bank_email_key ON administrators (bank_id, lower(email));

CREATE TABLE accounts (
    id         uuid PRIMARY KEY,
    bank_id    uuid NOT NULL REFERENCES banks (id),
    member_id  uuid NOT NULL REFERENCES members (id),
    currency   char(3) NOT NULL,
    nickname   text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL
);
CREATE INDEX accounts_member_idx ON accounts (member_id, created_at, id);

-- +goose Down
DROP TABLE accounts;
DROP TABLE administrators;
DROP TABLE members;
DROP TABLE banks;
