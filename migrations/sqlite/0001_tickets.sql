-- Tickets (工单), their audit trail, numbering, domain events and deadline marks.
-- Times are unix milliseconds UTC.
CREATE TABLE tickets (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    number         TEXT    NOT NULL UNIQUE,
    channel        TEXT    NOT NULL,
    kind           TEXT    NOT NULL,
    state          TEXT    NOT NULL,
    phone          TEXT    NOT NULL,
    text           TEXT    NOT NULL,
    summary        TEXT    NOT NULL DEFAULT '',
    address        TEXT,
    area           TEXT,
    department_id  TEXT,
    routed_by      TEXT    NOT NULL DEFAULT '',
    needs_review   INTEGER NOT NULL DEFAULT 0,
    sla            TEXT    NOT NULL,
    deadline_at    BIGINT  NOT NULL,
    clock_start_at BIGINT  NOT NULL,
    supervised     INTEGER NOT NULL DEFAULT 0,
    satisfaction   TEXT,
    answer         TEXT,
    recording_path TEXT,
    merged_into    BIGINT,
    created_at     BIGINT  NOT NULL,
    updated_at     BIGINT  NOT NULL,
    resolved_at    BIGINT,
    extension_days BIGINT,
    closed_at      BIGINT,
    version        BIGINT  NOT NULL DEFAULT 0
);
CREATE INDEX tickets_phone ON tickets(phone);
CREATE INDEX tickets_state ON tickets(state);
CREATE INDEX tickets_department ON tickets(department_id, state);
CREATE INDEX tickets_deadline ON tickets(deadline_at);

CREATE TABLE ticket_audit (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id  BIGINT NOT NULL REFERENCES tickets(id),
    at         BIGINT NOT NULL,
    actor      TEXT   NOT NULL,
    action     TEXT   NOT NULL,
    from_state TEXT,
    to_state   TEXT   NOT NULL,
    note       TEXT   NOT NULL DEFAULT ''
);
CREATE INDEX ticket_audit_ticket ON ticket_audit(ticket_id, id);

-- One row per day in Asia/Shanghai; the upsert on it hands out sequence numbers atomically.
CREATE TABLE ticket_counters (
    day TEXT   PRIMARY KEY,
    n   BIGINT NOT NULL
);

CREATE TABLE ticket_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id  BIGINT NOT NULL,
    kind       TEXT   NOT NULL,
    payload    TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE event_cursors (
    consumer TEXT   PRIMARY KEY,
    last_id  BIGINT NOT NULL
);

-- The primary key makes each supervision point fire once per ticket, whatever node sees it.
CREATE TABLE deadline_marks (
    ticket_id BIGINT NOT NULL,
    point     TEXT   NOT NULL,
    at        BIGINT NOT NULL,
    PRIMARY KEY (ticket_id, point)
);

CREATE TABLE transcription_jobs (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id       BIGINT NOT NULL,
    recording_path  TEXT   NOT NULL,
    status          TEXT   NOT NULL DEFAULT 'pending',
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claimed_until   BIGINT,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX transcription_jobs_due ON transcription_jobs(status, next_attempt_at);

-- Which consumer has taken which event (above its cursor's watermark).
CREATE TABLE event_deliveries (
    consumer TEXT   NOT NULL,
    event_id BIGINT NOT NULL,
    PRIMARY KEY (consumer, event_id)
);
