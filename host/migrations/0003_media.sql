-- Prompts uploaded over the API, kept as 8 kHz 16-bit mono WAV (what callers hear).
CREATE TABLE prompts (
    company_id  INTEGER NOT NULL REFERENCES companies(id),
    name        TEXT NOT NULL,
    wav         BLOB NOT NULL,
    duration_ms BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (company_id, name)
);

-- What callers said (voicemail), as 8 kHz 16-bit mono WAV, with the call it belongs to.
CREATE TABLE recordings (
    id          TEXT PRIMARY KEY,
    company_id  INTEGER NOT NULL REFERENCES companies(id),
    call_id     TEXT NOT NULL,
    caller      TEXT NOT NULL,
    dialled     TEXT NOT NULL,
    duration_ms BIGINT NOT NULL,
    ended_by    TEXT NOT NULL,
    wav         BLOB NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX recordings_by_time ON recordings (company_id, created_at);
