-- PostgreSQL twin of ../sqlite/0024_follow_ups.sql.
-- Follow-ups that repeat ("call again every six months") and give up (issue 16): the repeat in
-- days (NULL: once), and the attempts made at the follow-up now due.
ALTER TABLE contacts ADD COLUMN follow_up_every_days BIGINT;
ALTER TABLE contacts ADD COLUMN follow_up_attempts BIGINT NOT NULL DEFAULT 0;
