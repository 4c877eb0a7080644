-- Failed logins per account, so every node on one database refuses the same account after
-- the same number of wrong passwords. Rows older than the login window are deleted as new
-- ones arrive.
CREATE TABLE login_failures (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    account TEXT   NOT NULL,
    at      BIGINT NOT NULL
);
CREATE INDEX login_failures_account ON login_failures(account, at);
CREATE INDEX login_failures_at ON login_failures(at);
