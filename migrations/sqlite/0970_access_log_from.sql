-- Where each opening of personal data came from: the client's address as the web saw it
-- (behind a trusted proxy, the forwarded one). Rows written before have none.
ALTER TABLE personal_data_access ADD COLUMN from_addr TEXT;
CREATE INDEX personal_data_access_account ON personal_data_access(account, at);
