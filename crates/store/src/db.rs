//! Connections, the backend choice, and the r2d2 pool.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use diesel::connection::{Instrumentation, InstrumentationEvent, SimpleConnection};
use diesel::prelude::*;
use diesel::{PgConnection, SqliteConnection};

use crate::StoreError;

/// One connection type over both backends; every query in this crate is written once for it.
#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
}

/// SQLite takes one writer at a time: the outermost write transactions of this process take
/// turns here first (single autocommit writes, such as a throttle count, do not; they still
/// meet the busy timeout). Never open a second write transaction, on another connection, while
/// holding it: it would wait for itself. (Writers in other processes, such as `agentry admin`, still meet SQLite's
/// busy timeout.) One gate for every SQLite database the process opens (tests open many):
/// writes are short, and a use case never writes through two connections at once.
static SQLITE_WRITER: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A transaction that writes. On SQLite it begins `IMMEDIATE`: the write lock is taken
/// before the first statement, so a second writer waits for it (in this process, at
/// [`SQLITE_WRITER`]; from another, `busy_timeout`) instead of failing with "database is
/// locked" when a transaction that read first tries to write. On PostgreSQL it is an ordinary
/// transaction. Nested transactions inside `f` are savepoints.
pub fn write_transaction<T, E, F>(conn: &mut AnyConnection, f: F) -> Result<T, E>
where
    F: FnOnce(&mut AnyConnection) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    let outermost_on_sqlite = match conn {
        AnyConnection::Postgresql(_) => false,
        AnyConnection::Sqlite(lite) => AnsiTransactionManager::transaction_manager_status_mut(lite)
            .transaction_depth()?
            .is_none(),
    };
    if !outermost_on_sqlite {
        // PostgreSQL, or already inside a transaction (a savepoint).
        return conn.transaction(f);
    }
    // Writers of this process queue here, in memory, rather than in SQLite's busy handler,
    // which sleeps in steps of 1 to 100 ms while another writer holds the lock (measured:
    // under 16 concurrent writers most of a write's latency was that sleep).
    let _gate = SQLITE_WRITER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let AnyConnection::Sqlite(lite) = conn {
        AnsiTransactionManager::begin_transaction_sql(lite, "BEGIN IMMEDIATE")?;
    }
    let outcome = f(conn);
    let AnyConnection::Sqlite(lite) = conn else {
        // `f` cannot change the variant of the connection it was lent.
        return outcome;
    };
    match outcome {
        Ok(value) => {
            AnsiTransactionManager::commit_transaction(lite)?;
            Ok(value)
        }
        Err(error) => {
            AnsiTransactionManager::rollback_transaction(lite)?;
            Err(error)
        }
    }
}

impl AnyConnection {
    pub fn backend(&self) -> Backend {
        match self {
            AnyConnection::Postgresql(_) => Backend::Postgres,
            AnyConnection::Sqlite(_) => Backend::Sqlite,
        }
    }
}

/// Run one expression on the concrete connection inside an `AnyConnection`, for the few
/// statements the multi-backend cannot express (multi-row inserts, upserts). The expression
/// is compiled once per backend.
#[macro_export]
macro_rules! per_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::AnyConnection::Postgresql($c) => $body,
            $crate::AnyConnection::Sqlite($c) => $body,
        }
    };
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        })
    }
}

/// A validated `DATABASE_URL`: `sqlite://PATH` (or `sqlite:PATH`) or `postgres://...`
/// (`postgresql://...`). The scheme picks the backend.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> Result<Self, StoreError> {
        let url = url.trim();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres(url.to_owned()));
        }
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            if path.is_empty() || path.contains('?') || path == ":memory:" {
                return Err(StoreError::BadUrl(format!(
                    "`{url}` names no SQLite file (use sqlite://PATH; an in-memory database \
                     cannot be shared by the pool)"
                )));
            }
            return Ok(DatabaseUrl::Sqlite(PathBuf::from(path)));
        }
        let scheme = url.split_once(':').map_or(url, |(scheme, _)| scheme);
        Err(StoreError::BadUrl(format!(
            "unsupported scheme `{scheme}` (expected sqlite://PATH or postgres://USER@HOST/DB)"
        )))
    }

    pub fn sqlite(path: impl AsRef<Path>) -> Self {
        DatabaseUrl::Sqlite(path.as_ref().to_owned())
    }

    pub fn backend(&self) -> Backend {
        match self {
            DatabaseUrl::Sqlite(_) => Backend::Sqlite,
            DatabaseUrl::Postgres(_) => Backend::Postgres,
        }
    }

    /// The URL with any password replaced, for logs and error messages.
    pub fn redacted(&self) -> String {
        match self {
            DatabaseUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
            DatabaseUrl::Postgres(url) => redact_password(url),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

/// Counts the statements every connection of a pool sends (through each connection's
/// `ConnectionWatch`), so tests and the load bench can state what a request costs. Cloning
/// shares the count.
#[derive(Clone, Debug, Default)]
pub struct StatementCounter(Arc<AtomicU64>);

impl StatementCounter {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Watches one connection: counts its statements (when a counter is set, leaving out the
/// pool's own checkout validation) and notes when the database closed it, so the pool drops
/// it instead of handing out a dead connection again.
#[derive(Debug, Default)]
struct ConnectionWatch {
    counter: Option<StatementCounter>,
    closed: bool,
    validating: bool,
}

impl Instrumentation for ConnectionWatch {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        match event {
            InstrumentationEvent::StartQuery { .. } if !self.validating => {
                if let Some(counter) = &self.counter {
                    counter.0.fetch_add(1, Ordering::Relaxed);
                }
            }
            InstrumentationEvent::FinishQuery {
                error:
                    Some(diesel::result::Error::DatabaseError(
                        diesel::result::DatabaseErrorKind::ClosedConnection,
                        _,
                    )),
                ..
            } => self.closed = true,
            _ => {}
        }
    }
}

fn watch(conn: &mut AnyConnection) -> Option<&mut ConnectionWatch> {
    conn.instrumentation().downcast_mut::<ConnectionWatch>()
}

/// How connections are opened. SQLite gets its pragmas here, on every new connection.
#[derive(Clone, Debug)]
pub struct Connector {
    url: DatabaseUrl,
    busy_timeout: Duration,
    counter: Option<StatementCounter>,
}

impl Connector {
    pub fn new(url: DatabaseUrl) -> Self {
        Self {
            url,
            busy_timeout: Duration::from_secs(5),
            counter: None,
        }
    }

    pub fn with_statement_counter(mut self, counter: StatementCounter) -> Self {
        self.counter = Some(counter);
        self
    }

    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    /// Open one connection of the backend the URL names, keeping the driver's own error
    /// (`AnyConnection::establish` would try each backend and hide it).
    pub fn connect(&self) -> Result<AnyConnection, StoreError> {
        let mut conn = match &self.url {
            DatabaseUrl::Postgres(url) => {
                let conn = PgConnection::establish(url).map_err(|source| StoreError::Connect {
                    url: self.url.redacted(),
                    source,
                })?;
                AnyConnection::Postgresql(conn)
            }
            DatabaseUrl::Sqlite(path) => {
                let path = path.to_str().ok_or_else(|| {
                    StoreError::BadUrl(format!("{} is not valid UTF-8", path.display()))
                })?;
                let mut conn =
                    SqliteConnection::establish(path).map_err(|source| StoreError::Connect {
                        url: self.url.redacted(),
                        source,
                    })?;
                // busy_timeout comes first: switching to WAL needs a lock that a parallel
                // pool fill may hold for a moment.
                conn.batch_execute(&format!(
                    "PRAGMA busy_timeout = {}; PRAGMA foreign_keys = ON; \
                     PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;",
                    self.busy_timeout.as_millis()
                ))
                .map_err(StoreError::Query)?;
                AnyConnection::Sqlite(conn)
            }
        };
        conn.set_instrumentation(ConnectionWatch {
            counter: self.counter.clone(),
            ..ConnectionWatch::default()
        });
        Ok(conn)
    }
}

impl r2d2::ManageConnection for Connector {
    type Connection = AnyConnection;
    type Error = StoreError;

    fn connect(&self) -> Result<AnyConnection, StoreError> {
        Connector::connect(self)
    }

    /// On every checkout: a connection the database has closed (a restart, a failover,
    /// `pg_terminate_backend`) is replaced before a request sees it.
    fn is_valid(&self, conn: &mut AnyConnection) -> Result<(), StoreError> {
        if let Some(watch) = watch(conn) {
            watch.validating = true;
        }
        let answer = conn.batch_execute("SELECT 1").map_err(StoreError::Query);
        if let Some(watch) = watch(conn) {
            watch.validating = false;
        }
        answer
    }

    /// On every return: diesel's rule (a thread that panicked with it, a transaction left
    /// open or failed), or the database closed it.
    fn has_broken(&self, conn: &mut AnyConnection) -> bool {
        use diesel::r2d2::R2D2Connection;
        std::thread::panicking() || conn.is_broken() || watch(conn).is_some_and(|w| w.closed)
    }
}

pub type Pool = r2d2::Pool<Connector>;
pub type PooledConnection = r2d2::PooledConnection<Connector>;

/// Pool sizing. SQLite allows one writer at a time, so a few connections suffice there.
#[derive(Clone, Debug)]
pub struct PoolOptions {
    pub max_size: u32,
    pub connection_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            max_size: 16,
            connection_timeout: Duration::from_secs(10),
        }
    }
}

/// Build the pool lazily (no connection is opened here); open one connection with
/// [`Connector::connect`] first to fail fast with the real cause.
pub fn build_pool(connector: Connector, options: &PoolOptions) -> Pool {
    r2d2::Pool::builder()
        .max_size(options.max_size)
        .min_idle(Some(0))
        .connection_timeout(options.connection_timeout)
        // One round trip per checkout (not counted as the request's statement): a connection
        // the database closed is replaced before a request uses it.
        .test_on_check_out(true)
        .build_unchecked(connector)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_pick_the_backend_by_scheme() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://data/agentry.db").unwrap(),
            DatabaseUrl::Sqlite("data/agentry.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///tmp/a.db").unwrap(),
            DatabaseUrl::Sqlite("/tmp/a.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("postgresql://u@h/db").unwrap().backend(),
            Backend::Postgres
        );
        for bad in [
            "mysql://x",
            "",
            "data/agentry.db",
            "sqlite://",
            "sqlite://:memory:",
        ] {
            let err = DatabaseUrl::parse(bad).unwrap_err().to_string();
            assert!(
                err.contains("scheme") || err.contains("SQLite"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn passwords_never_reach_messages() {
        let url = DatabaseUrl::parse("postgres://app:s3cret@db.local:5432/agentry").unwrap();
        assert_eq!(url.redacted(), "postgres://app:***@db.local:5432/agentry");
        assert!(!format!("{url:?} {url}").contains("s3cret"));
        let plain = DatabaseUrl::parse("postgres://postgres@127.0.0.1/x").unwrap();
        assert_eq!(plain.redacted(), "postgres://postgres@127.0.0.1/x");
    }
}
