//! Companies, members, roles and invitations over HTTP on both backends, for roles 0, 2, 3
//! and 6 and a member of another company.
#![expect(clippy::unwrap_used, reason = "helpers of a test crate")]

use agentry::config::Settings;
use agentry_test_support::{TEST_PASSWORD, TestApp, app_tests};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const ROOT: &str = "root@example.com";

struct User {
    token: String,
    id: String,
}

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    user: Option<&User>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    app.call(method, path, user.map(|u| u.token.as_str()), body)
        .await
}

async fn register(app: &TestApp, email: &str, invitation: Option<&str>) -> User {
    let (token, id) = app.register(email, invitation).await;
    User { token, id }
}

async fn primary_company(app: &TestApp, user: &User) -> String {
    let (_, view) = call(app, Method::GET, "/v1/user", Some(user), None).await;
    view["companies"][0]["id"].as_str().unwrap().to_owned()
}

/// An admin (role 2) with a power user (3) and a read-only user (6) invited into the admin's
/// company, plus an outsider in a company of their own.
struct Team {
    admin: User,
    user: User,
    reader: User,
    outsider: User,
    company: String,
    outsider_company: String,
}

async fn invite(
    app: &TestApp,
    by: &User,
    email: &str,
    role: i32,
    company: &str,
) -> (StatusCode, Value) {
    call(
        app,
        Method::POST,
        "/v1/invitations",
        Some(by),
        Some(json!({"email": email, "role_id": role, "company_id": company})),
    )
    .await
}

async fn team(app: &TestApp) -> Team {
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let admin = register(app, &format!("admin{tag}@example.com"), None).await;
    let company = primary_company(app, &admin).await;
    let mut members = Vec::new();
    for (name, role) in [("user", 3), ("reader", 6)] {
        let email = format!("{name}{tag}@example.com");
        let (status, invitation) = invite(app, &admin, &email, role, &company).await;
        assert_eq!(status, StatusCode::OK, "{invitation}");
        assert_eq!(invitation["is_accepted"], false);
        let link = invitation["invitation_link"].as_str().unwrap();
        assert!(
            link.starts_with("http://localhost:3437?invitation_id="),
            "{link}"
        );
        members.push(register(app, &email, invitation["id"].as_str()).await);
    }
    let outsider = register(app, &format!("outsider{tag}@example.com"), None).await;
    let outsider_company = primary_company(app, &outsider).await;
    let reader = members.pop().unwrap();
    let user = members.pop().unwrap();
    Team {
        admin,
        user,
        reader,
        outsider,
        company,
        outsider_company,
    }
}

app_tests! {
    async fn invitees_join_the_inviting_company_with_the_invited_role(db) {
        let app = TestApp::spawn(db).await;
        let team = team(&app).await;
        for (member, role) in [(&team.user, 3), (&team.reader, 6)] {
            let (_, view) = call(&app, Method::GET, "/v1/user", Some(member), None).await;
            let companies = view["companies"].as_array().unwrap();
            assert_eq!(companies.len(), 1, "an invitee gets no company of their own");
            assert_eq!(companies[0]["id"], team.company);
            assert_eq!(companies[0]["role_id"], role);
        }
        let (status, pending) = call(&app, Method::GET, "/v1/invitations", Some(&team.admin), None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(pending["invitations"], json!([]), "accepted invitations are not pending");

        let (status, members) = call(&app, Method::GET, &format!("/v1/companies/{}/members", team.company), Some(&team.reader), None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(members["members"].as_array().unwrap().len(), 3);

        // Deleting an accepted invitation leaves the member alone (removal has its own checks).
        let (_, mine) = invite(&app, &team.admin, "joiner@example.com", 3, &team.company).await;
        let joiner = register(&app, "joiner@example.com", mine["id"].as_str()).await;
        let path = format!("/v1/invitation/{}", mine["id"].as_str().unwrap());
        assert_eq!(call(&app, Method::DELETE, &path, Some(&team.admin), None).await.0, StatusCode::OK);
        let members_path = format!("/v1/companies/{}/members", team.company);
        let (status, _) = call(&app, Method::GET, &members_path, Some(&joiner), None).await;
        assert_eq!(status, StatusCode::OK, "still a member");

        // A taken invitation cannot be used again.
        let (status, invitation) = invite(&app, &team.admin, "late@example.com", 3, &team.company).await;
        assert_eq!(status, StatusCode::OK);
        let id = invitation["id"].as_str().unwrap();
        register(&app, "late@example.com", Some(id)).await;
        let (status, body) = call(&app, Method::POST, "/v1/user", None, Some(json!({
            "email": "later@example.com", "password": TEST_PASSWORD, "confirm_password": TEST_PASSWORD, "invitation_id": id
        }))).await;
        assert_eq!((status, body), (StatusCode::BAD_REQUEST, json!({"detail": "Invalid invitation"})));
    }

    async fn only_admins_invite_and_never_above_themselves(db) {
        let app = TestApp::spawn(db).await;
        let team = team(&app).await;
        for member in [&team.user, &team.reader] {
            let (status, body) = invite(&app, member, "x@example.com", 6, &team.company).await;
            assert_eq!((status, body), (StatusCode::FORBIDDEN, json!({"detail": "Unauthorized. Insufficient permissions."})));
        }
        let (status, _) = invite(&app, &team.admin, "boss@example.com", 1, &team.company).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "a company admin cannot invite a tenant admin");
        let (status, _) = invite(&app, &team.admin, "x@example.com", 3, &team.outsider_company).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "another company's id is unknown");
        let (status, _) = invite(&app, &team.admin, "x@example.com", 42, &team.company).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let (status, _) = invite(&app, &team.admin, "not-an-email", 3, &team.company).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

        // Inviting an existing account invites it; it joins when it accepts.
        let (_, outsider) = call(&app, Method::GET, "/v1/user", Some(&team.outsider), None).await;
        let email = outsider["email"].as_str().unwrap();
        let (status, invited) = invite(&app, &team.admin, email, 6, &team.company).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(invited["is_accepted"].as_bool(), Some(false), "{invited}");
        let (_, view) = call(&app, Method::GET, "/v1/user", Some(&team.outsider), None).await;
        assert_eq!(view["companies"].as_array().unwrap().len(), 1);
        app.accept(&team.outsider.token, &invited).await;
        let (_, view) = call(&app, Method::GET, "/v1/user", Some(&team.outsider), None).await;
        assert_eq!(view["companies"].as_array().unwrap().len(), 2);
        let (status, again) = invite(&app, &team.admin, email, 6, &team.company).await;
        assert_eq!((status, again["id"].as_str(), again["is_accepted"].as_bool()), (StatusCode::OK, Some("none"), Some(true)), "already a member");

        // Pending invitations: listed for admins, refused to the others, deleted once.
        let (_, invitation) = invite(&app, &team.admin, "pending@example.com", 3, &team.company).await;
        let (_, again) = invite(&app, &team.admin, "pending@example.com", 3, &team.company).await;
        assert_eq!(invitation["id"], again["id"], "a pending invitation is returned again");
        let (status, listed) = call(&app, Method::GET, &format!("/v1/invitations/{}", team.company), Some(&team.admin), None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(listed["invitations"].as_array().unwrap().len(), 1);
        let (status, _) = call(&app, Method::GET, &format!("/v1/invitations/{}", team.company), Some(&team.reader), None).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let path = format!("/v1/invitation/{}", invitation["id"].as_str().unwrap());
        assert_eq!(call(&app, Method::DELETE, &path, Some(&team.user), None).await.0, StatusCode::FORBIDDEN);
        assert_eq!(call(&app, Method::DELETE, &path, Some(&team.outsider), None).await.0, StatusCode::FORBIDDEN);
        assert_eq!(call(&app, Method::DELETE, &path, Some(&team.admin), None).await.0, StatusCode::OK);
        assert_eq!(call(&app, Method::DELETE, &path, Some(&team.admin), None).await.0, StatusCode::NOT_FOUND);
        assert_eq!(call(&app, Method::DELETE, "/v1/invitation/not-a-uuid", Some(&team.admin), None).await.0, StatusCode::NOT_FOUND);
    }

    async fn companies_list_members_where_the_caller_may_see_them(db) {
        let app = TestApp::spawn(db).await;
        let team = team(&app).await;
        let (status, companies) = call(&app, Method::GET, "/v1/companies", Some(&team.admin), None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(companies.as_array().unwrap().len(), 1);
        assert_eq!(companies[0]["users"].as_array().unwrap().len(), 3);
        let roles: Vec<&str> = companies[0]["users"].as_array().unwrap().iter().map(|u| u["role"].as_str().unwrap()).collect();
        assert!(roles.contains(&"company_admin") && roles.contains(&"read_only_user"), "{roles:?}");
        let (_, seen_by_reader) = call(&app, Method::GET, "/v1/companies", Some(&team.reader), None).await;
        assert_eq!(seen_by_reader[0]["users"], json!([]), "no users:read, no member list");
        assert_eq!(call(&app, Method::GET, "/v1/companies", None, None).await.0, StatusCode::UNAUTHORIZED);

        // A child company appears under its parent.
        let (status, child) = call(&app, Method::POST, "/v1/companies", Some(&team.admin), Some(json!({"name": "Child Co"}))).await;
        assert_eq!(status, StatusCode::OK, "{child}");
        let (_, companies) = call(&app, Method::GET, "/v1/companies", Some(&team.admin), None).await;
        let parent = companies.as_array().unwrap().iter().find(|c| c["id"] == team.company).unwrap();
        assert_eq!(parent["children"][0]["name"], "Child Co");
        let (status, _) = call(&app, Method::POST, "/v1/companies", Some(&team.user), Some(json!({"name": "Nope"}))).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = call(&app, Method::POST, "/v1/companies", Some(&team.admin), Some(json!({"name": "  "}))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    }

    async fn company_routes_refuse_wrong_roles_and_foreign_ids(db) {
        let app = TestApp::spawn(db).await;
        let team = team(&app).await;
        let own = format!("/v1/companies/{}", team.company);
        let foreign = format!("/v1/companies/{}", team.outsider_company);
        let rename = || Some(json!({"name": "Renamed"}));

        let (status, body) = call(&app, Method::PATCH, &own, Some(&team.admin), rename()).await;
        assert_eq!((status, body["name"].as_str()), (StatusCode::OK, Some("Renamed")));
        let (status, body) = call(&app, Method::PUT, &own, Some(&team.user), rename()).await;
        assert_eq!((status, body), (StatusCode::FORBIDDEN, json!({"detail": "Insufficient permissions. Required scope: company:write"})));
        for (method, path) in [
            (Method::PATCH, foreign.clone()),
            (Method::DELETE, foreign.clone()),
            (Method::GET, format!("{foreign}/members")),
            (Method::GET, format!("/v1/invitations/{}", team.outsider_company)),
            (Method::DELETE, format!("{foreign}/users/{}", team.outsider.id)),
            (Method::PATCH, "/v1/companies/not-a-uuid".to_owned()),
        ] {
            let (status, body) = call(&app, method.clone(), &path, Some(&team.admin), rename()).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {body}");
        }
        let (status, body) = call(&app, Method::DELETE, &own, Some(&team.admin), None).await;
        assert_eq!((status, body), (StatusCode::FORBIDDEN, json!({"detail": "Insufficient permissions. Required scope: company:delete"})));
        let (status, _) = call(&app, Method::DELETE, &format!("{own}/users/{}", team.user.id), Some(&team.admin), None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "company admins lack users:delete");
        let change = json!({"role_id": 6, "company_id": team.company, "user_id": team.user.id});
        let (status, _) = call(&app, Method::PUT, "/v1/user/role", Some(&team.admin), Some(change)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "company admins lack users:roles");
    }

    async fn a_super_admin_changes_roles_and_the_change_is_seen_at_once(db) {
        let settings = Settings { superadmin_email: Some(ROOT.into()), ..Settings::default() };
        let app = TestApp::spawn_with(db, settings).await;
        let team = team(&app).await;
        let root = register(&app, ROOT, None).await;
        let (_, view) = call(&app, Method::GET, "/v1/user", Some(&root), None).await;
        assert_eq!(view["companies"][0]["role_id"], 0);

        // The reader is refused, then promoted, then allowed: no stale access.
        let (status, _) = invite(&app, &team.reader, "a@example.com", 6, &team.company).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let promote = json!({"role_id": 2, "company_id": team.company, "user_id": team.reader.id});
        let (status, body) = call(&app, Method::PUT, "/v1/user/role", Some(&root), Some(promote)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, _) = invite(&app, &team.reader, "a@example.com", 6, &team.company).await;
        assert_eq!(status, StatusCode::OK, "the new role applies to the next request");

        let own_role = json!({"role_id": 3, "company_id": team.company, "user_id": root.id});
        assert_eq!(call(&app, Method::PUT, "/v1/user/role", Some(&root), Some(own_role)).await,
            (StatusCode::FORBIDDEN, json!({"detail": "You cannot change your own role."})));
        let bad = json!({"role_id": 9, "company_id": team.company, "user_id": team.reader.id});
        assert_eq!(call(&app, Method::PUT, "/v1/user/role", Some(&root), Some(bad)).await.0, StatusCode::UNPROCESSABLE_ENTITY);

        // Removal takes effect at once too.
        let path = format!("/v1/companies/{}/users/{}", team.company, team.user.id);
        assert_eq!(call(&app, Method::DELETE, &path, Some(&root), None).await.0, StatusCode::OK);
        let (status, _) = call(&app, Method::GET, &format!("/v1/companies/{}/members", team.company), Some(&team.user), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "a removed member no longer sees the company");
        assert_eq!(call(&app, Method::DELETE, &path, Some(&root), None).await.0, StatusCode::NOT_FOUND);

        let (status, _) = call(&app, Method::DELETE, &format!("/v1/companies/{}", team.outsider_company), Some(&root), None).await;
        assert_eq!(status, StatusCode::OK);
        let (_, view) = call(&app, Method::GET, "/v1/user", Some(&team.outsider), None).await;
        assert_eq!(view["companies"], json!([]));
    }

    async fn listing_companies_costs_the_same_statements_for_one_or_many(db) {
        let app = TestApp::spawn(db).await;
        let team = team(&app).await;
        call(&app, Method::GET, "/v1/companies", Some(&team.admin), None).await;
        let (_, one) = app.counting(call(&app, Method::GET, "/v1/companies", Some(&team.admin), None)).await;
        for i in 0..3 {
            call(&app, Method::POST, "/v1/companies", Some(&team.admin), Some(json!({"name": format!("C{i}")}))).await;
        }
        call(&app, Method::GET, "/v1/companies", Some(&team.admin), None).await;
        let ((_, companies), four) = app.counting(call(&app, Method::GET, "/v1/companies", Some(&team.admin), None)).await;
        assert_eq!(companies.as_array().unwrap().len(), 4);
        assert_eq!(one, four);
        assert_eq!(four, 0, "assembled from the access, rosters and profiles held");
    }

    async fn the_company_list_follows_every_change_at_once(db) {
        let settings = Settings { superadmin_email: Some(ROOT.into()), ..Settings::default() };
        let app = TestApp::spawn_with(db, settings).await;
        let team = team(&app).await;
        let root = register(&app, ROOT, None).await;
        let ours = || async {
            let (status, companies) = call(&app, Method::GET, "/v1/companies", Some(&team.admin), None).await;
            assert_eq!(status, StatusCode::OK, "{companies}");
            companies.as_array().unwrap().iter().find(|c| c["id"] == team.company).unwrap().clone()
        };
        let member = |company: &Value, id: &str| company["users"].as_array().unwrap().iter().find(|u| u["id"] == id).cloned();
        assert_ne!(member(&ours().await, &team.user.id).unwrap()["first_name"], "Renamed", "held from here on");

        // A member's profile (their own write; the company is not named by it).
        let (status, _) = call(&app, Method::PUT, "/v1/user", Some(&team.user), Some(json!({"first_name": "Renamed"}))).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(member(&ours().await, &team.user.id).unwrap()["first_name"], "Renamed");
        // The company's own row.
        let own = format!("/v1/companies/{}", team.company);
        call(&app, Method::PATCH, &own, Some(&team.admin), Some(json!({"name": "New Name"}))).await;
        assert_eq!(ours().await["name"], "New Name");
        // A child created, renamed, then deleted.
        let (status, kid) = call(&app, Method::POST, "/v1/companies", Some(&team.admin), Some(json!({"name": "Kid"}))).await;
        assert_eq!(status, StatusCode::OK, "{kid}");
        let kid = kid["id"].as_str().unwrap().to_owned();
        assert_eq!(ours().await["children"][0]["name"], "Kid");
        call(&app, Method::PATCH, &format!("/v1/companies/{kid}"), Some(&team.admin), Some(json!({"name": "Kiddo"}))).await;
        assert_eq!(ours().await["children"][0]["name"], "Kiddo");
        let (status, body) = call(&app, Method::DELETE, &format!("/v1/companies/{kid}"), Some(&root), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(ours().await["children"], json!([]));
        // A role change, a removal, a new member.
        let promote = json!({"role_id": 3, "company_id": team.company, "user_id": team.reader.id});
        assert_eq!(call(&app, Method::PUT, "/v1/user/role", Some(&root), Some(promote)).await.0, StatusCode::OK);
        assert_eq!(member(&ours().await, &team.reader.id).unwrap()["role_id"], 3);
        let path = format!("/v1/companies/{}/users/{}", team.company, team.user.id);
        assert_eq!(call(&app, Method::DELETE, &path, Some(&root), None).await.0, StatusCode::OK);
        assert!(member(&ours().await, &team.user.id).is_none(), "removed");
        let email = format!("late{}@example.com", uuid::Uuid::new_v4().simple());
        let (_, invitation) = invite(&app, &team.admin, &email, 6, &team.company).await;
        let late = register(&app, &email, invitation["id"].as_str()).await;
        assert_eq!(member(&ours().await, &late.id).unwrap()["email"], email.as_str());
        // The members route reads the same roster.
        let (status, members) = call(&app, Method::GET, &format!("{own}/members"), Some(&team.admin), None).await;
        assert_eq!(status, StatusCode::OK);
        let ids: Vec<&str> = members["members"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
        assert!(ids.contains(&late.id.as_str()) && !ids.contains(&team.user.id.as_str()), "{ids:?}");
    }
}
