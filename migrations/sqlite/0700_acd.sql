-- The call centre's state, kept so a restart of hotline loses nothing: agents and their
-- states, every state change with its time, callers waiting and callbacks owed.
CREATE TABLE acd_agents (
    name            TEXT   PRIMARY KEY,
    state           TEXT   NOT NULL,
    reason          TEXT,
    since           BIGINT NOT NULL,
    last_call_end   BIGINT NOT NULL DEFAULT 0,
    answered_today  BIGINT NOT NULL DEFAULT 0,
    answered_day    TEXT   NOT NULL DEFAULT '',
    missed_in_row   BIGINT NOT NULL DEFAULT 0,
    updated_at      BIGINT NOT NULL
);

CREATE TABLE acd_agent_log (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    agent   TEXT   NOT NULL,
    state   TEXT   NOT NULL,
    reason  TEXT,
    by_whom TEXT   NOT NULL,
    at      BIGINT NOT NULL
);
CREATE INDEX acd_agent_log_agent ON acd_agent_log(agent, at);

-- kind: live (a caller on the line) or callback (owed a call back, 虚拟排队).
-- status: waiting, done, lost.
CREATE TABLE acd_waiting (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    queue       TEXT   NOT NULL,
    kind        TEXT   NOT NULL,
    status      TEXT   NOT NULL,
    caller      TEXT   NOT NULL,
    call_record BIGINT,
    joined_at   BIGINT NOT NULL,
    attempts    BIGINT NOT NULL DEFAULT 0,
    next_try_at BIGINT NOT NULL DEFAULT 0,
    info        TEXT   NOT NULL DEFAULT '{}',
    updated_at  BIGINT NOT NULL
);
CREATE INDEX acd_waiting_status ON acd_waiting(status, joined_at);

-- Requests for an agent's state made outside the running hotline (`hotline agent ...`):
-- the running hotline applies them within a second and writes the result.
CREATE TABLE acd_requests (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    agent    TEXT   NOT NULL,
    request  TEXT   NOT NULL,
    by_whom  TEXT   NOT NULL,
    at       BIGINT NOT NULL,
    done_at  BIGINT,
    result   TEXT
);
CREATE INDEX acd_requests_open ON acd_requests(done_at, id);
