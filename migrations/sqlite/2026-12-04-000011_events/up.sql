-- The event log: what each write changed, inserted in the write's own transaction. `id` only
-- grows (AUTOINCREMENT never reuses an id); `subject` is the aggregate's id, `payload` the
-- whole event as JSON (its `kind` included).
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX events_subject ON events (subject, id);
