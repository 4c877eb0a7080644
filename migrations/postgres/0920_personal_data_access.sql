-- Who opened a resident's recording or whole phone number (个人信息保护法): one row per
-- opening, kept (never purged), read by supervisors. `what` is phone or recording; `via` is
-- page, api or download.
CREATE TABLE personal_data_access (
    id         BIGSERIAL PRIMARY KEY,
    at         BIGINT  NOT NULL,
    account    TEXT    NOT NULL,
    role       TEXT    NOT NULL,
    what       TEXT    NOT NULL,
    via        TEXT    NOT NULL,
    ticket_id  BIGINT,
    call_id    BIGINT
);
CREATE INDEX personal_data_access_at ON personal_data_access(at);
