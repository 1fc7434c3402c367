-- One writer at a time (BEGIN IMMEDIATE): ids commit in order, so `tx` is 0 for every event
-- and the readers' (tx, id) order is the ids' order. The column keeps one schema for both
-- backends.
ALTER TABLE events ADD COLUMN tx BIGINT NOT NULL DEFAULT 0;
CREATE INDEX events_order ON events (tx, id);
-- The instance that wrote the event: its dispatcher skips it (the writer brought its own read
-- models up to date at commit).
ALTER TABLE events ADD COLUMN origin TEXT NOT NULL DEFAULT '';
