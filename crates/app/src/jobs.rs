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

/// Runs jobs for the kinds it has handlers for.
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

    /// Claim one batch, run it (concurrently), record each outcome; the number of jobs run.
    pub async fn run_once(&self) -> Result<usize, AppError> {
        let (batch, lease) = (self.options.batch, self.options.lease);
        let claimed = self
            .app
            .run(move |_, uow| -> Result<Vec<JobRow>, AppError> {
                let conn = uow.conn()?;
                let lease = ChronoDuration::from_std(lease).unwrap_or(ChronoDuration::minutes(5));
                Ok(jobs::claim(conn, batch, naive_of(now_epoch()), lease)?)
            })
            .await?;
        let count = claimed.len();
        let mut running = Vec::with_capacity(count);
        for job in claimed {
            let handler = self.handlers.get(&job.kind).cloned();
            let runner = self.clone();
            running.push(tokio::spawn(async move {
                let outcome = match handler {
                    Some(handler) => handler(job.clone()).await,
                    None => Err(format!("no handler for job kind `{}`", job.kind)),
                };
                runner.record(job, outcome).await
            }));
        }
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
            match outcome {
                Ok(()) => jobs::complete(conn, job.id, now)?,
                Err(error) => {
                    tracing::warn!(kind = %job.kind, attempts = job.attempts, %error, "job failed");
                    let retry_at = now
                        .checked_add_signed(ChronoDuration::from_std(delay).unwrap_or_default())
                        .unwrap_or(NaiveDateTime::MAX);
                    jobs::fail(conn, &job, &error, retry_at, now)?;
                }
            }
            Ok(())
        })
        .await
    }

    /// Run until `stop` turns true; jobs already claimed finish first (graceful shutdown).
    pub async fn run(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        while !*stop.borrow() {
            let idle = match self.run_once().await {
                Ok(0) => true,
                Ok(_) => false,
                Err(error) => {
                    tracing::warn!(%error, "job runner could not claim jobs");
                    true
                }
            };
            if idle {
                tokio::select! {
                    _ = tokio::time::sleep(self.options.idle) => {}
                    _ = stop.changed() => {}
                }
            }
        }
    }
}
