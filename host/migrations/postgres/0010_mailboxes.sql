-- PostgreSQL twin of ../sqlite/0010_mailboxes.sql.
-- Whose voicemail: a number may name an employee (login) whose mailbox takes the messages left
-- on it; each voicemail keeps that login, so the employee can list, hear and delete his own.
ALTER TABLE numbers ADD COLUMN mailbox TEXT NOT NULL DEFAULT '';
ALTER TABLE recordings ADD COLUMN mailbox TEXT;
CREATE INDEX recordings_by_mailbox ON recordings (company_id, mailbox, created_at);
