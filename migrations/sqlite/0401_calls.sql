-- One row per call the voice menus handled: for 接通率, for the console's "call in
-- progress from this number", and for tests that check what a caller heard.
CREATE TABLE calls (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id        TEXT   NOT NULL,
    caller         TEXT   NOT NULL,
    called         TEXT   NOT NULL,
    dialplan       TEXT   NOT NULL,
    started_at     BIGINT NOT NULL,
    ended_at       BIGINT,
    outcome        TEXT,
    nodes          TEXT   NOT NULL DEFAULT '[]',
    prompts        TEXT   NOT NULL DEFAULT '[]',
    digits         TEXT   NOT NULL DEFAULT '',
    ticket_number  TEXT,
    recording_path TEXT
);
CREATE INDEX calls_caller ON calls(caller, ended_at);
CREATE INDEX calls_started ON calls(started_at);
