-- Retention: a job deletes events older than a configured age. `event_horizon` keeps the
-- newest event it deleted (in the readers' (tx, id) order): a reader whose cursor is below
-- it missed events and must drop its read models and resume at the head.
CREATE TABLE event_horizon (
    name TEXT PRIMARY KEY NOT NULL,
    tx BIGINT NOT NULL,
    id BIGINT NOT NULL,
    pruned_at TIMESTAMP NOT NULL
);
CREATE INDEX events_created ON events (created_at);
