-- The employee knows who calls (issue 16): what an employee's ringing phone shows of a caller
-- to the number — a prefix naming the number (e.g. "Sales"), and whether the caller is new or
-- returning (or his contact card's name and manager).
ALTER TABLE numbers ADD COLUMN display_prefix TEXT NOT NULL DEFAULT '';
ALTER TABLE numbers ADD COLUMN show_caller_status BOOLEAN NOT NULL DEFAULT TRUE;
