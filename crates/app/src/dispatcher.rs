//! Each instance's dispatcher: it tails the event log from its cursor and applies each event
//! another instance wrote to this instance's read models (the writer applied its own at
//! commit). The bus (PostgreSQL `LISTEN/NOTIFY`, Redis) only wakes it; without a wake-up it
//! reads the log every poll interval anyway, so a lost message, a cut connection or a crash
//! between commit and publish delays a change by at most that interval and loses nothing.
//!
//! The log is read in the order events become readable ([`agentry_store::events::read_after`]):
//! an event whose transaction commits after a newer id is read, never skipped.

use std::sync::Arc;
use std::time::{Duration, Instant};

use agentry_domain::invalidation::Invalidation;
use agentry_store::events::{self, Cursor};
use agentry_store::jobs::NewJob;
use agentry_store::{AnyConnection, Uow};

use crate::jobs::{JobHandler, Jobs};
use crate::session::{naive_of, now_epoch};
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
    /// A dispatcher at the head of the log (two statements, [`events::head`]): what came
    /// before is already in the database this instance's read models will read.
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
            let read = self
                .app
                .run(move |_, uow| {
                    let conn = uow.conn()?;
                    let rows = events::read_after(conn, cursor, BATCH)?;
                    // Retention deleted events this reader had not read: it cannot know
                    // what they changed. Asked after the read, so a prune that commits
                    // between the two statements is seen too (the rows may miss what it
                    // deleted).
                    if events::horizon(conn)?.is_some_and(|horizon| horizon > cursor) {
                        return Ok(Err(events::head(conn)?));
                    }
                    Ok(Ok(rows))
                })
                .await?;
            let rows = match read {
                Ok(rows) => rows,
                Err(head) => {
                    tracing::warn!(
                        ?cursor,
                        ?head,
                        "the event log was pruned past this instance's cursor: dropping every \
                         read model and resuming at the head"
                    );
                    self.app.apply_invalidation(&Invalidation::All);
                    self.cursor = head;
                    return Ok(applied);
                }
            };
            let full = rows.len() >= BATCH as usize;
            let mut unreadable = false;
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
                    // Written by another version: what it made stale is unknown here, so
                    // every read model is dropped (once per batch), and it is read past.
                    None => {
                        tracing::warn!(
                            id = row.id,
                            kind = %row.kind,
                            "an event this version cannot read: dropping every read model"
                        );
                        unreadable = true;
                    }
                }
            }
            if std::mem::take(&mut unreadable) {
                self.app.apply_invalidation(&Invalidation::All);
            }
            if !full {
                return Ok(applied);
            }
        }
    }

    /// Forever: wait for a wake-up or the poll interval, then catch up. A database outage
    /// stops the cursor, not the server; it resumes when the database answers.
    ///
    /// A wake-up that finds nothing readable means another instance's commit is held back
    /// by a transaction still running (on PostgreSQL the log is read only below the oldest
    /// one): the dispatcher looks again after 5, 10, 20... ms (up to 160 ms, and never past
    /// the poll) instead of a whole poll later, and warns (at most once a minute) when the log
    /// is still held back after that.
    pub async fn run(mut self) {
        let wake = Arc::clone(&self.app.wake);
        let mut warned: Option<Instant> = None;
        loop {
            let woken = tokio::time::timeout(self.poll, wake.notified())
                .await
                .is_ok();
            let before = self.cursor;
            self.read().await;
            if !woken || self.cursor != before {
                continue;
            }
            let mut delay = FIRST_RETRY;
            while self.cursor == before && delay < self.poll.min(RETRY_WINDOW) {
                tokio::time::sleep(delay).await;
                self.read().await;
                delay = delay.saturating_mul(2);
            }
            if self.cursor == before
                && warned.is_none_or(|at| at.elapsed() >= STALL_WARNING_EVERY)
                && self.held_back().await
            {
                tracing::warn!(
                    cursor = ?self.cursor,
                    "the event log is held back by a long transaction on the database: \
                     other instances' changes reach this one only after it ends"
                );
                warned = Some(Instant::now());
            }
        }
    }

    /// Catch up, logging a failure.
    async fn read(&mut self) {
        if let Err(error) = self.catch_up().await {
            tracing::warn!(%error, "the event log could not be read; retrying");
        }
    }

    /// Whether events are stored past the cursor that the reader may not read yet.
    async fn held_back(&self) -> bool {
        let cursor = self.cursor;
        self.app
            .run(move |_, uow| Ok(events::stored_after(uow.conn()?, cursor)?))
            .await
            .unwrap_or(false)
    }
}

/// The first re-read after a wake-up that found nothing readable.
const FIRST_RETRY: Duration = Duration::from_millis(5);

/// The re-reads stop before this (5 + 10 + ... + 160 ms), or before the poll if shorter.
const RETRY_WINDOW: Duration = Duration::from_millis(320);

/// How often a log held back is reported.
const STALL_WARNING_EVERY: Duration = Duration::from_secs(60);

/// The job kind that prunes the log.
pub const PRUNE_JOB: &str = "events.prune";

/// How long events are kept (`AGENTRY_EVENT_RETENTION`).
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(7 * 86_400);

/// How often the prune job runs.
pub const PRUNE_EVERY: Duration = Duration::from_secs(3_600);

/// Delete the events older than `retention` (one transaction), and the jobs that finished
/// (done or failed) before then (one statement); the number of events deleted. A reader
/// whose cursor was among them drops its read models and resumes at the head
/// ([`Dispatcher::catch_up`]).
pub fn prune(uow: &mut Uow<'_>, retention: Duration) -> Result<usize, AppError> {
    let now = naive_of(now_epoch());
    let before = chrono::Duration::from_std(retention)
        .ok()
        .and_then(|age| now.checked_sub_signed(age))
        .unwrap_or(chrono::NaiveDateTime::MIN);
    let conn = uow.conn()?;
    let deleted = events::prune(conn, before, now)?;
    agentry_store::jobs::prune_finished(conn, before)?;
    Ok(deleted)
}

/// Queue the next prune run `after` from now: at most one is pending across instances.
pub fn schedule_prune(conn: &mut AnyConnection, after: Duration) -> Result<(), AppError> {
    let now = naive_of(now_epoch());
    let run_at = chrono::Duration::from_std(after)
        .ok()
        .and_then(|delay| now.checked_add_signed(delay))
        .unwrap_or(now);
    Jobs::enqueue(
        conn,
        &NewJob {
            kind: PRUNE_JOB.to_owned(),
            dedupe_key: Some(PRUNE_JOB.to_owned()),
            payload: "{}".to_owned(),
            run_at,
            max_attempts: 3,
        },
    )?;
    Ok(())
}

/// The log's job handlers, for the job runner (the server queues the first prune at startup).
pub fn job_handlers(app: &App, retention: Duration) -> Vec<(&'static str, JobHandler)> {
    vec![(PRUNE_JOB, prune_handler(app.clone(), retention))]
}

/// The prune job: prune the log and the finished jobs, then queue the next run in
/// [`PRUNE_EVERY`].
pub fn prune_handler(app: App, retention: Duration) -> JobHandler {
    Arc::new(move |_job| {
        let app = app.clone();
        Box::pin(async move {
            let pruned = app
                .run(move |_, uow| {
                    // The next run is queued first, so a failing prune never ends the chain.
                    // Until it is queued a failure is the job's (retried); after, the prune's
                    // own failure is left to that next run (a retry of this one could not be
                    // pending beside it).
                    schedule_prune(uow.conn()?, PRUNE_EVERY)?;
                    Ok(prune(uow, retention))
                })
                .await
                .map_err(|error| error.to_string())?;
            match pruned {
                Ok(0) => {}
                Ok(deleted) => tracing::info!(deleted, "pruned the event log"),
                Err(error) => tracing::warn!(
                    %error,
                    "the event log was not pruned; the next run, already queued, tries again"
                ),
            }
            Ok(())
        })
    })
}
