-- PostgreSQL twin of ../sqlite/0035_call_parties.sql.
-- Who took part in each call (issue 17, "my calls"): an employee by login (`login:alice`: he
-- answered it, was offered it, rang in it or made it) or by extension (`ext:101`: offered it, or
-- made it from his desk phone). An employee's calls are read off this index instead of searching
-- every record's JSON for his name.
CREATE TABLE call_parties (
    company_id  BIGINT NOT NULL,
    party       TEXT NOT NULL,
    started_at  BIGINT NOT NULL,
    call_id     TEXT NOT NULL,
    PRIMARY KEY (company_id, party, started_at, call_id)
);
-- The calls recorded before: who answered, and whom they were offered to.
INSERT INTO call_parties (company_id, party, started_at, call_id)
    SELECT company_id, 'login:' || answered_by, started_at, id FROM call_records
    WHERE company_id IS NOT NULL AND answered_by IS NOT NULL
    ON CONFLICT DO NOTHING;
INSERT INTO call_parties (company_id, party, started_at, call_id)
    SELECT r.company_id,
           CASE WHEN o.value LIKE 'employee:%' THEN 'login:' || substr(o.value, 10)
                ELSE 'ext:' || substr(o.value, 11) END,
           r.started_at, r.id
    FROM call_records r, json_array_elements_text(r.offered_to::json) AS o(value)
    WHERE r.company_id IS NOT NULL AND (o.value LIKE 'employee:%' OR o.value LIKE 'extension:%')
    ON CONFLICT DO NOTHING;
INSERT INTO call_parties (company_id, party, started_at, call_id)
    SELECT r.company_id, 'login:' || (l.value ->> 'employee'), r.started_at, r.id
    FROM call_records r, json_array_elements(r.legs::json) AS l(value)
    WHERE r.company_id IS NOT NULL AND (l.value ->> 'employee') IS NOT NULL
    ON CONFLICT DO NOTHING;
-- Calls an employee made: his login, or his extension (2 to 6 digits), as the caller.
INSERT INTO call_parties (company_id, party, started_at, call_id)
    SELECT company_id,
           CASE WHEN caller ~ '^[0-9]+$' THEN 'ext:' || caller ELSE 'login:' || caller END,
           started_at, id
    FROM call_records
    WHERE company_id IS NOT NULL AND caller <> '' AND caller NOT LIKE '+%'
      AND (caller !~ '^[0-9]+$' OR length(caller) BETWEEN 2 AND 6)
    ON CONFLICT DO NOTHING;
