//! Requests that race each other: the database's constraints decide, and the loser gets a
//! clear answer, never a 500 (both backends).
#![expect(clippy::expect_used, reason = "helpers of a test crate")]

use agentry_domain::CompanyId;
use agentry_store::DbUuid;
use agentry_store::companies::{InvitationRow, insert_invitation};
use agentry_test_support::{TestApp, app_tests};
use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn company_of(app: &TestApp, token: &str) -> String {
    let (_, user) = app.call(Method::GET, "/v1/user", Some(token), None).await;
    user["companies"][0]["id"]
        .as_str()
        .expect("a company")
        .to_owned()
}

app_tests! {
    async fn concurrent_invitations_and_acceptances_of_one_account(db) {
        // Found: two concurrent invitations of the same account answered 500.
        let app = TestApp::spawn(db).await;
        let (admin, _) = app.register("race-admin@example.com", None).await;
        let (invitee, _) = app.register("race-invitee@example.com", None).await;
        let company = company_of(&app, &admin).await;
        let invitations = join_all((0..8).map(|_| {
            let (app, admin, company) = (&app, &admin, &company);
            async move {
                app.call(Method::POST, "/v1/invitations", Some(admin), Some(json!({
                    "email": "race-invitee@example.com", "company_id": company, "role_id": 3
                }))).await
            }
        }))
        .await;
        for (status, body) in &invitations {
            assert!([StatusCode::OK, StatusCode::CONFLICT].contains(status), "{status}: {body}");
        }
        // However the invitations raced, two pending ones for the same company: accepting both
        // at once races on the membership itself.
        let company_id: CompanyId = company.parse().expect("a company id");
        insert_invitation(&mut app.db.connect(), &InvitationRow {
            id: DbUuid::new(),
            email: "race-invitee@example.com".into(),
            company_id: company_id.into(),
            role_id: 3,
            inviter_id: None,
            is_accepted: false,
            accepted_by: None,
            created_at: chrono::Utc::now().naive_utc(),
        }).expect("a second invitation");
        let (status, pending) = app.call(Method::GET, "/v1/user/invitations", Some(&invitee), None).await;
        assert_eq!(status, StatusCode::OK, "{pending}");
        let ids: Vec<String> = pending["invitations"].as_array().expect("a list").iter()
            .map(|i| i["id"].as_str().expect("an id").to_owned()).collect();
        assert!(ids.len() >= 2, "{ids:?}");
        // Every pending invitation accepted twice at once: one membership, no 500.
        let accepted = join_all(ids.iter().chain(ids.iter()).map(|id| {
            let (app, invitee) = (&app, &invitee);
            async move { app.call(Method::POST, &format!("/v1/invitations/{id}/accept"), Some(invitee), None).await }
        }))
        .await;
        for (status, body) in &accepted {
            assert!([StatusCode::OK, StatusCode::NOT_FOUND].contains(status), "{status}: {body}");
        }
        assert!(accepted.iter().any(|(status, _)| *status == StatusCode::OK));
        let (_, user) = app.call(Method::GET, "/v1/user", Some(&invitee), None).await;
        let memberships = user["companies"].as_array().expect("companies").iter()
            .filter(|c| c["id"] == Value::String(company.clone())).count();
        assert_eq!(memberships, 1);
    }
}
