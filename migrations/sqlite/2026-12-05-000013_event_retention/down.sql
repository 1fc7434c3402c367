DROP INDEX events_created;
DROP TABLE event_horizon;
