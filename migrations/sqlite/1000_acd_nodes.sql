-- One call centre across nodes on one database: which node holds an agent's call or a
-- waiting caller, until when (the node renews it every round; a node that died leaves it
-- to lapse and another node frees the agent or calls the caller back), whom a caller's
-- offer rings now, and a request for an agent made during a call held by another node.
ALTER TABLE acd_agents ADD COLUMN claimed_by TEXT;
ALTER TABLE acd_agents ADD COLUMN claimed_until BIGINT;
ALTER TABLE acd_agents ADD COLUMN pending TEXT;
ALTER TABLE acd_waiting ADD COLUMN claimed_by TEXT;
ALTER TABLE acd_waiting ADD COLUMN claimed_until BIGINT;
ALTER TABLE acd_waiting ADD COLUMN ringing TEXT NOT NULL DEFAULT '';
