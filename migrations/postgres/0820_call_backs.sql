-- An operator calling back an abandoned call (放弃来电回拨). `call_back_claim` is who is
-- dialling it now (and since when): one call-back at a time, however many people click;
-- it is cleared by the call-back's `called_back` event. `called_back_*` are the last
-- finished call-back, kept by `Calls::event` in the event's transaction.
ALTER TABLE calls ADD COLUMN call_back_claim TEXT;
ALTER TABLE calls ADD COLUMN call_back_claim_at BIGINT;
ALTER TABLE calls ADD COLUMN called_back_by TEXT;
ALTER TABLE calls ADD COLUMN called_back_at BIGINT;
ALTER TABLE calls ADD COLUMN called_back_answered BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX calls_abandoned ON calls(abandoned, started_at);
