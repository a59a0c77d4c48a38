-- An employee's job title (issue 17: the company directory shows it).
ALTER TABLE employees ADD COLUMN position TEXT NOT NULL DEFAULT '';
