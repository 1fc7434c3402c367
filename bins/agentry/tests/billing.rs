//! Token billing over HTTP on both backends: the configuration, balances, crediting with the
//! server key, and the 402 paywall on GET /v1/user.
#![expect(clippy::unwrap_used, reason = "helpers of a test crate")]

use agentry::config::Settings;
use agentry_test_support::{TEST_API_KEY, TestApp, app_tests};
use reqwest::{Method, StatusCode};
use serde_json::json;

async fn company_of(app: &TestApp, token: &str) -> String {
    let (_, view) = app.call(Method::GET, "/v1/user", Some(token), None).await;
    view["companies"][0]["id"].as_str().unwrap().to_owned()
}

app_tests! {
    async fn balances_with_billing_off(db) {
        let app = TestApp::spawn(db).await;
        let (status, config) = app.call(Method::GET, "/v1/billing/config", None, None).await;
        assert_eq!((status, config), (StatusCode::OK, json!({"billing_enabled": false, "token_price_usd": 0.0})));
        let (admin, _) = app.register("admin@example.com", None).await;
        let (outsider, _) = app.register("outsider@example.com", None).await;
        let company = company_of(&app, &admin).await;
        let path = format!("/v1/billing/tokens/balance?company_id={company}&sync=false");
        let (status, balance) = app.call(Method::GET, &path, Some(&admin), None).await;
        assert_eq!(status, StatusCode::OK, "{balance}");
        assert_eq!(balance["token_balance"], 0);
        assert_eq!(balance["available_tokens"], 0);
        assert_eq!(balance["low_balance_warning"], true, "a new company is below the threshold");
        assert_eq!(balance["is_child_company"], false);
        assert!(balance.get("parent_company_id").is_none());

        assert_eq!(app.call(Method::GET, &path, Some(&outsider), None).await.0, StatusCode::NOT_FOUND);
        assert_eq!(app.call(Method::GET, &path, None, None).await.0, StatusCode::UNAUTHORIZED);
        assert_eq!(app.call(Method::GET, "/v1/billing/tokens/balance", Some(&admin), None).await.0, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(app.call(Method::GET, "/v1/billing/tokens/balance?company_id=nope", Some(&admin), None).await.0, StatusCode::NOT_FOUND);

        // Crediting takes the server's own key; $1 buys 2M tokens at the $0.50 default.
        let credit = format!("/v1/credit?company={company}&amount=1");
        assert_eq!(app.call(Method::POST, &credit, Some(&admin), None).await.0, StatusCode::UNAUTHORIZED);
        let (status, body) = app.call(Method::POST, &credit, Some(TEST_API_KEY), None).await;
        assert_eq!((status, body["tokens"].as_i64()), (StatusCode::OK, Some(2_000_000)));
        assert_eq!(app.call(Method::POST, &format!("/v1/credit?company={company}&amount=-5"), Some(TEST_API_KEY), None).await.0, StatusCode::UNPROCESSABLE_ENTITY);
        let unknown = format!("/v1/credit?company={}&amount=1", uuid::Uuid::new_v4());
        assert_eq!(app.call(Method::POST, &unknown, Some(TEST_API_KEY), None).await.0, StatusCode::NOT_FOUND);
        let (_, balance) = app.call(Method::GET, &path, Some(&admin), None).await;
        assert_eq!(balance["token_balance"], 2_000_000);
        let (_, view) = app.call(Method::GET, "/v1/user", Some(&admin), None).await;
        assert_eq!(view["companies"][0]["token_balance"], 2_000_000, "the view shows the credit at once");

        // Held: the balance route reads nothing more until a billing change.
        let (_, statements) = app.counting(app.call(Method::GET, &path, Some(&admin), None)).await;
        assert_eq!(statements, 0);
        // A child company follows its root, and sees the root's next credit at once.
        let (status, kid) = app.call(Method::POST, "/v1/companies", Some(&admin), Some(json!({"name": "Kid"}))).await;
        assert_eq!(status, StatusCode::OK, "{kid}");
        let kid_path = format!("/v1/billing/tokens/balance?company_id={}", kid["id"].as_str().unwrap());
        let (status, balance) = app.call(Method::GET, &kid_path, Some(&admin), None).await;
        assert_eq!(status, StatusCode::OK, "{balance}");
        assert_eq!((balance["is_child_company"].clone(), balance["parent_company_id"].clone()), (json!(true), json!(company)));
        assert_eq!((balance["token_balance"].clone(), balance["parent_token_balance"].clone()), (json!(0), json!(2_000_000)));
        let (_, root_balance) = app.call(Method::GET, &path, Some(&admin), None).await;
        assert_eq!(balance["low_balance_warning"], root_balance["low_balance_warning"], "the root's balance decides");
        let (_, statements) = app.counting(app.call(Method::GET, &kid_path, Some(&admin), None)).await;
        assert_eq!(statements, 1, "the child's root (one recursive statement)");
        app.call(Method::POST, &format!("/v1/credit?company={company}&amount=1"), Some(TEST_API_KEY), None).await;
        let (_, balance) = app.call(Method::GET, &kid_path, Some(&admin), None).await;
        assert_eq!(balance["parent_token_balance"], 4_000_000);
    }

    async fn the_paywall_answers_402_until_a_company_holds_tokens(db) {
        let settings = Settings {
            token_price_per_million_usd: Some(2.0),
            superadmin_email: Some("root@example.com".into()),
            ..Settings::default()
        };
        let app = TestApp::spawn_with(db, settings).await;
        let (config_status, config) = app.call(Method::GET, "/v1/billing/config", None, None).await;
        assert_eq!((config_status, config["billing_enabled"].as_bool()), (StatusCode::OK, Some(true)));
        let (user, _) = app.register("payer@example.com", None).await;
        let (status, body) = app.call(Method::GET, "/v1/user", Some(&user), None).await;
        assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{body}");
        assert_eq!(body["detail"]["message"], "Insufficient token balance. Please top up your tokens.");
        assert_eq!(body["detail"]["token_price_per_million_usd"], 2.0);
        let company = body["detail"]["customer_session"]["company_id"].as_str().unwrap().to_owned();
        assert_eq!(app.call(Method::GET, "/v1/user", Some(&user), None).await.0, StatusCode::PAYMENT_REQUIRED, "again, from memory");

        // A super admin is never held back.
        let (root, _) = app.register("root@example.com", None).await;
        assert_eq!(app.call(Method::GET, "/v1/user", Some(&root), None).await.0, StatusCode::OK);

        // $10 at $2 a million: 5M tokens, and the paywall opens at once.
        let (status, body) = app.call(Method::POST, &format!("/v1/credit?company={company}&amount=10"), Some(TEST_API_KEY), None).await;
        assert_eq!((status, body["tokens"].as_i64()), (StatusCode::OK, Some(5_000_000)));
        let (status, view) = app.call(Method::GET, "/v1/user", Some(&user), None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(view["companies"][0]["token_balance"], 5_000_000);
    }
}

mod usage_and_warnings {
    use super::*;

    app_tests! {
        async fn usage_totals_and_warnings_for_members_only(db) {
            let app = TestApp::spawn(db).await;
            let (admin, _) = app.register("admin@example.com", None).await;
            let (outsider, _) = app.register("outsider@example.com", None).await;
            let company = company_of(&app, &admin).await;
            let (status, usage) = app.call(Method::GET, &format!("/v1/billing/usage?company_id={company}"), Some(&admin), None).await;
            assert_eq!((status, usage), (StatusCode::OK, json!({"usage": []})));
            let (status, totals) = app.call(Method::GET, &format!("/v1/billing/usage/totals?company_id={company}"), Some(&admin), None).await;
            assert_eq!((status, totals), (StatusCode::OK, json!({"input_tokens": 0, "output_tokens": 0, "total_tokens": 0})));

            let warn = format!("/v1/billing/tokens/should_warn?company_id={company}");
            let (_, warning) = app.call(Method::GET, &warn, Some(&admin), None).await;
            assert_eq!(warning["should_warn"], true, "0 tokens is below the default threshold");
            let (status, _) = app.call(Method::POST, "/v1/billing/tokens/warning/dismiss", Some(&admin), Some(json!({"company_id": company}))).await;
            assert_eq!(status, StatusCode::OK);
            let (_, warning) = app.call(Method::GET, &warn, Some(&admin), None).await;
            assert_eq!(warning["should_warn"], false, "dismissed until the balance drops further");

            for path in [
                format!("/v1/billing/usage?company_id={company}"),
                format!("/v1/billing/usage/totals?company_id={company}"),
                warn.clone(),
            ] {
                assert_eq!(app.call(Method::GET, &path, Some(&outsider), None).await.0, StatusCode::NOT_FOUND, "{path}");
                assert_eq!(app.call(Method::GET, &path, None, None).await.0, StatusCode::UNAUTHORIZED, "{path}");
            }
            let (status, _) = app.call(Method::POST, "/v1/billing/tokens/warning/dismiss", Some(&outsider), Some(json!({"company_id": company}))).await;
            assert_eq!(status, StatusCode::NOT_FOUND);
        }
    }
}
