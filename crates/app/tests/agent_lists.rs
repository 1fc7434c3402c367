//! Agent lists assembled from read models keyed by what changes (each user's own agents and
//! each company's shared agents) and agent views read once however many miss them, on both
//! backends.
#![expect(clippy::expect_used, reason = "helpers of a test crate")]

use agentry_app::agents::NewAgentBody;
use agentry_app::{App, Caller, Settings};
use agentry_domain::RoleId;
use agentry_store::Uow;
use agentry_test_support::{db_tests, seed_member, seed_members};
use serde_json::{Value, json};

fn caller(user: agentry_domain::UserId) -> Caller {
    Caller {
        user,
        email: String::new(),
        issued_at: 0.0,
        token: None,
    }
}

/// The names `caller`'s `GET /v1/agent` lists, and which is the default.
fn names(app: &App, caller: &Caller) -> (Vec<String>, Option<String>) {
    let body = app
        .agents()
        .list_agents(&mut Uow::new(app.pool()), caller)
        .expect("the list");
    let list: Value = serde_json::from_str(body.json()).expect("json");
    let agents = list["agents"].as_array().cloned().unwrap_or_default();
    let default = agents
        .iter()
        .find(|a| a["default"] == true)
        .and_then(|a| a["name"].as_str())
        .map(str::to_owned);
    let names = agents
        .iter()
        .filter_map(|a| a["name"].as_str().map(str::to_owned))
        .collect();
    (names, default)
}

db_tests! {
    fn an_agent_change_reaches_its_owners_list_and_its_companys_not_each_members(db) {
        const MEMBERS: usize = 50;
        let (owner, company) = seed_member(&db, "owner@example.com", RoleId::COMPANY_ADMIN);
        let owner = caller(owner);
        let members: Vec<Caller> = seed_members(&db, company, MEMBERS, RoleId::USER)
            .into_iter()
            .map(caller)
            .collect();
        let app = App::new(db.pool().0, Settings::for_tests());
        let body = |name: &str, shared: bool| NewAgentBody {
            agent_name: json!(name),
            settings: Some(json!({"shared": shared.to_string()})),
            commands: None,
            training_urls: None,
        };
        app.agents().create_agent(&mut Uow::new(app.pool()), &owner, body("Team", true)).expect("shared agent");
        app.agents().create_agent(&mut Uow::new(app.pool()), &owner, body("Mine", false)).expect("own agent");
        let member = &members[0];
        app.agents().create_agent(&mut Uow::new(app.pool()), member, body("Helper", false)).expect("a member's agent");

        // Own agents first, then shared ones; the member's default is their own.
        assert_eq!(names(&app, &owner), (vec!["Team".into(), "Mine".into()], Some("Team".into())));
        assert_eq!(names(&app, member), (vec!["Helper".into(), "Team".into()], Some("Helper".into())));
        for member in &members {
            let _ = names(&app, member);
        }
        let warm = app.read_model_loads();

        // Renaming the shared agent: its owner's list and the company's shared list read
        // again, once each, however many members list it.
        let team = app.agents().visible_entries(&mut Uow::new(app.pool()), &owner).expect("entries")[0].id;
        app.agents()
            .rename_agent(&mut Uow::new(app.pool()), &owner, &team.to_string(), &json!("Crew"))
            .expect("rename");
        for member in &members {
            assert!(names(&app, member).0.contains(&"Crew".to_owned()), "{} sees the new name", member.user);
        }
        let _ = names(&app, &owner);
        let loads = app.read_model_loads();
        assert_eq!(loads.shared_agents - warm.shared_agents, 1, "the company's shared list, once");
        assert_eq!(loads.own_agents - warm.own_agents, 1, "the owner's own list only");
        assert_eq!(loads.access, warm.access, "no one's access");

        // The owner's private agent reaches no member's list at all.
        let mine = app.agents().visible_entries(&mut Uow::new(app.pool()), &owner).expect("entries")[1].id;
        app.agents()
            .rename_agent(&mut Uow::new(app.pool()), &owner, &mine.to_string(), &json!("Private"))
            .expect("rename");
        for member in &members {
            let _ = names(&app, member);
        }
        let after = app.read_model_loads();
        assert_eq!(after.shared_agents, loads.shared_agents, "the shared list is untouched");
        assert_eq!(after.own_agents, loads.own_agents, "nor any member's own list");
        assert_eq!(names(&app, &owner).0, vec!["Crew".to_owned(), "Private".to_owned()]);
        assert_eq!(app.read_model_loads().own_agents, loads.own_agents + 1);

        // A new member reads their own list; the company's shared list is already held.
        let newcomer = caller(seed_members(&db, company, 1, RoleId::USER)[0]);
        assert_eq!(names(&app, &newcomer), (vec!["Crew".into()], Some("Crew".into())));
        let joined = app.read_model_loads();
        assert_eq!(joined.shared_agents, after.shared_agents, "held for the company");

        // Unsharing takes it off every member's list, and the preference sets the default.
        app.agents()
            .update_agent_settings(&mut Uow::new(app.pool()), &owner, &team.to_string(), &Some(json!({"shared": "false"})))
            .expect("unshare");
        assert_eq!(names(&app, &newcomer).0, Vec::<String>::new());
        assert_eq!(names(&app, member).0, vec!["Helper".to_owned()]);
        app.accounts()
            .update_user(&mut Uow::new(app.pool()), &owner, &json!({"agent_id": mine.to_string()}))
            .expect("a preference");
        assert_eq!(names(&app, &owner).1, Some("Private".into()), "the preferred agent is the default");
    }

    fn a_write_names_the_sharing_it_finds_not_the_one_its_view_remembers(db) {
        // Instance `one` holds the agent's view; `two` moves it to another company; `one`,
        // which has not heard of the move, renames it: the event names the company the
        // agent is shared with now, whose members' lists show the name.
        let (owner, _) = seed_member(&db, "owner@example.com", RoleId::COMPANY_ADMIN);
        let owner = caller(owner);
        let (one, two) = (App::new(db.pool().0, Settings::for_tests()), App::new(db.pool().0, Settings::for_tests()));
        let form = serde_json::from_value(json!({"name": "Second"})).expect("a form");
        let second = one.companies().create_company(&mut Uow::new(one.pool()), &owner, form).expect("a company").id;
        let body = NewAgentBody {
            agent_name: json!("Team"),
            settings: Some(json!({"shared": "true"})),
            commands: None,
            training_urls: None,
        };
        let agent = one.agents().create_agent(&mut Uow::new(one.pool()), &owner, body).expect("an agent").to_string();
        assert_eq!(names(&one, &owner).0, vec!["Team".to_owned()], "one holds the view");
        two.agents()
            .update_agent_settings(&mut Uow::new(two.pool()), &owner, &agent, &Some(json!({"company_id": second.to_string()})))
            .expect("moved on two");
        one.agents().rename_agent(&mut Uow::new(one.pool()), &owner, &agent, &json!("Crew")).expect("renamed on one");
        let events = agentry_store::events::list(&mut db.connect(), 0, 1_000).expect("the log");
        let renamed: Value = serde_json::from_str(&events.last().expect("an event").payload).expect("json");
        assert_eq!(renamed["change"], "renamed");
        assert_eq!(renamed["sharing"], json!([second]), "the company it is shared with now");
    }

    fn concurrent_misses_of_an_agent_view_read_it_once(db) {
        let (owner, _) = seed_member(&db, "owner@example.com", RoleId::COMPANY_ADMIN);
        let owner = caller(owner);
        let writer = App::new(db.pool().0, Settings::for_tests());
        let body = NewAgentBody { agent_name: json!("Busy"), settings: None, commands: None, training_urls: None };
        let agent = writer.agents().create_agent(&mut Uow::new(writer.pool()), &owner, body).expect("an agent").to_string();
        // A fresh instance: nothing held.
        let app = App::new(db.pool().0, Settings::for_tests());
        let start = std::sync::Barrier::new(8);
        std::thread::scope(|scope| {
            for _ in 0..8 {
                scope.spawn(|| {
                    start.wait();
                    app.agents().persona(&mut Uow::new(app.pool()), &owner, &agent).expect("the persona");
                });
            }
        });
        assert_eq!(app.read_model_loads().agent_views, 1, "one read for eight misses");
    }
}
