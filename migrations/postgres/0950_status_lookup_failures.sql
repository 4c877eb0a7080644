-- Wrong tries at a ticket's status without logging in (the status line and page): one row
-- per ticket and per asker (`ticket:<number>`, `phone:<digits>`, `ip:<address or /64>`),
-- counted over a window so the last four digits cannot be guessed across calls or
-- addresses. Rows older than the longest window are deleted as new ones arrive.
CREATE TABLE status_lookup_failures (
    id      BIGSERIAL PRIMARY KEY,
    subject TEXT   NOT NULL,
    channel TEXT   NOT NULL,
    at      BIGINT NOT NULL
);
CREATE INDEX status_lookup_failures_subject ON status_lookup_failures(subject, at);
CREATE INDEX status_lookup_failures_at ON status_lookup_failures(at);
