#![doc = include_str!("../README.md")]

mod access;
pub mod accounts;
pub mod companies;
mod error;
pub mod session;
pub mod setup;

use std::sync::Arc;
use std::time::Duration;

use agentry_auth::token::TokenKeys;
use agentry_store::{Pool, PooledConnection, StoreError};
use diesel::connection::SimpleConnection;

pub use error::AppError;
pub use session::Caller;

/// What the use cases need to know about the deployment (from the server's configuration).
#[derive(Debug, Clone)]
pub struct Settings {
    /// The secret that signs tokens (`AGIXT_API_KEY`).
    pub token_secret: Vec<u8>,
    /// How long an issued token lives.
    pub token_ttl: Duration,
    /// The front end's URL, base of magic links (`APP_URI`).
    pub app_uri: String,
    /// The TOTP issuer shown by authenticator apps (`APP_NAME`).
    pub app_name: String,
    /// The account that registers as super admin (`SUPERADMIN_EMAIL`); no default.
    pub superadmin_email: Option<String>,
}

impl Settings {
    pub fn for_tests() -> Self {
        Self {
            token_secret: b"test-secret".to_vec(),
            token_ttl: Duration::from_secs(3600),
            app_uri: "http://localhost:3437".into(),
            app_name: "AGiXT".into(),
            superadmin_email: None,
        }
    }
}

/// The application: the handle every use case works through. Cheap to clone.
#[derive(Clone)]
pub struct App {
    pool: Pool,
    settings: Arc<Settings>,
    tokens: TokenKeys,
    revocations: Arc<session::Revocations>,
    access: agentry_cache::ReadModel<agentry_domain::UserId, agentry_domain::access::Access>,
}

impl App {
    /// How long `/ready` waits for a connection before calling the database unavailable.
    const READY_TIMEOUT: Duration = Duration::from_secs(2);
    /// Users whose access is kept in memory (least recently used beyond that are re-read).
    const ACCESS_CAPACITY: usize = 100_000;

    pub fn new(pool: Pool, settings: Settings) -> Self {
        Self {
            pool,
            tokens: TokenKeys::new(&settings.token_secret),
            settings: Arc::new(settings),
            revocations: Arc::default(),
            access: agentry_cache::ReadModel::new(Self::ACCESS_CAPACITY),
        }
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    fn conn(&self) -> Result<PooledConnection, AppError> {
        self.pool
            .get()
            .map_err(|error| AppError::Unavailable(StoreError::Pool(error)))
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
