-- The people the company talks to, one card per phone number: who is responsible for them, when
-- they last had a connected call, when to call them next, and a log of what was done and how it
-- went (fed by call records and by completed callbacks).
CREATE TABLE contacts (
    id                INTEGER PRIMARY KEY,
    company_id        INTEGER NOT NULL REFERENCES companies(id),
    phone             TEXT NOT NULL,
    name              TEXT NOT NULL DEFAULT '',
    employee_id       INTEGER REFERENCES employees(id) ON DELETE SET NULL,
    last_contact_at   BIGINT,
    next_follow_up_at BIGINT,
    created_at        BIGINT NOT NULL,
    UNIQUE (company_id, phone)
);
CREATE INDEX contacts_follow_up ON contacts (company_id, next_follow_up_at);

CREATE TABLE contact_log (
    id          INTEGER PRIMARY KEY,
    contact_id  INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    at          BIGINT NOT NULL,
    -- call-in, call-out, callback, note
    action      TEXT NOT NULL,
    result      TEXT NOT NULL,
    employee_id INTEGER REFERENCES employees(id) ON DELETE SET NULL,
    call_id     TEXT
);
CREATE INDEX contact_log_by_contact ON contact_log (contact_id, at);

-- "Call me back": a request (from voicemail, the secretary or the API) that is due at a time and
-- is done when someone completes it with a result.
CREATE TABLE callbacks (
    id           INTEGER PRIMARY KEY,
    company_id   INTEGER NOT NULL REFERENCES companies(id),
    contact_id   INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    employee_id  INTEGER REFERENCES employees(id) ON DELETE SET NULL,
    reason       TEXT NOT NULL DEFAULT '',
    recording_id TEXT,
    due_at       BIGINT NOT NULL,
    -- open, done, cancelled
    status       TEXT NOT NULL DEFAULT 'open',
    result       TEXT,
    created_at   BIGINT NOT NULL,
    completed_at BIGINT
);
CREATE INDEX callbacks_due ON callbacks (company_id, status, due_at);

-- Who the caller talked to (the employee's login), for the contact log and "the manager who
-- last talked to this caller".
ALTER TABLE call_records ADD COLUMN answered_by TEXT;
