-- The order in which events became readable. Ids come from a sequence at insert time, so a
-- transaction can commit an id below one already committed; a reader that followed ids would
-- skip it. Each event carries its transaction's id instead (`pg_current_xact_id()`, as a
-- number), and a reader takes, in (tx, id) order, only the events of transactions older than
-- every transaction still running (`pg_snapshot_xmin`): nothing committed later can sort
-- before what it has read.
ALTER TABLE events ADD COLUMN tx BIGINT NOT NULL DEFAULT (pg_current_xact_id()::text::bigint);
CREATE INDEX events_order ON events (tx, id);
-- The instance that wrote the event: its dispatcher skips it (the writer brought its own read
-- models up to date at commit).
ALTER TABLE events ADD COLUMN origin TEXT NOT NULL DEFAULT '';
