-- RFC 3327 Path of a binding: the proxies (Kamailio) a REGISTER came through, in order,
-- as the Path header's values joined with ", ". Requests to the phone are sent along it as
-- Route headers, from any node. Empty for a phone that registered straight with a node.
ALTER TABLE sip_bindings ADD COLUMN path TEXT NOT NULL DEFAULT '';
