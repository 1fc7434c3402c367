//! The invalidation bus over PostgreSQL `LISTEN/NOTIFY`: one dedicated connection per
//! instance (tokio-postgres) that both listens and sends, reconnecting with backoff. After a
//! reconnect every cache is invalidated, since messages may have been missed meanwhile.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use agentry_domain::invalidation::Backoff;
use futures_util::StreamExt;
use futures_util::stream::poll_fn;
use postgres_rustls::MakeTlsConnector;
use tokio::sync::mpsc;
use tokio_postgres::AsyncMessage;

/// The `NOTIFY` channel every instance listens on.
pub const CHANNEL: &str = "agentry_invalidation";

/// Send one message on the channel from a pooled connection (a process without a bus task,
/// such as `agentry admin`). A no-op on SQLite, which has no channel.
pub fn notify_once(
    conn: &mut crate::AnyConnection,
    payload: &str,
) -> Result<(), crate::StoreError> {
    use diesel::RunQueryDsl;
    use diesel::sql_types::Text;
    if let crate::AnyConnection::Postgresql(pg) = conn {
        diesel::sql_query("SELECT pg_notify($1, $2)")
            .bind::<Text, _>(CHANNEL)
            .bind::<Text, _>(payload)
            .execute(pg)?;
    }
    Ok(())
}

/// Start the bus task on the current tokio runtime. Messages sent on the returned sender go
/// to every other listener; `deliver` receives every message from the channel (its own
/// included, which the caller filters by origin), and `"reconnected"` after a reconnect.
/// `up` says whether the listener is connected now. The connection uses the pool's URL with
/// its TLS settings ([`crate::pg_tls`]); after a failure it reconnects after 100 ms, doubling
/// to 5 s while it keeps failing, and from 100 ms again once it has been up.
pub fn spawn_pg_bus(
    url: String,
    deliver: Arc<dyn Fn(&str) + Send + Sync>,
    up: Arc<AtomicBool>,
) -> mpsc::UnboundedSender<String> {
    let (outbox, mut queued) = mpsc::unbounded_channel::<String>();
    tokio::spawn(async move {
        let (url, tls) = match crate::pg_tls::listener(&url) {
            Ok(target) => target,
            Err(error) => {
                tracing::error!(%error, "invalidation bus (PostgreSQL): bad TLS settings; not listening");
                return;
            }
        };
        let mut backoff = Backoff::new();
        let mut first = true;
        loop {
            match run(&url, tls.clone(), &mut queued, &deliver, first, &up).await {
                Ok(()) => return, // every sender is gone: the server is shutting down
                Err(error) => {
                    tracing::warn!(%error, "invalidation bus (PostgreSQL) lost; reconnecting");
                }
            }
            // A connection that was up starts the backoff over.
            let was_up = up.swap(false, Ordering::Relaxed);
            first = false;
            tokio::time::sleep(backoff.next(was_up)).await;
        }
    });
    outbox
}

async fn run(
    url: &str,
    tls: MakeTlsConnector,
    queued: &mut mpsc::UnboundedReceiver<String>,
    deliver: &Arc<dyn Fn(&str) + Send + Sync>,
    first: bool,
    up: &AtomicBool,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = tokio_postgres::connect(url, tls).await?;
    let (notices, mut received) = mpsc::unbounded_channel::<String>();
    let driver = tokio::spawn(async move {
        let mut messages = poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(note)) => {
                    if notices.send(note.payload().to_owned()).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "invalidation bus connection failed");
                    break;
                }
            }
        }
    });
    client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
    up.store(true, Ordering::Relaxed);
    if !first {
        deliver("reconnected");
    }
    let result = loop {
        tokio::select! {
            outgoing = queued.recv() => match outgoing {
                Some(payload) => {
                    if let Err(error) = client.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &payload]).await {
                        break Err(error);
                    }
                }
                None => break Ok(()),
            },
            incoming = received.recv() => match incoming {
                Some(payload) => deliver(&payload),
                // The connection ended: reconnect.
                None => match client.batch_execute("SELECT 1").await {
                    Ok(()) => break Ok(()),
                    Err(error) => break Err(error),
                },
            },
        }
    };
    driver.abort();
    result
}
