//! The handle every use case works through: at most one connection, taken from the pool the
//! first time a statement needs it and held until the use case ends (or releases it), or the
//! connection of a unit of work already in progress. A use case that composes others passes
//! them its handle, so no use case takes a second connection while it holds one, and several
//! use cases can write in one transaction: their events join the outer unit's and commit with
//! it.

use agentry_domain::events::DomainEvent;

use crate::events::{Stamp, Work, unit_of_work};
use crate::{AnyConnection, Pool, PooledConnection, StoreError, write_transaction};

/// A use case's connection: lazily pooled, or that of a unit of work in progress.
pub struct Uow<'c> {
    source: Source<'c>,
}

enum Source<'c> {
    Pool {
        pool: Pool,
        held: Option<PooledConnection>,
    },
    InWork {
        conn: &'c mut AnyConnection,
        events: &'c mut Vec<DomainEvent>,
    },
}

impl Uow<'static> {
    /// A handle that takes one connection from `pool` when first needed.
    pub fn new(pool: &Pool) -> Self {
        Uow {
            source: Source::Pool {
                pool: pool.clone(),
                held: None,
            },
        }
    }
}

impl<'c> Uow<'c> {
    /// The connection: the held one, or one taken from the pool now.
    pub fn conn(&mut self) -> Result<&mut AnyConnection, StoreError> {
        match &mut self.source {
            Source::InWork { conn, .. } => Ok(conn),
            Source::Pool { pool, held } => {
                let conn = match held.take() {
                    Some(conn) => conn,
                    None => pool.get()?,
                };
                Ok(held.insert(conn))
            }
        }
    }

    /// Whether a pooled connection is held now (always, inside a unit of work).
    pub fn holds(&self) -> bool {
        match &self.source {
            Source::InWork { .. } => true,
            Source::Pool { held, .. } => held.is_some(),
        }
    }

    /// Whether this handle works inside a unit of work in progress: its writes commit or roll
    /// back with that unit's transaction, and what it reads may not be committed yet.
    pub fn in_work(&self) -> bool {
        matches!(self.source, Source::InWork { .. })
    }

    /// Give a pooled connection back before slow work that needs none (a password hash, a
    /// call to another service); the next statement takes one again. Inside a unit of work
    /// the connection stays.
    pub fn release(&mut self) {
        if let Source::Pool { held, .. } = &mut self.source {
            *held = None;
        }
    }

    /// Run `f` as a unit of work. On its own: one transaction with its events (see
    /// [`unit_of_work`]), and the committed events are returned. Inside a unit of work in
    /// progress: a savepoint in that transaction, whose events join the outer unit's (they
    /// commit with it, so none are returned here).
    pub fn write<T, E, F>(&mut self, stamp: Stamp<'_>, f: F) -> Result<(T, Vec<DomainEvent>), E>
    where
        F: FnOnce(&mut Work<'_>) -> Result<T, E>,
        E: From<diesel::result::Error> + From<StoreError>,
    {
        match &mut self.source {
            Source::Pool { .. } => unit_of_work(self.conn()?, stamp, f),
            Source::InWork { conn, events } => write_transaction(conn, |conn| {
                let mut inner = Work::new(conn);
                let value = f(&mut inner)?;
                events.extend(inner.into_events());
                Ok((value, Vec::new()))
            }),
        }
    }
}

impl<'w> Work<'w> {
    /// A handle for use cases composed into this unit of work: their statements run in its
    /// transaction and their events commit with its own.
    pub fn uow(&mut self) -> Uow<'_> {
        let (conn, events) = self.parts();
        Uow {
            source: Source::InWork { conn, events },
        }
    }
}
