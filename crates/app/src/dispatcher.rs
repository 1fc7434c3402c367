//! Each instance's dispatcher: it tails the event log from its cursor and applies each event
//! another instance wrote to this instance's read models (the writer applied its own at
//! commit). The bus (PostgreSQL `LISTEN/NOTIFY`, Redis) only wakes it; without a wake-up it
//! reads the log every poll interval anyway, so a lost message, a cut connection or a crash
//! between commit and publish delays a change by at most that interval and loses nothing.
//!
//! The log is read in the order events become readable ([`agentry_store::events::read_after`]):
//! an event whose transaction commits after a newer id is read, never skipped.

use std::sync::Arc;
use std::time::Duration;

use agentry_store::Uow;
use agentry_store::events::{self, Cursor};

use crate::{App, AppError, stale};

/// How often the log is read when no wake-up came (`AGENTRY_EVENT_POLL`).
pub const DEFAULT_POLL: Duration = Duration::from_millis(250);

/// Events read per statement.
const BATCH: i64 = 500;

/// Reads the log and applies it, from where it stands.
pub struct Dispatcher {
    app: App,
    cursor: Cursor,
    poll: Duration,
}

impl Dispatcher {
    /// A dispatcher at the head of the log (one statement): what came before is already in
    /// the database this instance's read models will read.
    pub fn at_head(app: &App, poll: Duration) -> Result<Self, AppError> {
        let cursor = events::head(Uow::new(app.pool()).conn()?)?;
        Ok(Self {
            app: app.clone(),
            cursor,
            poll,
        })
    }

    /// The last event read.
    pub fn cursor(&self) -> Cursor {
        self.cursor
    }

    /// Read and apply everything readable after the cursor; the number of events applied
    /// (another instance's, that this version can read).
    pub async fn catch_up(&mut self) -> Result<usize, AppError> {
        let mut applied = 0_usize;
        loop {
            let cursor = self.cursor;
            let rows = self
                .app
                .run(move |_, uow| Ok(events::read_after(uow.conn()?, cursor, BATCH)?))
                .await?;
            let full = rows.len() >= BATCH as usize;
            for row in rows {
                self.cursor = row.cursor();
                if row.origin == self.app.origin() {
                    continue;
                }
                match row.event() {
                    Some(event) => {
                        for key in stale(&event) {
                            self.app.apply_invalidation(&key);
                        }
                        applied = applied.saturating_add(1);
                    }
                    // Written by another version: its read models are not this one's.
                    None => tracing::warn!(
                        id = row.id,
                        kind = %row.kind,
                        "skipped an event this version cannot read"
                    ),
                }
            }
            if !full {
                return Ok(applied);
            }
        }
    }

    /// Forever: wait for a wake-up or the poll interval, then catch up. A database outage
    /// stops the cursor, not the server; it resumes when the database answers.
    pub async fn run(mut self) {
        let wake = Arc::clone(&self.app.wake);
        loop {
            let _woken = tokio::time::timeout(self.poll, wake.notified()).await;
            if let Err(error) = self.catch_up().await {
                tracing::warn!(%error, "the event log could not be read; retrying");
            }
        }
    }
}
