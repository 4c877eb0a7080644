-- Web: accounts, sessions, API tokens, Open311 tokens and the audit of account changes.
-- Times are unix milliseconds UTC; booleans BOOLEAN.
CREATE TABLE accounts (
    id            BIGSERIAL PRIMARY KEY,
    name          TEXT    NOT NULL UNIQUE,
    display_name  TEXT    NOT NULL DEFAULT '',
    role          TEXT    NOT NULL,
    department_id TEXT,
    password_hash TEXT    NOT NULL,
    active        BOOLEAN NOT NULL DEFAULT TRUE,
    created_at    BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL
);

-- The cookie holds a random token; only its SHA-256 is stored.
CREATE TABLE web_sessions (
    token_hash   TEXT   PRIMARY KEY,
    account_id   BIGINT NOT NULL,
    csrf         TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
);
CREATE INDEX web_sessions_account ON web_sessions(account_id);

CREATE TABLE api_tokens (
    id           BIGSERIAL PRIMARY KEY,
    account_id   BIGINT  NOT NULL,
    label        TEXT    NOT NULL,
    token_hash   TEXT    NOT NULL UNIQUE,
    revoked      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at   BIGINT  NOT NULL,
    last_used_at BIGINT
);

CREATE TABLE open311_tokens (
    token      TEXT   PRIMARY KEY,
    ticket_id  BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE web_audit (
    id     BIGSERIAL PRIMARY KEY,
    at     BIGINT NOT NULL,
    actor  TEXT   NOT NULL,
    action TEXT   NOT NULL,
    target TEXT   NOT NULL,
    note   TEXT   NOT NULL DEFAULT ''
);
