//! The unit of work and the event log.
//!
//! A write runs in a [`Work`]: a connection inside a transaction and the domain events the
//! write records. [`unit_of_work`] inserts the events into `events` in the same transaction,
//! just before it commits, so an event exists exactly when its write does; it hands the
//! committed events back so the caller can bring its read models up to date.

use agentry_domain::events::DomainEvent;
use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::{event_horizon, events};
use crate::{AnyConnection, StoreError, write_transaction};

/// A write in progress: its transaction's connection and the events it has recorded.
pub struct Work<'c> {
    conn: &'c mut AnyConnection,
    events: Vec<DomainEvent>,
}

impl<'c> Work<'c> {
    pub(crate) fn new(conn: &'c mut AnyConnection) -> Self {
        Work {
            conn,
            events: Vec::new(),
        }
    }

    pub(crate) fn into_events(self) -> Vec<DomainEvent> {
        self.events
    }

    pub(crate) fn parts(&mut self) -> (&mut AnyConnection, &mut Vec<DomainEvent>) {
        (self.conn, &mut self.events)
    }

    /// The transaction's connection: every statement of the write goes through it.
    pub fn conn(&mut self) -> &mut AnyConnection {
        self.conn
    }

    /// Record what the write changed; inserted into `events` when the work commits.
    pub fn record(&mut self, event: DomainEvent) {
        self.events.push(event);
    }

    /// The events recorded so far.
    pub fn recorded(&self) -> &[DomainEvent] {
        &self.events
    }
}

/// When and by which instance a unit of work is written (`origin`: the instance's name on the
/// invalidation bus; its dispatcher skips the events it wrote itself).
#[derive(Debug, Clone, Copy)]
pub struct Stamp<'a> {
    pub at: NaiveDateTime,
    pub origin: &'a str,
}

/// Run `f` as one unit of work on `conn`: one transaction (`BEGIN IMMEDIATE` on SQLite)
/// holding the write and the insertion of its events. On success, the value and the
/// committed events; on failure nothing is written. A unit of work is always the outermost
/// transaction (`AlreadyInTransaction` otherwise), so its events are committed when it
/// returns them; use cases compose inside one by sharing its [`Work`].
pub fn unit_of_work<T, E, F>(
    conn: &mut AnyConnection,
    stamp: Stamp<'_>,
    f: F,
) -> Result<(T, Vec<DomainEvent>), E>
where
    F: FnOnce(&mut Work<'_>) -> Result<T, E>,
    E: From<diesel::result::Error> + From<StoreError>,
{
    if in_transaction(conn)? {
        return Err(diesel::result::Error::AlreadyInTransaction.into());
    }
    write_transaction(conn, |conn| {
        let mut work = Work {
            conn,
            events: Vec::new(),
        };
        let value = f(&mut work)?;
        let Work { conn, events } = work;
        insert(conn, &events, stamp)?;
        Ok((value, events))
    })
}

/// Whether `conn` is inside a transaction.
fn in_transaction(conn: &mut AnyConnection) -> Result<bool, diesel::result::Error> {
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    let depth = match conn {
        AnyConnection::Postgresql(pg) => {
            AnsiTransactionManager::transaction_manager_status_mut(pg).transaction_depth()?
        }
        AnyConnection::Sqlite(lite) => {
            AnsiTransactionManager::transaction_manager_status_mut(lite).transaction_depth()?
        }
    };
    Ok(depth.is_some())
}

#[derive(Debug, Insertable)]
#[diesel(table_name = events)]
// One multi-row INSERT on SQLite too (see docs/architecture.md, the multi-backend's edges).
#[diesel(treat_none_as_default_value = false)]
struct NewEvent<'a> {
    kind: &'static str,
    subject: String,
    payload: String,
    created_at: NaiveDateTime,
    origin: &'a str,
}

/// One multi-row insert of `recorded` (nothing for none).
fn insert(
    conn: &mut AnyConnection,
    recorded: &[DomainEvent],
    stamp: Stamp<'_>,
) -> Result<(), StoreError> {
    if recorded.is_empty() {
        return Ok(());
    }
    let rows = recorded
        .iter()
        .map(|event| {
            Ok(NewEvent {
                kind: event.kind(),
                subject: event.subject(),
                payload: serde_json::to_string(event)
                    .map_err(|error| diesel::result::Error::SerializationError(Box::new(error)))?,
                created_at: stamp.at,
                origin: stamp.origin,
            })
        })
        .collect::<Result<Vec<_>, diesel::result::Error>>()?;
    crate::per_backend!(&mut *conn, |c| diesel::insert_into(events::table)
        .values(&rows)
        .execute(c))?;
    Ok(())
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = events)]
pub struct EventRow {
    pub id: i64,
    pub kind: String,
    pub subject: String,
    pub payload: String,
    pub created_at: NaiveDateTime,
    /// The writing transaction's id on PostgreSQL (0 on SQLite): with `id`, the order in
    /// which events become readable ([`Cursor`]).
    pub tx: i64,
    /// The instance that wrote it ([`Stamp`]).
    pub origin: String,
}

impl EventRow {
    /// The event itself (`None` for a payload this version does not know).
    pub fn event(&self) -> Option<DomainEvent> {
        serde_json::from_str(&self.payload).ok()
    }

    /// Where a reader stands once it has read this event.
    pub fn cursor(&self) -> Cursor {
        Cursor {
            tx: self.tx,
            id: self.id,
        }
    }
}

/// Where a reader of the log stands: the last event it read, in the order events become
/// readable, `(tx, id)`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor {
    pub tx: i64,
    pub id: i64,
}

/// The events after `cursor` in `(tx, id)` order, at most `limit`, and only those no later
/// commit can sort before: on PostgreSQL, the events of transactions older than every
/// transaction still running (`pg_snapshot_xmin`; a transaction that allocated a smaller id
/// but commits later has a transaction id at or above that bound, so it is read after it
/// commits, never skipped); on SQLite, every committed event (one writer at a time, so ids
/// commit in order). One statement.
pub fn read_after(
    conn: &mut AnyConnection,
    cursor: Cursor,
    limit: i64,
) -> Result<Vec<EventRow>, StoreError> {
    let after = events::tx
        .gt(cursor.tx)
        .or(events::tx.eq(cursor.tx).and(events::id.gt(cursor.id)));
    let rows = match conn {
        AnyConnection::Postgresql(pg) => events::table
            .filter(after)
            .filter(events::tx.lt(diesel::dsl::sql::<diesel::sql_types::BigInt>(
                "pg_snapshot_xmin(pg_current_snapshot())::text::bigint",
            )))
            .order((events::tx.asc(), events::id.asc()))
            .limit(limit)
            .select(EventRow::as_select())
            .load(pg)?,
        AnyConnection::Sqlite(lite) => events::table
            .filter(after)
            .order((events::tx.asc(), events::id.asc()))
            .limit(limit)
            .select(EventRow::as_select())
            .load(lite)?,
    };
    Ok(rows)
}

/// Whether any event is stored after `cursor`, readable or not (a reader that finds none
/// readable but some stored is held back by a transaction still running). One statement.
pub fn stored_after(conn: &mut AnyConnection, cursor: Cursor) -> Result<bool, StoreError> {
    let after = events::tx
        .gt(cursor.tx)
        .or(events::tx.eq(cursor.tx).and(events::id.gt(cursor.id)));
    Ok(diesel::select(diesel::dsl::exists(events::table.filter(after))).get_result(conn)?)
}

/// Every stored event after `id`, by id, at most `limit`, including those a reader of the log
/// would hold back a moment ([`read_after`]): the log as it is, for inspection. One
/// statement.
pub fn list(conn: &mut AnyConnection, id: i64, limit: i64) -> Result<Vec<EventRow>, StoreError> {
    Ok(events::table
        .filter(events::id.gt(id))
        .order(events::id.asc())
        .limit(limit)
        .select(EventRow::as_select())
        .load(conn)?)
}

/// The cursor of the newest readable event, or of the newest pruned one if that is newer (the
/// start for neither): a reader that begins here reads only what becomes readable after, and
/// is not behind the [`horizon`]. Two statements (the index's tail, the horizon's row).
pub fn head(conn: &mut AnyConnection) -> Result<Cursor, StoreError> {
    let newest = match conn {
        AnyConnection::Postgresql(pg) => events::table
            .filter(events::tx.lt(diesel::dsl::sql::<diesel::sql_types::BigInt>(
                "pg_snapshot_xmin(pg_current_snapshot())::text::bigint",
            )))
            .order((events::tx.desc(), events::id.desc()))
            .select((events::tx, events::id))
            .first::<(i64, i64)>(pg)
            .optional()?,
        AnyConnection::Sqlite(lite) => events::table
            .order((events::tx.desc(), events::id.desc()))
            .select((events::tx, events::id))
            .first::<(i64, i64)>(lite)
            .optional()?,
    };
    let newest = newest.map_or_else(Cursor::default, |(tx, id)| Cursor { tx, id });
    Ok(newest.max(horizon(conn)?.unwrap_or_default()))
}

/// The name of the log's row in `event_horizon`.
const LOG: &str = "events";

/// The newest event retention deleted, in the readers' order (none before the first prune).
/// A reader whose cursor is below it has missed events. One statement.
pub fn horizon(conn: &mut AnyConnection) -> Result<Option<Cursor>, StoreError> {
    Ok(event_horizon::table
        .filter(event_horizon::name.eq(LOG))
        .select((event_horizon::tx, event_horizon::id))
        .first::<(i64, i64)>(conn)
        .optional()?
        .map(|(tx, id)| Cursor { tx, id }))
}

/// Delete the events written before `before`, up to the newest of them readable now, and move
/// the [`horizon`] to it (never back). One transaction of three statements; the number of
/// events deleted.
pub fn prune(
    conn: &mut AnyConnection,
    before: NaiveDateTime,
    now: NaiveDateTime,
) -> Result<usize, StoreError> {
    write_transaction(conn, |conn| {
        // The newest event to go; an older event committed meanwhile stays for the next run
        // (the delete is bounded by this cursor, so the horizon covers all it deletes).
        let last = match &mut *conn {
            AnyConnection::Postgresql(pg) => events::table
                .filter(events::created_at.lt(before))
                .filter(events::tx.lt(diesel::dsl::sql::<diesel::sql_types::BigInt>(
                    "pg_snapshot_xmin(pg_current_snapshot())::text::bigint",
                )))
                .order((events::tx.desc(), events::id.desc()))
                .select((events::tx, events::id))
                .first::<(i64, i64)>(pg)
                .optional()?,
            AnyConnection::Sqlite(lite) => events::table
                .filter(events::created_at.lt(before))
                .order((events::tx.desc(), events::id.desc()))
                .select((events::tx, events::id))
                .first::<(i64, i64)>(lite)
                .optional()?,
        };
        let Some((tx, id)) = last else {
            return Ok(0);
        };
        let through = events::tx
            .lt(tx)
            .or(events::tx.eq(tx).and(events::id.le(id)));
        let deleted = crate::per_backend!(&mut *conn, |c| diesel::delete(
            events::table
                .filter(events::created_at.lt(before))
                .filter(through)
        )
        .execute(c))?;
        let (sql_pg, sql_lite) = (
            "INSERT INTO event_horizon (name, tx, id, pruned_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name) DO UPDATE SET tx = excluded.tx, id = excluded.id, \
             pruned_at = excluded.pruned_at \
             WHERE (event_horizon.tx, event_horizon.id) < (excluded.tx, excluded.id)",
            "INSERT INTO event_horizon (name, tx, id, pruned_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT (name) DO UPDATE SET tx = excluded.tx, id = excluded.id, \
             pruned_at = excluded.pruned_at \
             WHERE (event_horizon.tx, event_horizon.id) < (excluded.tx, excluded.id)",
        );
        use diesel::sql_types::{BigInt, Text, Timestamp};
        match conn {
            AnyConnection::Postgresql(pg) => diesel::sql_query(sql_pg)
                .bind::<Text, _>(LOG)
                .bind::<BigInt, _>(tx)
                .bind::<BigInt, _>(id)
                .bind::<Timestamp, _>(now)
                .execute(pg)?,
            AnyConnection::Sqlite(lite) => diesel::sql_query(sql_lite)
                .bind::<Text, _>(LOG)
                .bind::<BigInt, _>(tx)
                .bind::<BigInt, _>(id)
                .bind::<Timestamp, _>(now)
                .execute(lite)?,
        };
        Ok(deleted)
    })
}
