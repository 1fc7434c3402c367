//! Policy inside the use cases: called directly (as another Rust service would, with no HTTP
//! route table in front), each use case refuses a caller whose role lacks its scope.
#![expect(clippy::unwrap_used, reason = "helpers of a test crate")]

use agentry_app::{App, AppError, Caller, Settings};
use agentry_domain::{CompanyId, RoleId, UserId};
use agentry_store::Uow;
use agentry_store::identity::{NewMembership, insert_memberships};
use agentry_test_support::{TestDb, db_tests, seed_member};
use serde_json::{Value, json};

fn caller(user: UserId, email: &str) -> Caller {
    Caller {
        user,
        email: email.into(),
        issued_at: 0.0,
        token: None,
    }
}

fn form<T: serde::de::DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value).unwrap()
}

/// A company admin with a shared agent, and a read-only user of the same company (role 6:
/// reads agents and conversations, writes nothing).
fn setup(db: &TestDb) -> (App, Caller, Caller, CompanyId, String) {
    let (admin_id, company) = seed_member(db, "admin@example.com", RoleId::COMPANY_ADMIN);
    let (reader_id, _) = seed_member(db, "reader@example.com", RoleId::READ_ONLY_USER);
    let now = chrono::Utc::now().naive_utc();
    insert_memberships(
        &mut db.connect(),
        &[NewMembership::new(
            reader_id,
            company,
            RoleId::READ_ONLY_USER,
            now,
        )],
    )
    .unwrap();
    let app = App::new(db.pool().0, Settings::for_tests());
    let admin = caller(admin_id, "admin@example.com");
    let agent = app
        .agents()
        .create_agent(
            &mut Uow::new(app.pool()),
            &admin,
            form(json!({
                "agent_name": "Team agent",
                "settings": {"shared": "true", "company_id": company.to_string()},
            })),
        )
        .unwrap();
    (
        app,
        admin,
        caller(reader_id, "reader@example.com"),
        company,
        agent.to_string(),
    )
}

fn refused<T: std::fmt::Debug>(what: &str, outcome: Result<T, AppError>) {
    assert!(
        matches!(outcome, Err(AppError::Forbidden(_) | AppError::NotFound(_))),
        "{what}: expected a refusal, got {outcome:?}"
    );
}

db_tests! {
    fn every_write_refuses_a_role_without_its_scope(db) {
        let (app, admin, reader, company, agent) = setup(&db);
        let uow = &mut Uow::new(app.pool());
        // The reader does see the agent: the refusals below are about scopes, not visibility.
        assert!(app.agents().agent_config(uow, &reader, &agent).is_ok());

        refused("create_agent", app.agents().create_agent(uow, &reader, form(json!({"agent_name": "Mine"}))));
        refused("update_agent_settings", app.agents().update_agent_settings(uow, &reader, &agent, &Some(json!({"persona": "x"}))));
        refused("set_persona", app.agents().set_persona(uow, &reader, &agent, &json!("x")));
        refused("toggle_command", app.agents().toggle_command(uow, &reader, &agent, "Write to File", false));
        refused("rename_agent", app.agents().rename_agent(uow, &reader, &agent, &json!("Other")));
        refused("delete_agent", app.agents().delete_agent(uow, &reader, &agent));
        refused("new_conversation", app.conversations().new_conversation(uow, &reader, form(json!({"conversation_name": "c"}))));
        refused("update_company", app.companies().update_company(uow, &reader, company, form(json!({"name": "Renamed"}))));
        refused("delete_company", app.companies().delete_company(uow, &reader, company));
        refused("update_company_settings", app.extensions().update_company_settings(uow, &reader, &company.to_string(), &Some(json!({"OPENAI_API_KEY": "sk"}))));
        refused("invite", app.companies().invite(uow, &reader, form(json!({"email": "new@example.com", "company_id": company.to_string(), "role_id": 3}))));
        refused("change_role", app.companies().change_role(uow, &reader, form(json!({"role_id": 6, "company_id": company.to_string(), "user_id": admin.user.to_string()}))));
        refused("remove_member", app.companies().remove_member(uow, &reader, company, admin.user));
        // Any member may list the members (the route's `CompanyMember` guard); a personal access
        // token needs `users:read` for it.
        assert_eq!(app.companies().company_members(uow, &reader, company).unwrap().len(), 2);
        refused("create_token", app.tokens().create_token(uow, &reader, form(json!({"name": "t", "scopes": ["agents:read"]}))));
        refused("list_tokens", app.tokens().list_tokens(uow, &reader));

        // Nothing changed, and the same calls by the admin go through.
        app.agents().update_agent_settings(uow, &admin, &agent, &Some(json!({"persona": "kept"}))).unwrap();
        assert_eq!(app.agents().persona(uow, &admin, &agent).unwrap(), "kept");
        assert_eq!(app.companies().company_members(uow, &admin, company).unwrap().len(), 2);
        app.agents().rename_agent(uow, &admin, &agent, &json!("Renamed")).unwrap();
    }

    fn reads_refuse_a_role_without_their_scope(db) {
        let (app, admin, _, company, agent) = setup(&db);
        // A child account (role 4) of the same company: chats, reads no agent, no catalog.
        let (child_id, _) = seed_member(&db, "child@example.com", RoleId::CHILD);
        let now = chrono::Utc::now().naive_utc();
        insert_memberships(&mut db.connect(), &[NewMembership::new(child_id, company, RoleId::CHILD, now)]).unwrap();
        let child = caller(child_id, "child@example.com");
        let uow = &mut Uow::new(app.pool());

        refused("roles", app.sessions().roles(uow, &child));
        refused("scopes", app.sessions().scopes(uow, &child).map(|_| ()));
        refused("agent_config", app.agents().agent_config(uow, &child, &agent));
        refused("persona", app.agents().persona(uow, &child, &agent));
        refused("list_tokens", app.tokens().list_tokens(uow, &child));
        // Any member reads the company's settings (the route's `CompanyMember` guard).
        assert!(app.extensions().company_settings(uow, &child, &company.to_string()).is_ok());

        assert!(app.sessions().roles(uow, &admin).is_ok());
        assert!(app.agents().agent_config(uow, &admin, &agent).is_ok());
        assert!(app.extensions().company_settings(uow, &admin, &company.to_string()).is_ok());
    }
}
