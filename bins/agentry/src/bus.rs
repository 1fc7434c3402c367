//! Wiring of the invalidation bus: PostgreSQL `LISTEN/NOTIFY` on PostgreSQL, Redis pub/sub
//! when `REDIS_URL` is set, nothing on SQLite (one process owns the file).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use agentry_app::App;
use agentry_domain::invalidation::{Invalidation, InvalidationBus};
use agentry_store::DatabaseUrl;
use tokio::sync::mpsc::UnboundedSender;

use crate::config::Config;

/// Queues encoded invalidations for the transport task.
struct ChannelBus {
    origin: String,
    outbox: UnboundedSender<String>,
    /// Set by the transport task while it is connected.
    up: Arc<AtomicBool>,
}

impl InvalidationBus for ChannelBus {
    fn publish(&self, event: &Invalidation) {
        // The task only stops when the server does; a message lost then is harmless (the
        // event log has it).
        let _ = self.outbox.send(event.encode(&self.origin));
    }

    fn connected(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }
}

/// Give `app` the bus the configuration asks for; starts its task on the current runtime.
pub fn attach(app: App, config: &Config) -> App {
    let slot: Arc<OnceLock<App>> = Arc::new(OnceLock::new());
    let receiver = Arc::clone(&slot);
    let deliver: Arc<dyn Fn(&str) + Send + Sync> = Arc::new(move |message: &str| {
        if let Some(app) = receiver.get() {
            app.receive_invalidation(message);
        }
    });
    let up = Arc::new(AtomicBool::new(false));
    let (outbox, transport) = match (&config.redis_url, &config.database) {
        (Some(redis), _) => (
            agentry_cache::redis_bus::spawn_redis_bus(
                redis.expose().to_owned(),
                deliver,
                Arc::clone(&up),
            ),
            "redis",
        ),
        (None, DatabaseUrl::Postgres(url)) => (
            agentry_store::notify::spawn_pg_bus(url.clone(), deliver, Arc::clone(&up)),
            "postgres",
        ),
        (None, DatabaseUrl::Sqlite(_)) => return app,
    };
    let bus = ChannelBus {
        origin: app.origin().to_owned(),
        outbox,
        up,
    };
    let app = app.with_bus(Arc::new(bus));
    let _ = slot.set(app.clone());
    tracing::info!(transport, "invalidation bus attached");
    app
}

/// Tell running instances that `user`'s access changed, from a process without a bus task
/// (`agentry admin promote`): one message on the transport the servers listen to.
pub fn announce(app: &App, config: &Config, user: agentry_domain::UserId) -> anyhow::Result<()> {
    let payload = Invalidation::User(user).encode(app.origin());
    match (&config.redis_url, &config.database) {
        (Some(redis), _) => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(agentry_cache::redis_bus::publish_once(
                redis.expose(),
                &payload,
            ))?;
        }
        (None, DatabaseUrl::Postgres(_)) => {
            let mut conn = app.pool().get()?;
            agentry_store::notify::notify_once(&mut conn, &payload)?;
        }
        (None, DatabaseUrl::Sqlite(_)) => {}
    }
    Ok(())
}
