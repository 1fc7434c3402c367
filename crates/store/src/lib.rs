#![doc = include_str!("../README.md")]
#![warn(clippy::arithmetic_side_effects)]

pub mod account;
pub mod agents;
pub mod billing;
pub mod chains;
pub mod companies;
pub mod company_extensions;
pub mod conversations;
pub mod db;
pub mod events;
pub mod identity;
pub mod jobs;
pub mod migrate;
pub mod notify;
pub mod payments;
pub mod pg_tls;
pub mod prompts;
pub mod schema;
pub mod seed;
pub mod tokens;
pub mod uow;
mod uuid;

pub use db::{
    AnyConnection, Backend, Connector, DatabaseUrl, Pool, PoolOptions, PooledConnection,
    StatementCounter, build_pool, write_transaction,
};
pub use uow::Uow;
pub use uuid::DbUuid;

/// Everything the store can fail with. Messages name the cause; none carries a password.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("bad DATABASE_URL: {0}")]
    BadUrl(String),
    #[error("cannot connect to {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: diesel::ConnectionError,
    },
    #[error("no database connection available: {0}")]
    Pool(#[from] r2d2::Error),
    #[error("migrations failed: {0}")]
    Migration(String),
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
}

impl StoreError {
    /// A unique or foreign-key constraint refused the write (callers map this to 409).
    pub fn is_conflict(&self) -> bool {
        matches!(
            self,
            StoreError::Query(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _
            ))
        )
    }
}
