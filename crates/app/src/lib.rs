#![doc = include_str!("../README.md")]

use std::time::Duration;

use agentry_domain::catalog::Catalog;
use agentry_store::seed::{SeedOutcome, seed_catalog};
use agentry_store::{AnyConnection, Pool, StoreError, migrate};
use diesel::connection::SimpleConnection;

/// What a use case can fail with; the HTTP edge maps each variant to one status.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The database cannot be reached right now (503).
    #[error("database unavailable: {0}")]
    Unavailable(#[source] StoreError),
    /// Anything else the store reports (500; the cause is logged, never sent).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The application: the handle every use case works through. Cheap to clone.
#[derive(Clone)]
pub struct App {
    pool: Pool,
}

impl App {
    /// How long `/ready` waits for a connection before calling the database unavailable.
    const READY_TIMEOUT: Duration = Duration::from_secs(2);

    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The database answers a trivial statement.
    pub fn ready(&self) -> Result<(), AppError> {
        let mut conn = self
            .pool
            .get_timeout(Self::READY_TIMEOUT)
            .map_err(|error| AppError::Unavailable(StoreError::Pool(error)))?;
        conn.batch_execute("SELECT 1")
            .map_err(|error| AppError::Unavailable(StoreError::Query(error)))
    }
}

/// Bring a database up to date: pending migrations (under a lock), then the catalog seed.
pub mod setup {
    use super::*;

    /// Apply pending migrations; returns the versions applied.
    pub fn migrate(conn: &mut AnyConnection) -> Result<Vec<String>, AppError> {
        Ok(migrate::run_pending(conn)?)
    }

    /// Seed the role and scope catalog (skipped when current).
    pub fn seed(conn: &mut AnyConnection) -> Result<SeedOutcome, AppError> {
        Ok(seed_catalog(conn, &Catalog::builtin())?)
    }
}
