//! The `LISTEN/NOTIFY` connection follows the pool URL's `sslmode`: encrypted when it asks,
//! the certificate checked as `verify-ca` and `verify-full` ask, and never connected (rather
//! than connected unchecked) when the check fails. Needs `TEST_DATABASE_URL` and a server
//! with TLS on (the Debian default, with the snakeoil certificate for `localhost`).
#![expect(clippy::unwrap_used, reason = "helpers of a test crate")]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentry_store::notify::spawn_pg_bus;
use agentry_test_support::postgres_admin_url;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};

const SNAKEOIL: &str = "/etc/ssl/certs/ssl-cert-snakeoil.pem";

#[derive(QueryableByName)]
struct Setting {
    #[diesel(sql_type = Text)]
    value: String,
}

#[derive(QueryableByName)]
struct Encrypted {
    #[diesel(sql_type = Bool)]
    ssl: bool,
}

/// The server's `ssl` and `ssl_cert_file` settings.
fn server_tls(url: &str) -> (bool, String) {
    let mut conn = diesel::PgConnection::establish(url).unwrap();
    let show = |conn: &mut diesel::PgConnection, name: &str| {
        diesel::sql_query(format!("SELECT current_setting('{name}') AS value"))
            .get_result::<Setting>(conn)
            .unwrap()
            .value
    };
    (
        show(&mut conn, "ssl") == "on",
        show(&mut conn, "ssl_cert_file"),
    )
}

/// Whether the connection named `application` is encrypted.
fn encrypted(url: &str, application: &str) -> Option<bool> {
    let mut conn = diesel::PgConnection::establish(url).unwrap();
    diesel::sql_query(
        "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
         WHERE a.application_name = $1",
    )
    .bind::<Text, _>(application)
    .get_result::<Encrypted>(&mut conn)
    .optional()
    .unwrap()
    .map(|row| row.ssl)
}

/// Start a bus on `url`; whether it connected within `wait`, its `up` flag and what it
/// received.
async fn bus(
    url: String,
    wait: Duration,
) -> (
    bool,
    tokio::sync::mpsc::UnboundedSender<String>,
    Arc<Mutex<Vec<String>>>,
) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&received);
    let up = Arc::new(AtomicBool::new(false));
    let outbox = spawn_pg_bus(
        url,
        Arc::new(move |message: &str| sink.lock().unwrap().push(message.to_owned())),
        Arc::clone(&up),
    );
    let deadline = tokio::time::Instant::now() + wait;
    while !up.load(Ordering::Relaxed) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (up.load(Ordering::Relaxed), outbox, received)
}

#[tokio::test]
async fn the_listener_connects_as_sslmode_asks() {
    let Some(admin) = postgres_admin_url() else {
        return;
    };
    let (on, cert_file) = server_tls(&admin);
    if !on || cert_file != SNAKEOIL || !std::path::Path::new(SNAKEOIL).exists() {
        eprintln!("the server does not serve TLS with {SNAKEOIL}: skipped");
        return;
    }
    let (base, _) = admin.split_once('?').unwrap_or((&admin, ""));
    let with = |host: &str, query: &str| {
        base.replacen("127.0.0.1", host, 1)
            .replacen("@localhost", &format!("@{host}"), 1)
            + "?"
            + query
    };

    // require: encrypted, and the bus carries messages between two listeners.
    let (up, sender, _) = bus(
        with(
            "127.0.0.1",
            "sslmode=require&application_name=agentry_tls_a",
        ),
        Duration::from_secs(5),
    )
    .await;
    assert!(up, "sslmode=require connects");
    // (A bus whose sender is dropped stops: the server is shutting down.)
    let (up, _keep, received) = bus(
        with(
            "127.0.0.1",
            "sslmode=require&application_name=agentry_tls_b",
        ),
        Duration::from_secs(5),
    )
    .await;
    assert!(up);
    assert_eq!(encrypted(&admin, "agentry_tls_a"), Some(true));
    sender.send("hello over TLS".into()).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !received
        .lock()
        .unwrap()
        .iter()
        .any(|m| m == "hello over TLS")
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the message never came"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // disable: not encrypted.
    let (up, _, _) = bus(
        with(
            "127.0.0.1",
            "sslmode=disable&application_name=agentry_tls_plain",
        ),
        Duration::from_secs(5),
    )
    .await;
    assert!(up);
    assert_eq!(encrypted(&admin, "agentry_tls_plain"), Some(false));

    // verify-ca checks the chain, not the name; verify-full both.
    let root = format!("sslrootcert={SNAKEOIL}");
    let (up, _, _) = bus(
        with("127.0.0.1", &format!("sslmode=verify-ca&{root}")),
        Duration::from_secs(5),
    )
    .await;
    assert!(up, "verify-ca with the server's own certificate as root");
    let (up, _, _) = bus(
        with("localhost", &format!("sslmode=verify-full&{root}")),
        Duration::from_secs(5),
    )
    .await;
    assert!(up, "verify-full for the name the certificate carries");
    let (up, _, _) = bus(
        with("127.0.0.1", &format!("sslmode=verify-full&{root}")),
        Duration::from_secs(1),
    )
    .await;
    assert!(!up, "verify-full refuses a certificate for another name");
    let (up, _, _) = bus(
        with(
            "localhost",
            "sslmode=verify-full&sslrootcert=/etc/ssl/certs/ca-certificates.crt",
        ),
        Duration::from_secs(1),
    )
    .await;
    assert!(!up, "verify-full refuses a certificate no root signed");
}
