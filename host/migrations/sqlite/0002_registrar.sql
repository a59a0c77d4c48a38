-- Employees as far as the registrar needs them (the rest of the model arrives with the API).
CREATE TABLE employees (
    id          INTEGER PRIMARY KEY,
    company_id  INTEGER NOT NULL REFERENCES companies(id),
    login       TEXT NOT NULL,
    name        TEXT NOT NULL DEFAULT '',
    extension   TEXT NOT NULL,
    -- MD5(login:realm:password); the password itself is never stored.
    sip_ha1     TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    UNIQUE (company_id, login),
    UNIQUE (company_id, extension)
);

-- Registered contacts, kept across restarts so phones stay reachable.
CREATE TABLE registrations (
    employee_id INTEGER NOT NULL REFERENCES employees(id) ON DELETE CASCADE,
    contact     TEXT NOT NULL,
    source      TEXT NOT NULL,
    expires_at  BIGINT NOT NULL,
    -- The REGISTER that made the binding: a later one from the same Call-ID must have a higher
    -- CSeq (RFC 3261 §10.3 step 7).
    call_id     TEXT NOT NULL,
    cseq        BIGINT NOT NULL,
    PRIMARY KEY (employee_id, contact)
);

-- Secrets shared by every node (e.g. the key that signs digest nonces).
CREATE TABLE secrets (
    name   TEXT PRIMARY KEY,
    value  BLOB NOT NULL
);
