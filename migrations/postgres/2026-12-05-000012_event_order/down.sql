ALTER TABLE events DROP COLUMN origin;
DROP INDEX events_order;
ALTER TABLE events DROP COLUMN tx;
