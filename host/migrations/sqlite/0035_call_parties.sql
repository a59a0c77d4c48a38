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
INSERT OR IGNORE INTO call_parties (company_id, party, started_at, call_id)
    SELECT company_id, 'login:' || answered_by, started_at, id FROM call_records
    WHERE company_id IS NOT NULL AND answered_by IS NOT NULL;
INSERT OR IGNORE INTO call_parties (company_id, party, started_at, call_id)
    SELECT r.company_id,
           CASE WHEN o.value LIKE 'employee:%' THEN 'login:' || substr(o.value, 10)
                ELSE 'ext:' || substr(o.value, 11) END,
           r.started_at, r.id
    FROM call_records r, json_each(r.offered_to) o
    WHERE r.company_id IS NOT NULL AND (o.value LIKE 'employee:%' OR o.value LIKE 'extension:%');
INSERT OR IGNORE INTO call_parties (company_id, party, started_at, call_id)
    SELECT r.company_id, 'login:' || json_extract(l.value, '$.employee'), r.started_at, r.id
    FROM call_records r, json_each(r.legs) l
    WHERE r.company_id IS NOT NULL AND json_extract(l.value, '$.employee') IS NOT NULL;
-- Calls an employee made: his login, or his extension (2 to 6 digits), as the caller.
INSERT OR IGNORE INTO call_parties (company_id, party, started_at, call_id)
    SELECT company_id,
           CASE WHEN caller NOT GLOB '*[^0-9]*' THEN 'ext:' || caller ELSE 'login:' || caller END,
           started_at, id
    FROM call_records
    WHERE company_id IS NOT NULL AND caller <> '' AND caller NOT LIKE '+%'
      AND (caller GLOB '*[^0-9]*' OR length(caller) BETWEEN 2 AND 6);
