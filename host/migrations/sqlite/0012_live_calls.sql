-- Nodes sharing the database, and the calls in progress on each: any node lists them all and
-- can hang up another node's call. A node says it is alive every few seconds (seen_at); rows
-- of a node that stopped saying so are left out and cleared.
CREATE TABLE nodes (
    id         TEXT PRIMARY KEY,
    started_at BIGINT NOT NULL,
    seen_at    BIGINT NOT NULL
);

CREATE TABLE live_calls (
    id         TEXT PRIMARY KEY,
    company_id BIGINT NOT NULL,
    node       TEXT NOT NULL,
    caller     TEXT NOT NULL,
    dialled    TEXT NOT NULL,
    started_at BIGINT NOT NULL
);
CREATE INDEX live_calls_by_node ON live_calls (node);
