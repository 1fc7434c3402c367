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
        let app = App::new(db.pool().0, Settings::for_tests());
        let mut dispatcher = Dispatcher::at_head(&app, Duration::from_millis(250)).unwrap();
        diesel::sql_query(
            "INSERT INTO events (kind, subject, payload, created_at, origin) \
             VALUES ('agent.changed', 'x', '{\"not\": \"an event\"}', CURRENT_TIMESTAMP, 'elsewhere')",
        )
        .execute(&mut db.connect())
        .unwrap();
        // Read past (`read_all` waits for the cursor to reach it), not retried.
        assert_eq!(read_all(&mut dispatcher, &db).await, 0);
        assert_eq!(dispatcher.catch_up().await.unwrap(), 0);
    }
}
