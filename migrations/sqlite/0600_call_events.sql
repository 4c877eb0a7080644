-- What happened in a call, in order (the legs and events of its record, 话单): arrival,
-- the dialplan's path, queue entered, each agent rung and for how long, who answered,
-- transfers, hang-up side, abandonment, callbacks. KPIs are computed from these rows.
CREATE TABLE call_events (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    call     BIGINT NOT NULL REFERENCES calls(id),
    at       BIGINT NOT NULL,
    kind     TEXT   NOT NULL,
    detail   TEXT   NOT NULL DEFAULT '{}'
);
CREATE INDEX call_events_call ON call_events(call, id);
CREATE INDEX call_events_kind ON call_events(kind, at);
