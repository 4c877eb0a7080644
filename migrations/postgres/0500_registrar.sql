-- SIP credentials of console accounts (the SIP user name is the console name):
-- HA1 = H(name:realm:password) for each digest algorithm, never the password itself.
ALTER TABLE accounts ADD COLUMN sip_ha1_md5 TEXT;
ALTER TABLE accounts ADD COLUMN sip_ha1_sha256 TEXT;
ALTER TABLE accounts ADD COLUMN sip_realm TEXT;

-- Registrar bindings (RFC 3261 §10): where an operator's phones can be reached. In the
-- database so they survive a restart and every node sees every phone.
CREATE TABLE sip_bindings (
    aor         TEXT   NOT NULL,
    contact     TEXT   NOT NULL,
    call_id     TEXT   NOT NULL,
    cseq        BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    source      TEXT   NOT NULL,
    user_agent  TEXT   NOT NULL DEFAULT '',
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (aor, contact)
);
CREATE INDEX sip_bindings_expiry ON sip_bindings(expires_at);
