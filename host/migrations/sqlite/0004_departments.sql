-- Departments: a name flows route to (`{"department": "sales"}`), an extension colleagues dial,
-- and how their members' phones ring.
CREATE TABLE departments (
    id           INTEGER PRIMARY KEY,
    company_id   INTEGER NOT NULL REFERENCES companies(id),
    slug         TEXT NOT NULL,
    name         TEXT NOT NULL,
    extension    TEXT NOT NULL,
    -- ring_all, in_turn or increasingly
    strategy     TEXT NOT NULL DEFAULT 'ring_all',
    step_secs    BIGINT NOT NULL DEFAULT 15,
    timeout_secs BIGINT NOT NULL DEFAULT 60,
    created_at   BIGINT NOT NULL,
    UNIQUE (company_id, slug),
    UNIQUE (company_id, extension)
);

-- Members in hunting order.
CREATE TABLE department_members (
    department_id INTEGER NOT NULL REFERENCES departments(id) ON DELETE CASCADE,
    employee_id   INTEGER NOT NULL REFERENCES employees(id) ON DELETE CASCADE,
    position      BIGINT NOT NULL,
    PRIMARY KEY (department_id, employee_id)
);

-- A fresh install has the departments the built-in voice menu routes to.
INSERT INTO departments (company_id, slug, name, extension, strategy, step_secs, timeout_secs, created_at)
VALUES (1, 'sales', 'Sales Department', '600', 'ring_all', 15, 60, 0),
       (1, 'support', 'Support', '601', 'ring_all', 15, 60, 0);
