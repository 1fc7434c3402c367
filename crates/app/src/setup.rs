//! Bring a database up to date: pending migrations (under a lock), then the catalog seed.

use agentry_domain::catalog::Catalog;
use agentry_store::seed::{SeedOutcome, seed_catalog};
use agentry_store::{AnyConnection, migrate};

use crate::AppError;

/// Apply pending migrations; returns the versions applied.
pub fn migrate(conn: &mut AnyConnection) -> Result<Vec<String>, AppError> {
    Ok(migrate::run_pending(conn)?)
}

/// Seed the role and scope catalog (skipped when current).
pub fn seed(conn: &mut AnyConnection) -> Result<SeedOutcome, AppError> {
    Ok(seed_catalog(conn, &Catalog::builtin())?)
}
