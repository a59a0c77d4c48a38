-- Every row belongs to a company (tenant) from the first migration on (DESIGN §6).
CREATE TABLE companies (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    sip_domain  TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL
);

-- Flow versions, content-addressed by the sha256 of the component.
CREATE TABLE flows (
    sha256       TEXT PRIMARY KEY,
    company_id   INTEGER REFERENCES companies(id),  -- NULL for built-in flows
    name         TEXT NOT NULL,
    builtin      BOOLEAN NOT NULL DEFAULT FALSE,
    size         BIGINT NOT NULL,
    wasm         BLOB NOT NULL,
    uploaded_at  BIGINT NOT NULL
);
CREATE INDEX flows_by_name ON flows (name, uploaded_at);

-- Numbers (DIDs) and their flow assignment; unique globally.
CREATE TABLE numbers (
    number       TEXT PRIMARY KEY,
    company_id   INTEGER NOT NULL REFERENCES companies(id),
    timezone     TEXT NOT NULL DEFAULT 'UTC',
    flow_sha256  TEXT NOT NULL REFERENCES flows(sha256),
    settings     TEXT NOT NULL DEFAULT '{}',
    updated_at   BIGINT NOT NULL
);

CREATE TABLE call_records (
    id           TEXT PRIMARY KEY,
    company_id   INTEGER REFERENCES companies(id),
    sip_call_id  TEXT NOT NULL,
    caller       TEXT NOT NULL,
    dialled      TEXT NOT NULL,
    flow_sha256  TEXT,
    started_at   BIGINT NOT NULL,
    answered_at  BIGINT,
    ended_at     BIGINT NOT NULL,
    outcome      TEXT NOT NULL,
    trace        TEXT NOT NULL
);
CREATE INDEX call_records_by_start ON call_records (started_at);
CREATE INDEX call_records_by_caller ON call_records (caller, started_at);

-- API tokens: only the sha256 of the secret is kept.
CREATE TABLE api_tokens (
    token_sha256 TEXT PRIMARY KEY,
    company_id   INTEGER NOT NULL REFERENCES companies(id),
    label        TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);

INSERT INTO companies (id, name, sip_domain, created_at) VALUES (1, 'My company', 'default', 0);
