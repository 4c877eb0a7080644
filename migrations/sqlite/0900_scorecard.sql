-- The scorecard counts each lifecycle step for the department that held the ticket when the
-- step was taken (a return for the department that returned it, a resolution for the one
-- that resolved it), so every audit row keeps that department. Rows written before this
-- migration take the ticket's department of now, the best that is known of them.
ALTER TABLE ticket_audit ADD COLUMN department_id TEXT;
UPDATE ticket_audit SET department_id = (SELECT department_id FROM tickets WHERE tickets.id = ticket_audit.ticket_id);
-- Reports read a period's steps, intake and agent log by time.
CREATE INDEX ticket_audit_at ON ticket_audit(at, action);
CREATE INDEX tickets_created ON tickets(created_at);
CREATE INDEX acd_agent_log_at ON acd_agent_log(at);
