//! Each instance's dispatcher brings its read models up to date from the event log: another
//! instance's write reaches them without any bus, its own writes are not applied twice, and an
//! event this version cannot read is skipped, not retried forever.
#![expect(clippy::unwrap_used, reason = "helpers of a test crate")]

use std::time::Duration;

use agentry_app::agents::NewAgentBody;
use agentry_app::dispatcher::Dispatcher;
use agentry_app::{App, Caller, Settings};
use agentry_domain::RoleId;
use agentry_store::Uow;
use agentry_test_support::{TestDb, app_tests, seed_member};

fn admin(db: &TestDb) -> Caller {
    let (user, _) = seed_member(db, "a@example.com", RoleId::COMPANY_ADMIN);
    Caller {
        user,
        email: "a@example.com".into(),
        issued_at: 0.0,
        token: None,
    }
}

fn persona(app: &App, caller: &Caller, agent: &str) -> String {
    app.agents()
        .persona(&mut Uow::new(app.pool()), caller, agent)
        .unwrap()
}

/// Catch up until every stored event is read (on PostgreSQL a transaction of another test
/// still running may hold the log back a moment); the events applied.
async fn read_all(dispatcher: &mut Dispatcher, db: &TestDb) -> usize {
    let stored = agentry_store::events::list(&mut db.connect(), 0, 100_000).unwrap();
    let newest = stored
        .iter()
        .map(|row| row.cursor())
        .max()
        .unwrap_or_default();
    let mut applied = 0;
    for _ in 0..500 {
        applied += dispatcher.catch_up().await.unwrap();
        if dispatcher.cursor() >= newest {
            return applied;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "the log was not read to {newest:?}: at {:?}",
        dispatcher.cursor()
    );
}

app_tests! {
    async fn another_instances_write_reaches_the_read_models_through_the_log(db) {
        let caller = admin(&db);
        // Two instances of one database, no bus between them.
        let (one, two) = (App::new(db.pool().0, Settings::for_tests()), App::new(db.pool().0, Settings::for_tests()));
        let mut dispatcher = Dispatcher::at_head(&two, Duration::from_millis(250)).unwrap();
        let body: NewAgentBody = serde_json::from_value(serde_json::json!({"agent_name": "Shared"})).unwrap();
        let agent = one.agents().create_agent(&mut Uow::new(one.pool()), &caller, body).unwrap().to_string();
        assert_eq!(read_all(&mut dispatcher, &db).await, 1, "the creation");

        // The second instance holds the agent's view; the first changes it.
        assert_eq!(persona(&two, &caller, &agent), "");
        one.agents()
            .set_persona(&mut Uow::new(one.pool()), &caller, &agent, &serde_json::json!("terse"))
            .unwrap();
        assert_eq!(persona(&two, &caller, &agent), "", "held until the log is read");
        assert_eq!(read_all(&mut dispatcher, &db).await, 1);
        assert_eq!(persona(&two, &caller, &agent), "terse");

        // Its own writes it applied at commit: the log is read past them, not applied again.
        two.agents()
            .set_persona(&mut Uow::new(two.pool()), &caller, &agent, &serde_json::json!("verbose"))
            .unwrap();
        assert_eq!(read_all(&mut dispatcher, &db).await, 0);
        assert_eq!(persona(&two, &caller, &agent), "verbose");
    }

    async fn an_event_this_version_cannot_read_is_skipped(db) {
        use diesel::RunQueryDsl;
        let caller = admin(&db);
        let app = App::new(db.pool().0, Settings::for_tests());
        let mut dispatcher = Dispatcher::at_head(&app, Duration::from_millis(250)).unwrap();
        // A held read model...
        app.sessions().access(&mut Uow::new(app.pool()), caller.user).unwrap();
        let held = app.read_model_loads().access;
        app.sessions().access(&mut Uow::new(app.pool()), caller.user).unwrap();
        assert_eq!(app.read_model_loads().access, held, "held");
        diesel::sql_query(
            "INSERT INTO events (kind, subject, payload, created_at, origin) \
             VALUES ('agent.changed', 'x', '{\"not\": \"an event\"}', CURRENT_TIMESTAMP, 'elsewhere')",
        )
        .execute(&mut db.connect())
        .unwrap();
        // Read past (`read_all` waits for the cursor to reach it), not retried.
        assert_eq!(read_all(&mut dispatcher, &db).await, 0);
        assert_eq!(dispatcher.catch_up().await.unwrap(), 0);
        // ...is dropped: what the event made stale is unknown to this version.
        app.sessions().access(&mut Uow::new(app.pool()), caller.user).unwrap();
        assert_eq!(app.read_model_loads().access, held + 1, "read again");
    }

    async fn an_instance_behind_the_pruned_log_drops_its_read_models_and_resumes_at_the_head(db) {
        let caller = admin(&db);
        let (one, two) = (App::new(db.pool().0, Settings::for_tests()), App::new(db.pool().0, Settings::for_tests()));
        let body: NewAgentBody = serde_json::from_value(serde_json::json!({"agent_name": "Pruned"})).unwrap();
        let agent = one.agents().create_agent(&mut Uow::new(one.pool()), &caller, body).unwrap().to_string();
        assert_eq!(persona(&two, &caller, &agent), "", "the second instance holds the view");
        let mut dispatcher = Dispatcher::at_head(&two, Duration::from_millis(250)).unwrap();
        one.agents()
            .set_persona(&mut Uow::new(one.pool()), &caller, &agent, &serde_json::json!("terse"))
            .unwrap();
        let written = agentry_store::events::list(&mut db.connect(), 0, 100_000).unwrap().last().unwrap().cursor();

        // Retention deletes the change before the second instance read it.
        tokio::time::sleep(Duration::from_millis(10)).await;
        for _ in 0..500 {
            agentry_app::dispatcher::prune(&mut Uow::new(one.pool()), Duration::ZERO).unwrap();
            if agentry_store::events::horizon(&mut db.connect()).unwrap() >= Some(written) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(persona(&two, &caller, &agent), "", "held until the log is read");
        assert_eq!(dispatcher.catch_up().await.unwrap(), 0, "the change itself is gone");
        assert!(dispatcher.cursor() >= written, "resumed at the head");
        assert_eq!(persona(&two, &caller, &agent), "terse", "every read model was dropped");
        // And it stays there: the next read finds nothing to drop.
        let cursor = dispatcher.cursor();
        assert_eq!(dispatcher.catch_up().await.unwrap(), 0);
        assert_eq!(dispatcher.cursor(), cursor);
    }

    async fn a_wake_up_held_back_by_a_running_transaction_is_read_soon_after_it_ends(db) {
        use diesel::connection::SimpleConnection;
        if db.backend() == agentry_store::Backend::Sqlite {
            return; // one writer at a time: nothing is ever held back
        }
        let caller = admin(&db);
        let (one, two) = (App::new(db.pool().0, Settings::for_tests()), App::new(db.pool().0, Settings::for_tests()));
        let body: NewAgentBody = serde_json::from_value(serde_json::json!({"agent_name": "Held"})).unwrap();
        let agent = one.agents().create_agent(&mut Uow::new(one.pool()), &caller, body).unwrap().to_string();
        assert_eq!(persona(&two, &caller, &agent), "");
        // A poll far longer than the test: only the wake-up and its re-reads can bring the
        // change.
        let dispatcher = Dispatcher::at_head(&two, Duration::from_secs(60)).unwrap();
        let running = tokio::spawn(dispatcher.run());

        // A transaction elsewhere, with an id, holds the readable bound below the write.
        let mut blocker = db.connect();
        blocker.batch_execute("BEGIN; SELECT pg_current_xact_id();").unwrap();
        one.agents()
            .set_persona(&mut Uow::new(one.pool()), &caller, &agent, &serde_json::json!("terse"))
            .unwrap();
        two.wake();
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert_eq!(persona(&two, &caller, &agent), "", "not readable while the other transaction runs");
        blocker.batch_execute("COMMIT").unwrap();

        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while persona(&two, &caller, &agent) != "terse" {
            assert!(std::time::Instant::now() < deadline, "the change waited for the poll");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        running.abort();
    }
}
