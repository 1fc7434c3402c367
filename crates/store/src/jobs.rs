//! The durable job queue: jobs are enqueued in the same transaction as the write that causes
//! them, claimed with a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite serializes
//! writers), completed, retried with backoff, or kept as failed with their last error. A job
//! whose worker died is claimed again once its lease has expired.

use chrono::{Duration as ChronoDuration, NaiveDateTime};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Timestamp};

use crate::schema::jobs;
use crate::{AnyConnection, DbUuid, StoreError, per_backend};

#[derive(
    Debug, Clone, PartialEq, Queryable, QueryableByName, Selectable, Identifiable, Insertable,
)]
#[diesel(table_name = jobs)]
#[diesel(treat_none_as_default_value = false)]
pub struct JobRow {
    pub id: DbUuid,
    pub kind: String,
    pub dedupe_key: Option<String>,
    pub payload: String,
    pub status: String,
    pub run_at: NaiveDateTime,
    pub attempts: i32,
    pub max_attempts: i32,
    pub last_error: Option<String>,
    pub locked_until: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

pub const PENDING: &str = "pending";
pub const RUNNING: &str = "running";
pub const DONE: &str = "done";
pub const FAILED: &str = "failed";

/// A job to enqueue.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub kind: String,
    /// At most one pending job per (kind, key) when set.
    pub dedupe_key: Option<String>,
    pub payload: String,
    pub run_at: NaiveDateTime,
    pub max_attempts: i32,
}

/// Enqueue on `conn`, inside the caller's transaction when there is one. With a dedupe key
/// that already has a pending job, nothing is added and `None` is returned.
pub fn enqueue(
    conn: &mut AnyConnection,
    job: &NewJob,
    now: NaiveDateTime,
) -> Result<Option<DbUuid>, StoreError> {
    let row = JobRow {
        id: DbUuid::new(),
        kind: job.kind.clone(),
        dedupe_key: job.dedupe_key.clone(),
        payload: job.payload.clone(),
        status: PENDING.into(),
        run_at: job.run_at,
        attempts: 0,
        max_attempts: job.max_attempts.max(1),
        last_error: None,
        locked_until: None,
        created_at: now,
        updated_at: now,
    };
    // The partial unique index on pending (kind, key) decides races between enqueuers.
    let inserted = per_backend!(&mut *conn, |c| diesel::insert_into(jobs::table)
        .values(&row)
        .on_conflict_do_nothing()
        .execute(c))?;
    Ok((inserted == 1).then_some(row.id))
}

/// Claim up to `limit` due jobs of `kinds` (pending and due, or running with an expired
/// lease) for `lease`; each claim counts as an attempt (the claim's fencing token). A kind
/// this worker has no handler for stays for a worker that has one.
#[expect(
    clippy::arithmetic_side_effects,
    reason = "SQL expressions, computed by the database (which refuses an overflow)"
)]
pub fn claim(
    conn: &mut AnyConnection,
    limit: i64,
    kinds: &[&str],
    now: NaiveDateTime,
    lease: ChronoDuration,
) -> Result<Vec<JobRow>, StoreError> {
    if kinds.is_empty() || limit <= 0 {
        return Ok(Vec::new());
    }
    let due = jobs::status
        .eq(PENDING)
        .and(jobs::run_at.le(now))
        .or(jobs::status.eq(RUNNING).and(jobs::locked_until.lt(now)));
    let until = now.checked_add_signed(lease).unwrap_or(NaiveDateTime::MAX);
    let claim_ids = |ids: &[DbUuid], c: &mut AnyConnection| -> Result<Vec<JobRow>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        diesel::update(jobs::table.filter(jobs::id.eq_any(ids)))
            .set((
                jobs::status.eq(RUNNING),
                jobs::locked_until.eq(Some(until)),
                jobs::attempts.eq(jobs::attempts + 1),
                jobs::updated_at.eq(now),
            ))
            .execute(c)?;
        Ok(jobs::table
            .filter(jobs::id.eq_any(ids))
            .select(JobRow::as_select())
            .order(jobs::run_at)
            .load(c)?)
    };
    match conn {
        AnyConnection::Postgresql(_) => conn.transaction(|c| {
            let ids: Vec<DbUuid> = match c {
                AnyConnection::Postgresql(pg) => jobs::table
                    .filter(due)
                    .filter(jobs::kind.eq_any(kinds))
                    .select(jobs::id)
                    .order(jobs::run_at)
                    .limit(limit)
                    .for_update()
                    .skip_locked()
                    .load(pg)?,
                AnyConnection::Sqlite(_) => Vec::new(),
            };
            claim_ids(&ids, c)
        }),
        AnyConnection::Sqlite(lite) => {
            // One statement: SQLite runs it under its single write lock, so two claims cannot
            // pick the same job.
            let mut claimed: Vec<JobRow> = diesel::sql_query(
                "UPDATE jobs SET status = 'running', locked_until = ?, attempts = attempts + 1, \
                 updated_at = ? WHERE id IN (SELECT id FROM jobs WHERE ((status = 'pending' AND \
                 run_at <= ?) OR (status = 'running' AND locked_until < ?)) AND kind IN \
                 (SELECT value FROM json_each(?)) ORDER BY run_at LIMIT ?) RETURNING *",
            )
            .bind::<Timestamp, _>(until)
            .bind::<Timestamp, _>(now)
            .bind::<Timestamp, _>(now)
            .bind::<Timestamp, _>(now)
            .bind::<diesel::sql_types::Text, _>(
                serde_json::to_string(kinds)
                    .map_err(|error| diesel::result::Error::SerializationError(Box::new(error)))?,
            )
            .bind::<BigInt, _>(limit)
            .load(lite)?;
            claimed.sort_by_key(|job| job.run_at);
            Ok(claimed)
        }
    }
}

/// The claim `job` was read as, still held: running, with the attempt count (the fencing
/// token: each claim raises it) it was claimed with. A worker whose lease expired and whose
/// job was claimed again cannot record over the newer claim.
fn still_held(job: &JobRow) -> HeldClaim {
    jobs::table.find(job.id).filter(
        jobs::status
            .eq(RUNNING)
            .and(jobs::attempts.eq(job.attempts)),
    )
}

/// The query [`still_held`] builds.
type HeldClaim = diesel::dsl::Filter<
    diesel::dsl::Find<jobs::table, DbUuid>,
    diesel::dsl::And<
        diesel::dsl::Eq<jobs::status, &'static str>,
        diesel::dsl::Eq<jobs::attempts, i32>,
    >,
>;

/// The job ran: done. False when the claim was no longer held (a newer claim owns the job;
/// nothing is written).
pub fn complete(
    conn: &mut AnyConnection,
    job: &JobRow,
    now: NaiveDateTime,
) -> Result<bool, StoreError> {
    let changed = diesel::update(still_held(job))
        .set((
            jobs::status.eq(DONE),
            jobs::locked_until.eq(None::<NaiveDateTime>),
            jobs::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(changed == 1)
}

/// The job failed: pending again at `retry_at`, or failed for good when out of attempts.
/// False when the claim was no longer held, as [`complete`].
pub fn fail(
    conn: &mut AnyConnection,
    job: &JobRow,
    error: &str,
    retry_at: NaiveDateTime,
    now: NaiveDateTime,
) -> Result<bool, StoreError> {
    let status = if job.attempts >= job.max_attempts {
        FAILED
    } else {
        PENDING
    };
    let changed = diesel::update(still_held(job))
        .set((
            jobs::status.eq(status),
            jobs::run_at.eq(retry_at),
            jobs::last_error.eq(Some(error)),
            jobs::locked_until.eq(None::<NaiveDateTime>),
            jobs::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(changed == 1)
}

/// Delete the jobs that finished (done or failed) before `before`; the number deleted. One
/// statement.
pub fn prune_finished(
    conn: &mut AnyConnection,
    before: NaiveDateTime,
) -> Result<usize, StoreError> {
    Ok(diesel::delete(
        jobs::table
            .filter(jobs::status.eq_any([DONE, FAILED]))
            .filter(jobs::updated_at.lt(before)),
    )
    .execute(conn)?)
}

pub fn find_job(conn: &mut AnyConnection, id: DbUuid) -> Result<Option<JobRow>, StoreError> {
    Ok(jobs::table
        .find(id)
        .select(JobRow::as_select())
        .first(conn)
        .optional()?)
}

/// The most recent job of `kind` with `key` (what happened to it: status, attempts, error).
pub fn latest_with_key(
    conn: &mut AnyConnection,
    kind: &str,
    key: &str,
) -> Result<Option<JobRow>, StoreError> {
    Ok(jobs::table
        .filter(jobs::kind.eq(kind))
        .filter(jobs::dedupe_key.eq(key))
        .select(JobRow::as_select())
        .order(jobs::created_at.desc())
        .first(conn)
        .optional()?)
}
