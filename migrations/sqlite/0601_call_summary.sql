-- The summary of each call record (话单), so reports and lists read one row per call:
-- arrival is `started_at`; `answered_at` is when the voice menus answered. The queue and
-- agent columns are kept by `Calls::event` in the same transaction as the event that
-- changes them; call_events stays the full story. Calls recorded before this migration were
-- recorded at answer, so their arrival and answer are the same moment.
ALTER TABLE calls ADD COLUMN answered_at BIGINT;
ALTER TABLE calls ADD COLUMN queue TEXT;
ALTER TABLE calls ADD COLUMN agent TEXT;
ALTER TABLE calls ADD COLUMN agent_answered_at BIGINT;
ALTER TABLE calls ADD COLUMN wait_ms BIGINT;
ALTER TABLE calls ADD COLUMN talk_ms BIGINT;
ALTER TABLE calls ADD COLUMN hangup_side TEXT;
ALTER TABLE calls ADD COLUMN hangup_reason TEXT;
ALTER TABLE calls ADD COLUMN abandoned INTEGER NOT NULL DEFAULT 0;
ALTER TABLE calls ADD COLUMN callback INTEGER NOT NULL DEFAULT 0;
UPDATE calls SET answered_at = started_at;
CREATE INDEX calls_queue ON calls(queue, started_at);
CREATE INDEX calls_agent ON calls(agent, started_at);
