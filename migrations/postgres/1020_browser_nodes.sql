-- Browser softphones across nodes: each node's SIP address under a lease it renews (so
-- nodes ring one another's attached browsers and take such calls only from one another),
-- and the node an agent's console tab is attached to (their browser phone rings there).
CREATE TABLE acd_nodes (
    node TEXT PRIMARY KEY,
    sip_address TEXT NOT NULL,
    alive_until BIGINT NOT NULL
);
ALTER TABLE acd_agents ADD COLUMN browser_node TEXT;
