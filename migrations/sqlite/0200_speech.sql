-- speech: transcripts of voice messages (one per ticket) and operators' routing corrections.
-- Jobs themselves live in transcription_jobs (0001), written by tickets in the ticket's
-- creation transaction.

CREATE TABLE transcripts (
    ticket_id      BIGINT PRIMARY KEY,
    job_id         BIGINT NOT NULL,
    text           TEXT   NOT NULL,           -- after pinyin repairs: what the ticket shows
    raw_text       TEXT   NOT NULL,           -- exactly what whisper wrote
    segments       TEXT   NOT NULL,           -- JSON [{start_ms, end_ms, text}]
    avg_logprob    DOUBLE PRECISION NOT NULL,
    confidence     DOUBLE PRECISION NOT NULL,
    language       TEXT   NOT NULL,
    audio_ms       BIGINT NOT NULL,
    elapsed_ms     BIGINT NOT NULL,
    model          TEXT   NOT NULL,
    kind           TEXT,
    department_id  TEXT,
    route_reason   TEXT   NOT NULL,
    needs_review   INTEGER NOT NULL,             -- 0 or 1 (SQLite: the Any driver cannot read BOOLEAN)
    repairs        TEXT   NOT NULL,           -- JSON [{heard, word}]
    summary        TEXT   NOT NULL,
    created_at     BIGINT NOT NULL
);

CREATE TABLE speech_route_corrections (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id         BIGINT NOT NULL,
    speech_kind       TEXT,
    speech_department TEXT,
    final_kind        TEXT,
    final_department  TEXT,
    operator          TEXT NOT NULL,
    created_at        BIGINT NOT NULL
);
CREATE INDEX speech_route_corrections_ticket ON speech_route_corrections(ticket_id);
