-- Delivery exactly once across crashes and redeliveries. Times are unix milliseconds UTC.

-- A channel's idempotency key for the message that made a ticket: taking the same message
-- in again (an SMSC redelivering after a crash) finds its ticket instead of making a second.
-- Written in the ticket's own transaction.
CREATE TABLE ticket_sources (
    source_key TEXT   PRIMARY KEY,
    ticket_id  BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Incoming texts as the SMSC handed them over, by fingerprint (sender, recipient, text, and
-- the concatenation reference for split messages): the same fingerprint again within the
-- dedupe window is a redelivery. `handled_at` is set once the text was acted on; a row
-- without it is a message whose handling a crash interrupted (handled again, same key).
CREATE TABLE sms_inbound_seen (
    id          BIGSERIAL PRIMARY KEY,
    fingerprint TEXT   NOT NULL,
    received_at BIGINT NOT NULL,
    handled_at  BIGINT
);
CREATE INDEX sms_inbound_seen_fp ON sms_inbound_seen(fingerprint, received_at);

-- Parts of concatenated incoming texts, each stored before its deliver_sm_resp, so a part
-- the SMSC saw acknowledged is never lost; the whole text is assembled from here.
CREATE TABLE sms_inbound_parts (
    phone       TEXT   NOT NULL,
    reference   BIGINT NOT NULL,
    total       BIGINT NOT NULL,
    seq         BIGINT NOT NULL,
    text        TEXT   NOT NULL,
    received_at BIGINT NOT NULL,
    handled_at  BIGINT,
    PRIMARY KEY (phone, reference, total, seq)
);
CREATE INDEX sms_inbound_parts_age ON sms_inbound_parts(received_at);
