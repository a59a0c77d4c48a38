-- No caller is lost (issue 16): where a department's unanswered callers go, whether it rings
-- members already on a call, which members are logged out of it, and employees in
-- do-not-disturb. Departments and employees made before keep ringing as they did.
ALTER TABLE departments ADD COLUMN overflow TEXT NOT NULL DEFAULT '';
ALTER TABLE departments ADD COLUMN ring_busy BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE department_members ADD COLUMN logged_in BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE employees ADD COLUMN dnd BOOLEAN NOT NULL DEFAULT FALSE;
