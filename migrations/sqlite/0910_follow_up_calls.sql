-- The automated survey calls of the follow-up (回访电话), one row per attempt. Kept apart
-- from `calls` (the record of inbound calls, counted as calls offered). A row is claimed
-- (`result = 'placing'`) before the call is placed: the (ticket, round, attempt) key lets
-- one node place it, once, across restarts. `asked_at` is the follow-up round (when the
-- question went out); `result` is answered / no_answer / busy / failed; `pressed` is the key the
-- resident pressed, if anything.
CREATE TABLE follow_up_calls (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id  BIGINT NOT NULL,
    asked_at   BIGINT NOT NULL,
    attempt    INTEGER NOT NULL,
    placed_at  BIGINT NOT NULL,
    ended_at   BIGINT,
    result     TEXT   NOT NULL,
    pressed    TEXT,
    UNIQUE (ticket_id, asked_at, attempt)
);
CREATE INDEX follow_up_calls_ticket ON follow_up_calls(ticket_id, asked_at);
