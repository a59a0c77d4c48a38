-- Mail the exchange sends (an employee's access details, voicemail), queued here first so that a
-- mail server that is down loses nothing: the sender works through the due rows and retries with
-- backoff.
CREATE TABLE mail_outbox (
    id              INTEGER PRIMARY KEY,
    company_id      INTEGER NOT NULL REFERENCES companies(id),
    sender          TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    subject         TEXT NOT NULL,
    -- The whole RFC 5322 message as it goes out; emptied once sent.
    message         BLOB NOT NULL,
    created_at      BIGINT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    -- When to try (next); NULL once sent or given up.
    next_attempt_at BIGINT,
    sent_at         BIGINT,
    last_error      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at);

-- Mail the number's mailbox owner about each call nobody answered and that left no voicemail.
ALTER TABLE numbers ADD COLUMN missed_call_mail BOOLEAN NOT NULL DEFAULT FALSE;
