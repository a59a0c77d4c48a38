-- PostgreSQL twin of ../sqlite/0003_media.sql: the same tables, in PostgreSQL's types (BYTEA, identity).
-- Prompts uploaded over the API, kept as 8 kHz 16-bit mono WAV (what callers hear).
CREATE TABLE prompts (
    company_id  BIGINT NOT NULL REFERENCES companies(id),
    name        TEXT NOT NULL,
    wav         BYTEA NOT NULL,
    duration_ms BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (company_id, name)
);

-- What callers said (voicemail, 8 kHz 16-bit mono WAV) and whole calls (stereo: the caller on
-- the left, the other party on the right), with the call each belongs to.
CREATE TABLE recordings (
    id          TEXT PRIMARY KEY,
    company_id  BIGINT NOT NULL REFERENCES companies(id),
    call_id     TEXT NOT NULL,
    kind        TEXT NOT NULL,
    caller      TEXT NOT NULL,
    dialled     TEXT NOT NULL,
    duration_ms BIGINT NOT NULL,
    ended_by    TEXT NOT NULL,
    wav         BYTEA NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX recordings_by_time ON recordings (company_id, created_at);

-- Numbers whose calls are recorded whole (both parties of every bridged call).
ALTER TABLE numbers ADD COLUMN record_calls BOOLEAN NOT NULL DEFAULT FALSE;
