//! Embedded migrations, one folder per backend, applied under a lock so that servers started
//! together on one database apply them once.

use diesel::prelude::*;
use diesel::sql_types::BigInt;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::{AnyConnection, StoreError};

pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// The advisory-lock key every Agentry instance takes while migrating ("agentry!" as bytes).
const MIGRATION_LOCK_KEY: i64 = 0x6167_656e_7472_7921;

fn migration_error(error: Box<dyn std::error::Error + Send + Sync>) -> StoreError {
    StoreError::Migration(error.to_string())
}

/// Apply every pending migration; returns the versions applied (empty when current).
pub fn run_pending(conn: &mut AnyConnection) -> Result<Vec<String>, StoreError> {
    let versions: Vec<String> = match conn {
        AnyConnection::Postgresql(pg) => {
            // A session-level advisory lock: a second instance waits here, then finds nothing
            // pending.
            diesel::sql_query("SELECT pg_advisory_lock($1)")
                .bind::<BigInt, _>(MIGRATION_LOCK_KEY)
                .execute(pg)
                .map_err(StoreError::Query)?;
            let applied = pg
                .run_pending_migrations(POSTGRES_MIGRATIONS)
                .map(|versions| versions.iter().map(ToString::to_string).collect())
                .map_err(migration_error);
            let unlocked = diesel::sql_query("SELECT pg_advisory_unlock($1)")
                .bind::<BigInt, _>(MIGRATION_LOCK_KEY)
                .execute(pg)
                .map_err(StoreError::Query);
            let applied = applied?;
            unlocked?;
            applied
        }
        AnyConnection::Sqlite(lite) => {
            // One exclusive transaction around them all: another process waits on the file
            // lock (busy_timeout) and then finds nothing pending.
            lite.exclusive_transaction(|lite| {
                lite.run_pending_migrations(SQLITE_MIGRATIONS)
                    .map(|versions| versions.iter().map(ToString::to_string).collect())
                    .map_err(migration_error)
            })?
        }
    };
    Ok(versions)
}

/// Whether any migration is pending (for `/ready`-style checks and tests).
pub fn has_pending(conn: &mut AnyConnection) -> Result<bool, StoreError> {
    match conn {
        AnyConnection::Postgresql(pg) => pg.has_pending_migration(POSTGRES_MIGRATIONS),
        AnyConnection::Sqlite(lite) => lite.has_pending_migration(SQLITE_MIGRATIONS),
    }
    .map_err(migration_error)
}

/// Revert every applied migration (tests of `down.sql`; not exposed by the server).
pub fn revert_all(conn: &mut AnyConnection) -> Result<Vec<String>, StoreError> {
    let reverted = match conn {
        AnyConnection::Postgresql(pg) => pg.revert_all_migrations(POSTGRES_MIGRATIONS),
        AnyConnection::Sqlite(lite) => lite.revert_all_migrations(SQLITE_MIGRATIONS),
    }
    .map_err(migration_error)?;
    Ok(reverted.iter().map(ToString::to_string).collect())
}
