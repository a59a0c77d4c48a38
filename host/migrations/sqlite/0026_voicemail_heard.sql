-- Message waiting (issue 16): whether the mailbox's owner has heard a voicemail (its phone's
-- message-waiting lamp counts the new ones). Messages left before count as heard.
ALTER TABLE recordings ADD COLUMN heard BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE recordings SET heard = TRUE;
