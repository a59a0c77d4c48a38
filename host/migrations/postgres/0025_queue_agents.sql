-- PostgreSQL twin of ../sqlite/0025_queue_agents.sql.
-- Queues (issue 16): an agent pauses (a break) without logging out of a department; paused, he
-- is offered no calls from its queue or its hunting, and still counts as staffing it.
ALTER TABLE department_members ADD COLUMN paused BOOLEAN NOT NULL DEFAULT FALSE;
