//! The durable job runner on both backends: transactional enqueue, dedupe, retries with
#![expect(clippy::unwrap_used, reason = "helpers of a test crate")]
//! backoff, running out of attempts, a killed worker's lease, and two runners never running
//! the same job.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentry_app::jobs::{JobHandler, JobRunner, RunnerOptions, backoff};
use agentry_app::{App, AppError, Settings};
use agentry_store::jobs::{self, DONE, FAILED, NewJob};
use agentry_store::{AnyConnection, DbUuid};
use agentry_test_support::{TestDb, app_tests};
use chrono::Utc;
use diesel::Connection;

fn app(db: &TestDb) -> App {
    App::new(db.pool().0, Settings::for_tests())
}

fn job(kind: &str, key: Option<&str>, max_attempts: i32) -> NewJob {
    NewJob {
        kind: kind.into(),
        dedupe_key: key.map(Into::into),
        payload: "{}".into(),
        run_at: Utc::now().naive_utc(),
        max_attempts,
    }
}

fn fast() -> RunnerOptions {
    RunnerOptions {
        lease: Duration::from_secs(60),
        batch: 8,
        per_kind: 8,
        idle: Duration::from_millis(5),
        backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(4),
    }
}

fn find(db: &TestDb, id: DbUuid) -> jobs::JobRow {
    jobs::find_job(&mut db.connect(), id).unwrap().unwrap()
}

/// A handler that fails its first `failures` runs, counting runs per job id.
fn flaky(failures: usize, runs: Arc<Mutex<HashMap<DbUuid, usize>>>) -> JobHandler {
    Arc::new(move |job| {
        let runs = Arc::clone(&runs);
        Box::pin(async move {
            let mut runs = runs.lock().unwrap();
            let n = runs.entry(job.id).or_default();
            *n += 1;
            if *n <= failures {
                Err(format!("failure {n}"))
            } else {
                Ok(())
            }
        })
    })
}

async fn drain(runner: &JobRunner, rounds: usize) {
    for _ in 0..rounds {
        runner.run_once().await.unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

app_tests! {
    async fn jobs_exist_exactly_when_their_transaction_commits(db) {
        let app = app(&db);
        let mut conn = db.connect();
        let rolled_back: Result<(), AppError> = conn.transaction(|c: &mut AnyConnection| {
            agentry_app::jobs::Jobs::enqueue(c, &job("mail", None, 3))?;
            Err(AppError::BadRequest("the write failed".into()))
        });
        assert!(rolled_back.is_err());
        let runs = Arc::new(Mutex::new(HashMap::new()));
        let runner = JobRunner::new(app.clone(), fast()).handle("mail", flaky(0, Arc::clone(&runs)));
        assert_eq!(runner.run_once().await.unwrap(), 0, "nothing was enqueued");

        let id = conn.transaction(|c: &mut AnyConnection| agentry_app::jobs::Jobs::enqueue(c, &job("mail", None, 3))).unwrap().unwrap();
        assert_eq!(runner.run_once().await.unwrap(), 1);
        let done = find(&db, id);
        assert_eq!((done.status.as_str(), done.attempts), (DONE, 1));
        assert_eq!(runner.run_once().await.unwrap(), 0, "a done job does not run again");
    }

    async fn one_pending_job_per_kind_and_key(db) {
        let app = app(&db);
        let first = app.jobs().enqueue_now(&job("sync", Some("user-1"), 3)).unwrap();
        assert!(first.is_some());
        assert_eq!(app.jobs().enqueue_now(&job("sync", Some("user-1"), 3)).unwrap(), None);
        assert!(app.jobs().enqueue_now(&job("sync", Some("user-2"), 3)).unwrap().is_some());
        assert!(app.jobs().enqueue_now(&job("other", Some("user-1"), 3)).unwrap().is_some());
        // Once the first has run, the key is free again.
        let runner = JobRunner::new(app.clone(), fast())
            .handle("sync", flaky(0, Arc::default()))
            .handle("other", flaky(0, Arc::default()));
        drain(&runner, 1).await;
        assert!(app.jobs().enqueue_now(&job("sync", Some("user-1"), 3)).unwrap().is_some());
    }

    async fn failures_retry_with_backoff_until_they_succeed_or_run_out(db) {
        let app = app(&db);
        let runs = Arc::new(Mutex::new(HashMap::new()));
        let runner = JobRunner::new(app.clone(), fast()).handle("flaky", flaky(2, Arc::clone(&runs)));
        let recovers = app.jobs().enqueue_now(&job("flaky", None, 5)).unwrap().unwrap();
        let gives_up = app.jobs().enqueue_now(&job("flaky", None, 2)).unwrap().unwrap();
        let unknown = app.jobs().enqueue_now(&job("nobody-handles-this", None, 1)).unwrap().unwrap();
        drain(&runner, 8).await;

        let recovered = find(&db, recovers);
        assert_eq!((recovered.status.as_str(), recovered.attempts), (DONE, 3));
        assert_eq!(recovered.last_error.as_deref(), Some("failure 2"));
        let failed = find(&db, gives_up);
        assert_eq!((failed.status.as_str(), failed.attempts), (FAILED, 2));
        assert_eq!(failed.last_error.as_deref(), Some("failure 2"));
        // A kind this runner has no handler for is left for a worker that has one.
        let orphan = find(&db, unknown);
        assert_eq!((orphan.status.as_str(), orphan.attempts), (jobs::PENDING, 0));
        assert_eq!(runs.lock().unwrap()[&gives_up], 2, "no run beyond max_attempts");
    }

    async fn a_killed_workers_job_runs_again_after_its_lease(db) {
        let app = app(&db);
        let id = app.jobs().enqueue_now(&job("work", None, 3)).unwrap().unwrap();
        // A worker claims the job and dies (kill -9): nothing completes or releases it.
        let lease = chrono::Duration::milliseconds(100);
        let claimed = jobs::claim(&mut db.connect(), 10, &["work"], Utc::now().naive_utc(), lease).unwrap();
        assert_eq!(claimed.len(), 1);
        let runs = Arc::new(Mutex::new(HashMap::new()));
        let runner = JobRunner::new(app.clone(), fast()).handle("work", flaky(0, Arc::clone(&runs)));
        assert_eq!(runner.run_once().await.unwrap(), 0, "leased to the dead worker");
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(runner.run_once().await.unwrap(), 1, "the lease expired");
        let done = find(&db, id);
        assert_eq!((done.status.as_str(), done.attempts), (DONE, 2));
        assert_eq!(runs.lock().unwrap()[&id], 1, "run once here; the dead worker never finished");
    }

    async fn two_runners_never_run_the_same_job(db) {
        let app = app(&db);
        let mut ids = Vec::new();
        for _ in 0..60 {
            ids.push(app.jobs().enqueue_now(&job("count", None, 3)).unwrap().unwrap());
        }
        let runs = Arc::new(Mutex::new(HashMap::new()));
        let runner = |app: &App| JobRunner::new(app.clone(), RunnerOptions { batch: 4, ..fast() })
            .handle("count", flaky(0, Arc::clone(&runs)));
        // Two application instances over one database, claiming concurrently.
        let other = App::new(db.pool().0, Settings::for_tests());
        let (a, b) = (runner(&app), runner(&other));
        let work = |r: JobRunner| tokio::spawn(async move {
            let mut total = 0;
            loop {
                let n = r.run_once().await.unwrap();
                if n == 0 { return total; }
                total += n;
            }
        });
        let (ran_a, ran_b) = tokio::join!(work(a), work(b));
        let (ran_a, ran_b) = (ran_a.unwrap(), ran_b.unwrap());
        assert_eq!(ran_a + ran_b, 60);
        let runs = runs.lock().unwrap();
        assert_eq!(runs.len(), 60);
        assert!(runs.values().all(|n| *n == 1), "a job ran twice: {runs:?}");
        for id in ids {
            assert_eq!(find(&db, id).status, DONE);
        }
    }
    async fn the_prune_job_prunes_the_log_and_queues_its_next_run(db) {
        use agentry_app::dispatcher::{PRUNE_EVERY, PRUNE_JOB, prune_handler, schedule_prune};
        let app = app(&db);
        diesel::RunQueryDsl::execute(
            diesel::sql_query(
                "INSERT INTO events (kind, subject, payload, created_at) VALUES ('test.old', 's', '{}', '2020-01-01 00:00:00')",
            ),
            &mut db.connect(),
        )
        .unwrap();
        let finished = app.jobs().enqueue_now(&job("done-long-ago", None, 1)).unwrap().unwrap();
        let waiting = app.jobs().enqueue_now(&job("waiting", None, 1)).unwrap().unwrap();
        for sql in [
            "UPDATE jobs SET status = 'done', updated_at = '2020-01-01 00:00:00' WHERE kind = 'done-long-ago'",
            "UPDATE jobs SET updated_at = '2020-01-01 00:00:00', run_at = '2099-01-01 00:00:00' WHERE kind = 'waiting'",
        ] {
            diesel::RunQueryDsl::execute(diesel::sql_query(sql), &mut db.connect()).unwrap();
        }
        schedule_prune(&mut db.connect(), Duration::ZERO).unwrap();
        schedule_prune(&mut db.connect(), Duration::ZERO).unwrap();
        let runner = JobRunner::new(app.clone(), fast()).handle(PRUNE_JOB, prune_handler(app.clone(), Duration::from_secs(86_400)));
        // On PostgreSQL another test's transaction may hold the event back a moment.
        for _ in 0..200 {
            runner.run_once().await.unwrap();
            if agentry_store::events::list(&mut db.connect(), 0, 10).unwrap().is_empty() {
                break;
            }
            // The next run (queued an hour away) is made due at once.
            diesel::RunQueryDsl::execute(
                diesel::sql_query("UPDATE jobs SET run_at = '2000-01-01 00:00:00' WHERE kind = 'events.prune' AND status = 'pending'"),
                &mut db.connect(),
            )
            .unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(agentry_store::events::list(&mut db.connect(), 0, 10).unwrap().is_empty(), "the old event is gone");
        // Jobs that finished before the retention go too; one still pending stays.
        assert!(jobs::find_job(&mut db.connect(), finished).unwrap().is_none());
        assert!(jobs::find_job(&mut db.connect(), waiting).unwrap().is_some());
        // One pending run, an hour away (the two schedules above made one job).
        let next = jobs::latest_with_key(&mut db.connect(), PRUNE_JOB, PRUNE_JOB).unwrap().unwrap();
        assert_eq!(next.status, jobs::PENDING);
        let wait = next.run_at - Utc::now().naive_utc();
        assert!(wait > chrono::Duration::from_std(PRUNE_EVERY).unwrap() - chrono::Duration::minutes(1), "{wait}");
        assert_eq!(runner.run_once().await.unwrap(), 0, "not due yet");
    }
    async fn a_worker_whose_lease_expired_cannot_record_over_a_newer_claim(db) {
        let app = app(&db);
        let id = app.jobs().enqueue_now(&job("work", None, 3)).unwrap().unwrap();
        let now = || Utc::now().naive_utc();
        let mut conn = db.connect();
        let first = jobs::claim(&mut conn, 10, &["work"], now(), chrono::Duration::milliseconds(50)).unwrap().remove(0);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let second = jobs::claim(&mut conn, 10, &["work"], now(), chrono::Duration::seconds(60)).unwrap().remove(0);
        assert_eq!((first.attempts, second.attempts), (1, 2), "each claim raises the token");
        // The first worker comes back late: neither its success nor its failure is recorded.
        assert!(!jobs::complete(&mut conn, &first, now()).unwrap());
        assert!(!jobs::fail(&mut conn, &first, "late", now(), now()).unwrap());
        let row = find(&db, id);
        assert_eq!((row.status.as_str(), row.attempts, row.last_error), (jobs::RUNNING, 2, None));
        assert!(jobs::complete(&mut conn, &second, now()).unwrap());
        assert_eq!(find(&db, id).status, DONE);
    }

    async fn a_slow_kind_never_holds_up_another_and_keeps_to_its_slots(db) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let app = app(&db);
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let (busy, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let slow: JobHandler = {
            let (gate, busy, most) = (Arc::clone(&gate), Arc::clone(&busy), Arc::clone(&most));
            Arc::new(move |_| {
                let (gate, busy, most) = (Arc::clone(&gate), Arc::clone(&busy), Arc::clone(&most));
                Box::pin(async move {
                    let now = busy.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    gate.acquire().await.map_err(|e| e.to_string())?.forget();
                    busy.fetch_sub(1, Ordering::SeqCst);
                    Ok(())
                })
            })
        };
        let runs = Arc::new(Mutex::new(HashMap::new()));
        let runner = JobRunner::new(app.clone(), RunnerOptions { per_kind: 1, ..fast() })
            .handle("slow", slow)
            .handle("fast", flaky(0, Arc::clone(&runs)));
        let slow_ids: Vec<DbUuid> = (0..2).map(|_| app.jobs().enqueue_now(&job("slow", None, 1)).unwrap().unwrap()).collect();
        let fast_ids: Vec<DbUuid> = (0..3).map(|_| app.jobs().enqueue_now(&job("fast", None, 1)).unwrap().unwrap()).collect();
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let running = tokio::spawn(runner.run(stopped));

        // Every fast job finishes while a slow one is still held.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !fast_ids.iter().all(|id| find(&db, *id).status == DONE) {
            assert!(std::time::Instant::now() < deadline, "fast jobs waited for the slow kind");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(busy.load(Ordering::SeqCst), 1, "one slow job runs, the other waits for its slot");
        gate.add_permits(2);
        while !slow_ids.iter().all(|id| find(&db, *id).status == DONE) {
            assert!(std::time::Instant::now() < deadline, "slow jobs never finished");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        stop.send(true).unwrap();
        running.await.unwrap();
        assert_eq!(most.load(Ordering::SeqCst), 1, "per_kind = 1");
    }
    async fn a_panicking_handler_gives_its_slot_back(db) {
        let app = app(&db);
        let boom: JobHandler = Arc::new(|_| Box::pin(async { panic!("a handler bug") }));
        let runner = JobRunner::new(app.clone(), RunnerOptions { per_kind: 1, ..fast() }).handle("boom", boom);
        let ids: Vec<DbUuid> = (0..2).map(|_| app.jobs().enqueue_now(&job("boom", None, 1)).unwrap().unwrap()).collect();
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let running = tokio::spawn(runner.run(stopped));
        // With the only slot of its kind lost to the first panic, the second would never run.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !ids.iter().all(|id| find(&db, *id).attempts == 1) {
            assert!(std::time::Instant::now() < deadline, "a panic kept its slot");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        stop.send(true).unwrap();
        running.await.unwrap();
    }
}

#[test]
fn backoff_doubles_with_jitter_and_is_capped() {
    let options = RunnerOptions {
        backoff: Duration::from_secs(4),
        max_backoff: Duration::from_secs(60),
        ..RunnerOptions::default()
    };
    for (attempts, base) in [(1, 4.0), (2, 8.0), (3, 16.0), (10, 60.0)] {
        let delay = backoff(&options, attempts).as_secs_f64();
        assert!(
            (base * 0.75..=base * 1.25).contains(&delay),
            "attempt {attempts}: {delay}"
        );
    }
}
