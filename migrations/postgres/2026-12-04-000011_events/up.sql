-- The event log: what each write changed, inserted in the write's own transaction. Ids come
-- from a sequence, so they can commit out of order; a reader must not skip past a gap that
-- an open transaction may still fill. `subject` is the aggregate's id, `payload` the whole
-- event as JSON (its `kind` included).
CREATE TABLE events (
    id BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX events_subject ON events (subject, id);
