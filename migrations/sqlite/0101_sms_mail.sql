-- SMS and mail outboxes (issue 6). Times are unix milliseconds UTC.
-- A notice row is written in the same transaction that marks its ticket event delivered to
-- the consumer, so each event yields each notice exactly once.
CREATE TABLE sms_outbox (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    dedup_key     TEXT    NOT NULL UNIQUE,
    ticket_id     BIGINT,
    event_id      BIGINT,
    phone         TEXT    NOT NULL,
    kind          TEXT    NOT NULL,
    body          TEXT    NOT NULL,
    essential     BOOLEAN NOT NULL DEFAULT FALSE,
    -- pending | sent | delivered | undeliverable | failed | suppressed
    state         TEXT    NOT NULL DEFAULT 'pending',
    attempts      BIGINT  NOT NULL DEFAULT 0,
    not_before    BIGINT  NOT NULL,
    claimed_until BIGINT,
    claimed_by    TEXT,
    parts_total   BIGINT,
    last_error    TEXT,
    event_at      BIGINT,
    created_at    BIGINT  NOT NULL,
    sent_at       BIGINT,
    updated_at    BIGINT  NOT NULL
);
CREATE INDEX sms_outbox_due ON sms_outbox(state, not_before);
CREATE INDEX sms_outbox_phone ON sms_outbox(phone, created_at);

-- One row per submit_sm part; 'submitting' without a message_id after a crash means the
-- SMSC may or may not have it.
CREATE TABLE sms_parts (
    outbox_id    BIGINT NOT NULL,
    part_no      BIGINT NOT NULL,
    state        TEXT   NOT NULL,
    attempts     BIGINT NOT NULL DEFAULT 0,
    message_id   TEXT,
    submitted_at BIGINT,
    acked_at     BIGINT,
    receipt_stat TEXT,
    receipt_at   BIGINT,
    PRIMARY KEY (outbox_id, part_no)
);
CREATE INDEX sms_parts_message ON sms_parts(message_id);

-- Delivery receipts as they come (a receipt can overtake our record of the submit ack).
CREATE TABLE sms_receipts (
    message_id TEXT   PRIMARY KEY,
    stat       TEXT   NOT NULL,
    err        TEXT   NOT NULL DEFAULT '',
    at         BIGINT NOT NULL
);

CREATE TABLE sms_optouts (
    phone TEXT   PRIMARY KEY,
    at    BIGINT NOT NULL
);

CREATE TABLE sms_inbound (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    phone      TEXT   NOT NULL,
    text       TEXT   NOT NULL,
    command    TEXT   NOT NULL,
    ticket_id  BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX sms_inbound_phone ON sms_inbound(phone, created_at);

CREATE TABLE mail_outbox (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    dedup_key     TEXT   NOT NULL UNIQUE,
    ticket_id     BIGINT,
    event_id      BIGINT,
    kind          TEXT   NOT NULL,
    to_addr       TEXT   NOT NULL,
    subject       TEXT   NOT NULL,
    body          TEXT   NOT NULL,
    message_id    TEXT   NOT NULL,
    -- pending | sending | sent | failed
    state         TEXT   NOT NULL DEFAULT 'pending',
    attempts      BIGINT NOT NULL DEFAULT 0,
    not_before    BIGINT NOT NULL,
    claimed_until BIGINT,
    last_error    TEXT,
    created_at    BIGINT NOT NULL,
    sent_at       BIGINT,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX mail_outbox_due ON mail_outbox(state, not_before);
