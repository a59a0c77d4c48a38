-- Queues across nodes (several nodes on PostgreSQL; on SQLite there is one node and these
-- tables stay empty): the callers waiting on each node, so that every node serves a
-- department's callers in one order, and each agent's last queue call and rest, so that every
-- node picks the longest idle and lets an agent wrap up.
CREATE TABLE queue_places (
    node       TEXT NOT NULL,
    company_id BIGINT NOT NULL,
    department TEXT NOT NULL,
    place      BIGINT NOT NULL,
    internal   BOOLEAN NOT NULL,
    -- Unix ms.
    joined_at  BIGINT NOT NULL,
    -- Agents are being offered the caller (ringing).
    offered    BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (node, company_id, department, place)
);
CREATE INDEX queue_places_by_department ON queue_places (company_id, department);

CREATE TABLE queue_agents (
    company_id BIGINT NOT NULL,
    department TEXT NOT NULL,
    login      TEXT NOT NULL,
    -- When his last queue call ended (unix ms); NULL: none yet.
    idle_since BIGINT,
    -- Offered no caller before then (wrap-up, a rest after an offer he let ring out).
    rest_until BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (company_id, department, login)
);
