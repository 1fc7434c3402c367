use std::path::Path;
use std::sync::OnceLock;

use agentry_app::setup;
use agentry_store::{
    AnyConnection, Backend, Connector, DatabaseUrl, Pool, PoolOptions, StatementCounter, build_pool,
};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use tempfile::TempDir;

/// The environment variable naming the PostgreSQL server for tests (any database on it; the
/// tests create and drop their own).
pub const TEST_DATABASE_URL: &str = "TEST_DATABASE_URL";

/// One test's own database, removed when dropped.
pub struct TestDb {
    url: DatabaseUrl,
    _dir: Option<TempDir>,
    postgres_name: Option<String>,
}

impl TestDb {
    /// A fresh SQLite file, migrated and seeded.
    pub fn sqlite() -> TestDb {
        let db = TestDb::sqlite_empty();
        db.prepare();
        db
    }

    /// A fresh SQLite file with no tables.
    pub fn sqlite_empty() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        TestDb {
            url: DatabaseUrl::sqlite(dir.path().join("test.db")),
            _dir: Some(dir),
            postgres_name: None,
        }
    }

    /// A fresh PostgreSQL database cloned from the migrated, seeded template; `None` (after
    /// saying so) when `TEST_DATABASE_URL` is unset, a panic then if `CI` is set.
    pub fn postgres() -> Option<TestDb> {
        let admin = postgres_admin_url()?;
        let template = template(&admin);
        Some(TestDb::create_postgres(&admin, Some(template)))
    }

    /// A fresh PostgreSQL database with no tables (for migration tests).
    pub fn postgres_empty() -> Option<TestDb> {
        let admin = postgres_admin_url()?;
        Some(TestDb::create_postgres(&admin, None))
    }

    fn create_postgres(admin: &str, template: Option<&str>) -> TestDb {
        let name = format!("agentry_t_{}", uuid::Uuid::new_v4().simple());
        let mut conn = PgConnection::establish(admin).expect("connect to TEST_DATABASE_URL");
        let from = template.map_or(String::new(), |t| format!(" TEMPLATE \"{t}\""));
        conn.batch_execute(&format!("CREATE DATABASE \"{name}\"{from}"))
            .expect("create test database");
        TestDb {
            url: DatabaseUrl::Postgres(with_database(admin, &name)),
            _dir: None,
            postgres_name: Some(name),
        }
    }

    /// Another handle on the same database, which does not remove it when dropped.
    pub fn share(&self) -> TestDb {
        TestDb {
            url: self.url.clone(),
            _dir: None,
            postgres_name: None,
        }
    }

    pub fn backend(&self) -> Backend {
        self.url.backend()
    }

    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    /// The URL as `DATABASE_URL` would carry it.
    pub fn url_string(&self) -> String {
        match &self.url {
            DatabaseUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
            DatabaseUrl::Postgres(url) => url.clone(),
        }
    }

    /// A new connection (with the server's pragmas on SQLite).
    pub fn connect(&self) -> AnyConnection {
        Connector::new(self.url.clone())
            .connect()
            .expect("connect to test database")
    }

    /// A connection whose statements `counter` counts.
    pub fn connect_counted(&self, counter: &StatementCounter) -> AnyConnection {
        Connector::new(self.url.clone())
            .with_statement_counter(counter.clone())
            .connect()
            .expect("connect to test database")
    }

    /// A pool over this database, with its statement counter.
    pub fn pool(&self) -> (Pool, StatementCounter) {
        let counter = StatementCounter::default();
        let connector = Connector::new(self.url.clone()).with_statement_counter(counter.clone());
        (build_pool(connector, &PoolOptions::default()), counter)
    }

    fn prepare(&self) {
        let mut conn = self.connect();
        setup::migrate(&mut conn).expect("migrate test database");
        setup::seed(&mut conn).expect("seed test database");
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(name) = &self.postgres_name
            && let Some(admin) = postgres_admin_url()
            && let Ok(mut conn) = PgConnection::establish(&admin)
        {
            let _ = conn.batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"));
        }
    }
}

/// `TEST_DATABASE_URL`, or `None` with a note (a panic when `CI` is set: CI must run the
/// PostgreSQL lane).
pub fn postgres_admin_url() -> Option<String> {
    match std::env::var(TEST_DATABASE_URL) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!("CI is set but {TEST_DATABASE_URL} is not: the PostgreSQL lane must run")
        }
        _ => {
            eprintln!("{TEST_DATABASE_URL} is not set: PostgreSQL variant skipped");
            None
        }
    }
}

/// `url` with its database name replaced.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let server = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{server}/{database}?{query}"),
        None => format!("{server}/{database}"),
    }
}

/// The name of a template database holding the current migrations and seed, made once per
/// process (and once across processes, under an advisory lock).
fn template(admin: &str) -> &'static str {
    static TEMPLATE: OnceLock<String> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let name = format!("agentry_tpl_{}", &schema_fingerprint()[..16]);
        let mut conn = PgConnection::establish(admin).expect("connect to TEST_DATABASE_URL");
        diesel::sql_query("SELECT pg_advisory_lock($1)")
            .bind::<BigInt, _>(0x7465_6d70_6c61_7465_i64)
            .execute(&mut conn)
            .expect("template lock");
        #[derive(QueryableByName)]
        struct Found {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        let found: Found =
            diesel::sql_query("SELECT count(*) AS n FROM pg_database WHERE datname = $1")
                .bind::<Text, _>(&name)
                .get_result(&mut conn)
                .expect("look up template");
        if found.n == 0 {
            // Build under a scratch name, then rename: a half-made template is never used.
            let scratch = format!("{name}_building");
            // Separate calls: PostgreSQL runs a multi-statement string as one transaction,
            // and these two cannot run inside one.
            conn.batch_execute(&format!(
                "DROP DATABASE IF EXISTS \"{scratch}\" WITH (FORCE)"
            ))
            .expect("drop stale template");
            conn.batch_execute(&format!("CREATE DATABASE \"{scratch}\""))
                .expect("create template");
            {
                let db = TestDb {
                    url: DatabaseUrl::Postgres(with_database(admin, &scratch)),
                    _dir: None,
                    postgres_name: None,
                };
                db.prepare();
            }
            conn.batch_execute(&format!(
                "ALTER DATABASE \"{scratch}\" RENAME TO \"{name}\""
            ))
            .expect("publish template");
            drop_stale_templates(&mut conn, &name);
        }
        diesel::sql_query("SELECT pg_advisory_unlock($1)")
            .bind::<BigInt, _>(0x7465_6d70_6c61_7465_i64)
            .execute(&mut conn)
            .expect("template unlock");
        name
    })
}

/// Templates of earlier schemas are of no further use; dropping them is best effort (another
/// run may still be cloning one).
fn drop_stale_templates(conn: &mut PgConnection, current: &str) {
    #[derive(QueryableByName)]
    struct Name {
        #[diesel(sql_type = Text)]
        datname: String,
    }
    let stale: Vec<Name> = diesel::sql_query(
        "SELECT datname FROM pg_database WHERE datname LIKE 'agentry\\_tpl\\_%' AND datname <> $1",
    )
    .bind::<Text, _>(current)
    .load(conn)
    .unwrap_or_default();
    for Name { datname } in stale {
        let _ = conn.batch_execute(&format!("DROP DATABASE IF EXISTS \"{datname}\""));
    }
}

/// A hash of the PostgreSQL migrations and the catalog: a new one means a new template.
fn schema_fingerprint() -> String {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations/postgres");
    let mut files: Vec<_> = walk(&dir);
    files.sort();
    let mut hasher = DefaultHasher::new();
    for file in files {
        file.hash(&mut hasher);
        std::fs::read(&file)
            .expect("read migration")
            .hash(&mut hasher);
    }
    agentry_app::setup::catalog()
        .fingerprint()
        .hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)
        .expect("read migrations dir")
        .flatten()
    {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_names_are_replaced() {
        assert_eq!(
            with_database("postgres://u@h:5432/x", "y"),
            "postgres://u@h:5432/y"
        );
        assert_eq!(
            with_database("postgres://u@h/x?sslmode=disable", "y"),
            "postgres://u@h/y?sslmode=disable"
        );
        assert_eq!(with_database("postgres://u@h", "y"), "postgres://u@h/y");
    }
}
