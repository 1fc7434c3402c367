//! The invalidation bus over Redis pub/sub (when `REDIS_URL` is set): a subscriber
//! connection and a publishing connection, reconnecting with backoff; after a reconnect every
//! cache is invalidated, since messages may have been missed meanwhile.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use agentry_domain::invalidation::Backoff;
use futures_util::StreamExt;
use tokio::sync::mpsc;

/// The pub/sub channel every instance subscribes to.
pub const CHANNEL: &str = "agentry:invalidation";

/// Start the bus task on the current tokio runtime; see `agentry_store::notify::spawn_pg_bus`
/// for the contract (the same one).
pub fn spawn_redis_bus(
    url: String,
    deliver: Arc<dyn Fn(&str) + Send + Sync>,
    up: Arc<AtomicBool>,
) -> mpsc::UnboundedSender<String> {
    let (outbox, mut queued) = mpsc::unbounded_channel::<String>();
    tokio::spawn(async move {
        let mut backoff = Backoff::new();
        let mut first = true;
        loop {
            match run(&url, &mut queued, &deliver, first, &up).await {
                Ok(()) => return,
                Err(error) => tracing::warn!(%error, "invalidation bus (Redis) lost; reconnecting"),
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
    queued: &mut mpsc::UnboundedReceiver<String>,
    deliver: &Arc<dyn Fn(&str) + Send + Sync>,
    first: bool,
    up: &AtomicBool,
) -> redis::RedisResult<()> {
    let client = redis::Client::open(url)?;
    let mut publisher = client.get_multiplexed_async_connection().await?;
    let mut subscriber = client.get_async_pubsub().await?;
    subscriber.subscribe(CHANNEL).await?;
    up.store(true, Ordering::Relaxed);
    if !first {
        deliver("reconnected");
    }
    let mut messages = subscriber.on_message();
    loop {
        tokio::select! {
            outgoing = queued.recv() => match outgoing {
                Some(payload) => {
                    redis::cmd("PUBLISH").arg(CHANNEL).arg(payload).query_async::<()>(&mut publisher).await?;
                }
                None => return Ok(()),
            },
            incoming = messages.next() => match incoming {
                Some(message) => {
                    if let Ok(payload) = message.get_payload::<String>() {
                        deliver(&payload);
                    }
                }
                None => {
                    return Err(redis::RedisError::from((redis::ErrorKind::IoError, "subscription ended")));
                }
            },
        }
    }
}

/// Publish one message on the channel and return (a process without a bus task, such as
/// `agentry admin`).
pub async fn publish_once(url: &str, payload: &str) -> redis::RedisResult<()> {
    let client = redis::Client::open(url)?;
    let mut connection = client.get_multiplexed_async_connection().await?;
    redis::cmd("PUBLISH")
        .arg(CHANNEL)
        .arg(payload)
        .query_async::<()>(&mut connection)
        .await
}
