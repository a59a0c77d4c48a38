-- What each call came to (issue 16): answered, missed, voicemail, failed or self-service; whom
-- it was offered to (JSON list of `department:sales`, `employee:alice`, ...), where a call
-- nobody answered ended, and how long the caller waited. Calls recorded before read as
-- self-service with no wait.
ALTER TABLE call_records ADD COLUMN result TEXT NOT NULL DEFAULT 'self-service';
ALTER TABLE call_records ADD COLUMN offered_to TEXT NOT NULL DEFAULT '[]';
ALTER TABLE call_records ADD COLUMN ended_in TEXT;
ALTER TABLE call_records ADD COLUMN wait_ms BIGINT NOT NULL DEFAULT 0;
CREATE INDEX call_records_result ON call_records (company_id, result, started_at);
