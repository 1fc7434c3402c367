//! The job runner: claims due jobs with a lease, runs each kind's handler, records success,
//! retries failures with exponential backoff and jitter, and keeps jobs that ran out of
//! attempts as failed with their last error. A job whose worker died (kill -9) is claimed
//! again when its lease expires, so a job runs at least once and handlers must be idempotent.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use agentry_store::jobs::{self, JobRow, NewJob};
use agentry_store::{AnyConnection, DbUuid, Uow};
use chrono::{Duration as ChronoDuration, NaiveDateTime};

use crate::session::{naive_of, now_epoch};
use crate::{App, AppError};

/// Background jobs, queued in the write that needs them. A view of the application's
/// [`Context`](crate::Context), taken with [`App::jobs`](crate::App::jobs).
#[derive(Clone, Copy)]
pub struct Jobs<'a> {
    pub(crate) app: &'a App,
}

pub type JobFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;
/// Runs one job; `Err` carries the message kept as the job's last error.
pub type JobHandler = Arc<dyn Fn(JobRow) -> JobFuture + Send + Sync>;

#[derive(Debug, Clone)]
pub struct RunnerOptions {
    /// How long a claimed job is reserved for its worker.
    pub lease: Duration,
    /// Jobs claimed at a time.
    pub batch: i64,
    /// Jobs of one kind running at once in this process: a slow kind never holds up another.
    pub per_kind: usize,
    /// Sleep between claims when nothing is due.
    pub idle: Duration,
    /// First retry delay; doubled per attempt, with ±25 % jitter, up to `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RunnerOptions {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(300),
            batch: 16,
            per_kind: 4,
            idle: Duration::from_millis(500),
            backoff: Duration::from_secs(5),
            max_backoff: Duration::from_secs(3600),
        }
    }
}

/// The delay before retry number `attempts` (1 after the first failure).
pub fn backoff(options: &RunnerOptions, attempts: i32) -> Duration {
    let exponent = attempts.clamp(1, 30).unsigned_abs().saturating_sub(1);
    let base = options
        .backoff
        .saturating_mul(2u32.saturating_pow(exponent))
        .min(options.max_backoff);
    let jitter = 0.75 + rand::random::<f64>() * 0.5;
    base.mul_f64(jitter)
}

impl Jobs<'_> {
    /// Enqueue a job on `conn`, in the caller's transaction when there is one, so the job
    /// exists exactly when the write that causes it does.
    pub fn enqueue(conn: &mut AnyConnection, job: &NewJob) -> Result<Option<DbUuid>, AppError> {
        Ok(jobs::enqueue(conn, job, naive_of(now_epoch()))?)
    }

    /// Enqueue as a unit of work of its own (a detached task's, say).
    pub fn enqueue_now(&self, job: &NewJob) -> Result<Option<DbUuid>, AppError> {
        let mut uow = Uow::new(&self.app.pool);
        Self::enqueue(uow.conn()?, job)
    }
}

/// Runs jobs for the kinds it has handlers for. Each module that owns a kind of job gives
/// its handlers (`Payments::job_handlers`, `dispatcher::job_handlers`); the server adds them.
#[derive(Clone)]
pub struct JobRunner {
    app: App,
    handlers: Arc<HashMap<String, JobHandler>>,
    options: RunnerOptions,
}

impl JobRunner {
    pub fn new(app: App, options: RunnerOptions) -> Self {
        Self {
            app,
            handlers: Arc::new(HashMap::new()),
            options,
        }
    }

    pub fn handle(mut self, kind: &str, handler: JobHandler) -> Self {
        Arc::make_mut(&mut self.handlers).insert(kind.to_owned(), handler);
        self
    }

    /// Add a module's handlers.
    pub fn handle_all(
        self,
        handlers: impl IntoIterator<Item = (&'static str, JobHandler)>,
    ) -> Self {
        handlers
            .into_iter()
            .fold(self, |runner, (kind, handler)| runner.handle(kind, handler))
    }

    /// Claim up to `limit` due jobs of `kinds` (one statement).
    async fn claim(&self, limit: i64, kinds: Vec<String>) -> Result<Vec<JobRow>, AppError> {
        let lease = self.options.lease;
        self.app
            .run(move |_, uow| -> Result<Vec<JobRow>, AppError> {
                let conn = uow.conn()?;
                let lease = ChronoDuration::from_std(lease).unwrap_or(ChronoDuration::minutes(5));
                let kinds: Vec<&str> = kinds.iter().map(String::as_str).collect();
                Ok(jobs::claim(
                    conn,
                    limit,
                    &kinds,
                    naive_of(now_epoch()),
                    lease,
                )?)
            })
            .await
    }

    /// Run one claimed job and record its outcome.
    async fn execute(&self, job: JobRow) -> Result<(), AppError> {
        let outcome = match self.handlers.get(&job.kind).cloned() {
            Some(handler) => handler(job.clone()).await,
            None => Err(format!("no handler for job kind `{}`", job.kind)),
        };
        self.record(job, outcome).await
    }

    /// Claim one batch of every kind it handles, run it (concurrently) and record each
    /// outcome; the number of jobs run. For tests and tools: [`JobRunner::run`] never waits
    /// for a batch.
    pub async fn run_once(&self) -> Result<usize, AppError> {
        let kinds: Vec<String> = self.handlers.keys().cloned().collect();
        let claimed = self.claim(self.options.batch, kinds).await?;
        let count = claimed.len();
        let running: Vec<_> = claimed
            .into_iter()
            .map(|job| {
                let runner = self.clone();
                tokio::spawn(async move { runner.execute(job).await })
            })
            .collect();
        for task in running {
            task.await
                .map_err(|error| AppError::Internal(error.to_string()))??;
        }
        Ok(count)
    }

    async fn record(&self, job: JobRow, outcome: Result<(), String>) -> Result<(), AppError> {
        let delay = backoff(&self.options, job.attempts);
        self.app.run(move |_, uow| -> Result<(), AppError> {
            let conn = uow.conn()?;
            let now = naive_of(now_epoch());
            let held = match outcome {
                Ok(()) => jobs::complete(conn, &job, now)?,
                Err(error) => {
                    tracing::warn!(kind = %job.kind, attempts = job.attempts, %error, "job failed");
                    let retry_at = now
                        .checked_add_signed(ChronoDuration::from_std(delay).unwrap_or_default())
                        .unwrap_or(NaiveDateTime::MAX);
                    jobs::fail(conn, &job, &error, retry_at, now)?
                }
            };
            if !held {
                tracing::warn!(
                    kind = %job.kind,
                    id = %job.id.0,
                    attempts = job.attempts,
                    "a job outlived its lease and was claimed again: its outcome is not recorded"
                );
            }
            Ok(())
        })
        .await
    }

    /// Run until `stop` turns true. It claims whenever a kind has a free slot (at most
    /// `per_kind` jobs of a kind at once, each claim at most `batch` and at most the smallest
    /// free count), without waiting for the jobs before; jobs already claimed finish first
    /// (graceful shutdown).
    pub async fn run(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let running: Arc<std::sync::Mutex<HashMap<String, usize>>> = Arc::default();
        let freed = Arc::new(tokio::sync::Notify::new());
        let mut tasks = tokio::task::JoinSet::new();
        while !*stop.borrow() {
            while let Some(finished) = tasks.try_join_next() {
                if let Err(error) = finished {
                    tracing::error!(%error, "a job task stopped abnormally");
                }
            }
            let (kinds, limit) = self.free_slots(&running);
            let claimed = match kinds.is_empty() {
                true => Ok(Vec::new()),
                false => self.claim(limit, kinds).await,
            };
            match claimed {
                Ok(jobs) if !jobs.is_empty() => {
                    for job in jobs {
                        let kind = job.kind.clone();
                        add(&running, &kind, true);
                        let (runner, running, freed) =
                            (self.clone(), Arc::clone(&running), Arc::clone(&freed));
                        tasks.spawn(async move {
                            // The slot is given back however the task ends, a panicking
                            // handler included.
                            let _slot = Slot {
                                running,
                                kind,
                                freed,
                            };
                            if let Err(error) = runner.execute(job).await {
                                tracing::warn!(%error, "a job's outcome could not be recorded");
                            }
                        });
                    }
                    continue;
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "job runner could not claim jobs"),
            }
            tokio::select! {
                _ = tokio::time::sleep(self.options.idle) => {}
                _ = freed.notified() => {}
                _ = stop.changed() => {}
            }
        }
        while let Some(finished) = tasks.join_next().await {
            if let Err(error) = finished {
                tracing::error!(%error, "a job task stopped abnormally");
            }
        }
    }

    /// The kinds with a free slot, and how many jobs one claim may take.
    fn free_slots(&self, running: &std::sync::Mutex<HashMap<String, usize>>) -> (Vec<String>, i64) {
        let running = running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let free: Vec<(String, usize)> = self
            .handlers
            .keys()
            .map(|kind| {
                let busy = running.get(kind).copied().unwrap_or(0);
                (kind.clone(), self.options.per_kind.saturating_sub(busy))
            })
            .filter(|(_, free)| *free > 0)
            .collect();
        let smallest = free.iter().map(|(_, free)| *free).min().unwrap_or(0);
        let limit = i64::try_from(smallest)
            .unwrap_or(i64::MAX)
            .min(self.options.batch);
        (free.into_iter().map(|(kind, _)| kind).collect(), limit)
    }
}

/// A running job's slot of its kind, given back when dropped.
struct Slot {
    running: Arc<std::sync::Mutex<HashMap<String, usize>>>,
    kind: String,
    freed: Arc<tokio::sync::Notify>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        add(&self.running, &self.kind, false);
        self.freed.notify_one();
    }
}

/// Count a job of `kind` starting (`true`) or ending.
fn add(running: &std::sync::Mutex<HashMap<String, usize>>, kind: &str, starting: bool) {
    let mut running = running
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let count = running.entry(kind.to_owned()).or_default();
    *count = if starting {
        count.saturating_add(1)
    } else {
        count.saturating_sub(1)
    };
}
