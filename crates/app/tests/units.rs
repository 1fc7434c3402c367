//! Use cases compose in one unit of work: one handle, at most one connection, one
//! transaction, and the events of all of them committed together (or none).
#![expect(clippy::unwrap_used, reason = "helpers of a test crate")]

use std::time::Duration;

use agentry_app::agents::NewAgentBody;
use agentry_app::{App, AppError, Caller, Settings};
use agentry_domain::RoleId;
use agentry_store::events::list;
use agentry_store::{Connector, PoolOptions, Uow, build_pool};
use agentry_test_support::{TestDb, db_tests, seed_member};

fn admin(db: &TestDb) -> Caller {
    let (user, _) = seed_member(db, "a@example.com", RoleId::COMPANY_ADMIN);
    Caller {
        user,
        email: "a@example.com".into(),
        issued_at: 0.0,
        token: None,
    }
}

fn agent(name: &str) -> NewAgentBody {
    serde_json::from_value(serde_json::json!({ "agent_name": name })).unwrap()
}

/// An application over a pool of exactly one connection, which waits at most `wait` for it.
fn app_on_one_connection(db: &TestDb, wait: Duration) -> App {
    let pool = build_pool(
        Connector::new(db.url().clone()),
        &PoolOptions {
            max_size: 1,
            connection_timeout: wait,
        },
    );
    App::new(pool, Settings::for_tests())
}

fn agent_events(db: &TestDb) -> Vec<String> {
    list(&mut db.connect(), 0, 1000)
        .unwrap()
        .into_iter()
        .filter(|row| row.kind == "agent.changed")
        .map(|row| row.payload)
        .collect()
}

db_tests! {
    fn composed_use_cases_commit_together_or_not_at_all(db) {
        let caller = admin(&db);
        let app = app_on_one_connection(&db, Duration::from_secs(5));
        let mut uow = Uow::new(app.pool());

        // The second use case refuses (the name is taken): the first one's agent goes too,
        // and no event is left behind.
        let refused = app.transaction(&mut uow, |uow| {
            app.agents().create_agent(uow, &caller, agent("Twin"))?;
            app.agents().create_agent(uow, &caller, agent("Twin"))
        });
        assert!(matches!(refused, Err(AppError::Conflict(_))), "{refused:?}");
        let listed: serde_json::Value = serde_json::from_str(app.agents().list_agents(&mut uow, &caller).unwrap().json()).unwrap();
        assert_eq!(listed["agents"].as_array().unwrap().len(), 0, "{listed}");
        assert!(agent_events(&db).is_empty());

        // Both land, with both events, and the read models see them at once.
        let (first, second) = app
            .transaction(&mut uow, |uow| {
                let first = app.agents().create_agent(uow, &caller, agent("First"))?;
                let second = app.agents().create_agent(uow, &caller, agent("Second"))?;
                app.agents().rename_agent(uow, &caller, &second.to_string(), &serde_json::json!("Renamed"))?;
                Ok((first, second))
            })
            .unwrap();
        let listed: serde_json::Value = serde_json::from_str(app.agents().list_agents(&mut uow, &caller).unwrap().json()).unwrap();
        let names: Vec<&str> = listed["agents"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["First", "Renamed"]);
        let events = agent_events(&db);
        assert_eq!(events.len(), 3, "{events:?}");
        assert!(events[0].contains(&first.to_string()) && events[2].contains(&second.to_string()));
        assert!(events[2].contains("renamed"));
    }

    fn a_use_case_never_waits_for_a_second_connection(db) {
        // With one connection, waited for 200 ms at most: a use case that took a second one
        // while holding the first would fail with 503 (the pool's timeout).
        let caller = admin(&db);
        let app = app_on_one_connection(&db, Duration::from_millis(200));
        let mut uow = Uow::new(app.pool());
        let id = app.agents().create_agent(&mut uow, &caller, agent("Solo")).unwrap();
        app.agents().update_agent_settings(&mut uow, &caller, &id.to_string(), &Some(serde_json::json!({"persona": "terse"}))).unwrap();
        assert_eq!(app.agents().persona(&mut uow, &caller, &id.to_string()).unwrap(), "terse");
        app.agents().list_agents(&mut uow, &caller).unwrap();
        assert!(uow.holds(), "the handle keeps its one connection");
        // The pool's only connection is this handle's: another handle waits, then 503.
        let other = app.companies().list_companies(&mut Uow::new(app.pool()), &caller);
        assert!(matches!(other, Err(AppError::Unavailable(_))), "{other:?}");
        uow.release();
        assert!(app.companies().list_companies(&mut Uow::new(app.pool()), &caller).is_ok());
    }

    fn tokens_and_invitations_record_their_events(db) {
        let caller = admin(&db);
        let app = App::new(db.pool().0, Settings::for_tests());
        let uow = &mut Uow::new(app.pool());
        let token = app.tokens().create_token(uow, &caller, serde_json::from_value(serde_json::json!({"name": "ci", "scopes": ["agents:read"]})).unwrap()).unwrap();
        let invitation = app.companies().invite(uow, &caller, serde_json::from_value(serde_json::json!({"email": "new@example.com", "role_id": 3})).unwrap()).unwrap();
        app.companies().delete_invitation(uow, &caller, &invitation.id).unwrap();
        // Registering through an invitation joins its company, as accepting one does.
        let second = app.companies().invite(uow, &caller, serde_json::from_value(serde_json::json!({"email": "two@example.com", "role_id": 3})).unwrap()).unwrap();
        let registered = app.accounts().register(uow, serde_json::from_value(serde_json::json!({
            "email": "two@example.com", "password": "Correct-Horse-42", "confirm_password": "Correct-Horse-42",
            "invitation_id": second.id,
        })).unwrap()).unwrap();
        let kinds: Vec<(String, String)> = list(&mut db.connect(), 0, 100)
            .unwrap()
            .into_iter()
            .filter(|row| row.kind != "agent.changed")
            .map(|row| (row.kind, row.subject))
            .collect();
        assert_eq!(
            kinds,
            [
                ("token.created".to_owned(), caller.user.to_string()),
                ("invitation.changed".to_owned(), invitation.id.clone()),
                ("invitation.changed".to_owned(), invitation.id.clone()),
                ("invitation.changed".to_owned(), second.id.clone()),
                ("user.registered".to_owned(), registered.user_id.to_string()),
                ("access.changed".to_owned(), registered.user_id.to_string()),
            ],
            "{token:?}"
        );
    }

    fn a_transaction_sees_its_own_writes_and_the_read_models_keep_none_of_them(db) {
        let caller = admin(&db);
        let app = App::new(db.pool().0, Settings::for_tests());
        let uow = &mut Uow::new(app.pool());
        // Warm the caller's access: it holds one company.
        assert_eq!(app.companies().list_companies(uow, &caller).unwrap().len(), 1);

        // A company made in the transaction is the caller's for the rest of it, although
        // the held access learns of it only at commit.
        let invited = app.transaction(uow, |uow| {
            let company = app.companies().create_company(uow, &caller, serde_json::from_value(serde_json::json!({"name": "Fresh"})).unwrap())?;
            app.companies().invite(uow, &caller, serde_json::from_value(serde_json::json!({
                "email": "b@example.com", "company_id": company.id.to_string(), "role_id": 3
            })).unwrap())
        });
        assert!(invited.is_ok(), "{invited:?}");
        assert_eq!(app.companies().list_companies(uow, &caller).unwrap().len(), 2);

        // What a transaction read and then rolled back is not kept: the agent it made and
        // read is gone afterwards.
        let mut made = None;
        let refused: Result<(), AppError> = app.transaction(uow, |uow| {
            let id = app.agents().create_agent(uow, &caller, agent("Ghost"))?.to_string();
            app.agents().agent_config(uow, &caller, &id)?;
            made = Some(id);
            Err(AppError::Conflict("changed my mind".into()))
        });
        assert!(refused.is_err());
        let gone = app.agents().agent_config(uow, &caller, &made.unwrap());
        assert!(matches!(gone, Err(AppError::NotFound(_))), "{gone:?}");
        let listed: serde_json::Value = serde_json::from_str(app.agents().list_agents(uow, &caller).unwrap().json()).unwrap();
        assert!(listed["agents"].as_array().unwrap().is_empty(), "{listed}");
    }

    fn what_counts_login_attempts_does_not_compose(db) {
        // A refusal inside a transaction would roll back the attempt it counted.
        let caller = admin(&db);
        let app = App::new(db.pool().0, Settings::for_tests());
        let uow = &mut Uow::new(app.pool());
        let form = serde_json::from_value(serde_json::json!({"username": "a@example.com", "password": "wrong"})).unwrap();
        let inside = app.transaction(uow, |uow| app.accounts().login(uow, form, None));
        assert!(matches!(inside, Err(AppError::Internal(_))), "{inside:?}");
        let change = serde_json::from_value(serde_json::json!({
            "current_password": "wrong", "new_password": "Another-pass-9", "confirm_password": "Another-pass-9"
        })).unwrap();
        let inside = app.transaction(uow, |uow| app.accounts().change_password(uow, &caller, &change));
        assert!(matches!(inside, Err(AppError::Internal(_))), "{inside:?}");
    }

    fn a_token_revoked_earlier_in_a_transaction_is_refused_later_in_it(db) {
        let app = App::new(db.pool().0, Settings::for_tests());
        let uow = &mut Uow::new(app.pool());
        let registered = app.accounts().register(uow, serde_json::from_value(serde_json::json!({
            "email": "r@example.com", "password": "Sup3r-secret-pw", "confirm_password": "Sup3r-secret-pw"
        })).unwrap()).unwrap();
        // Held in memory from here on.
        let caller = app.sessions().authenticate(uow, Some(&registered.token)).unwrap();
        std::thread::sleep(Duration::from_millis(1100));
        let inside = app.transaction(uow, |uow| {
            app.accounts().logout(uow, &caller)?;
            app.sessions().authenticate(uow, Some(&registered.token))
        });
        assert!(matches!(inside, Err(AppError::Unauthorized(_))), "{inside:?}");
    }

    fn a_deleted_conversation_keeps_its_files_until_the_deletion_commits(db) {
        let caller = admin(&db);
        let data_dir = std::env::temp_dir().join(format!("agentry-units-{}", uuid::Uuid::new_v4()));
        let settings = Settings { data_dir: data_dir.clone(), ..Settings::for_tests() };
        let app = App::new(db.pool().0, settings);
        let mut uow = Uow::new(app.pool());
        let body = serde_json::from_value(serde_json::json!({ "conversation_name": "Notes" })).unwrap();
        let id = app.conversations().new_conversation(&mut uow, &caller, body).unwrap().id.to_string();
        let files = data_dir.join("WORKSPACE").join("some-agent").join(&id);
        std::fs::create_dir_all(&files).unwrap();
        std::fs::write(files.join("notes.txt"), "kept").unwrap();

        let refused: Result<(), AppError> = app.transaction(&mut uow, |uow| {
            app.conversations().delete_conversation(uow, &caller, &id)?;
            Err(AppError::Conflict("changed my mind".into()))
        });
        assert!(refused.is_err());
        assert!(files.join("notes.txt").exists(), "rolled back: the files stay");

        app.conversations().delete_conversation(&mut uow, &caller, &id).unwrap();
        assert!(!files.exists(), "committed: the files go");
        std::fs::remove_dir_all(&data_dir).unwrap();
    }
}
