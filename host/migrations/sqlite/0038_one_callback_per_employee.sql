-- One callback at a time per employee, on every node: a second request of his cannot be
-- claimed ('calling') while one is. Requests claimed twice before this (two nodes at once) go
-- back to 'open', all but the first.
UPDATE callbacks SET status = 'open'
WHERE status = 'calling' AND employee_id IS NOT NULL
  AND id NOT IN (SELECT MIN(id) FROM callbacks WHERE status = 'calling' AND employee_id IS NOT NULL
                 GROUP BY company_id, employee_id);
CREATE UNIQUE INDEX callbacks_one_calling_per_employee ON callbacks (company_id, employee_id)
    WHERE status = 'calling';
