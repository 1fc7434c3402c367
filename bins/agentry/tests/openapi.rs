//! `/openapi.json` names exactly the routes the server answers: generated from the one route
//! table that also mounts the handlers and drives the guard.
#![expect(clippy::unwrap_used, reason = "helpers of a test crate")]

use std::collections::BTreeSet;

use actix_web::{App, HttpResponse, test, web};
use agentry::routes::openapi::openapi_path;
use agentry::routes::table::{Guard, ROUTES, configure};
use agentry_test_support::{TestApp, app_tests};
use reqwest::StatusCode;
use serde_json::Value;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// Every (METHOD, path) the document names, with its operation.
fn operations(document: &Value) -> Vec<(String, String, Value)> {
    let mut found = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in METHODS {
            if let Some(operation) = item.get(method) {
                found.push((method.to_uppercase(), path.clone(), operation.clone()));
            }
        }
    }
    found
}

fn declared() -> BTreeSet<(String, String)> {
    ROUTES
        .iter()
        .map(|r| (r.method.to_owned(), openapi_path(r.path)))
        .collect()
}

app_tests! {
    async fn the_document_names_every_declared_route_and_nothing_else(db) {
        let app = TestApp::spawn(db).await;
        let response = app.get("/openapi.json").await;
        assert_eq!(response.status(), StatusCode::OK);
        let document: Value = response.json().await.unwrap();
        assert_eq!(document["openapi"], "3.1.0");
        let ops = operations(&document);
        let documented: BTreeSet<(String, String)> =
            ops.iter().map(|(m, p, _)| (m.clone(), p.clone())).collect();
        assert_eq!(documented.len(), ops.len(), "no operation twice");
        let declared = declared();
        let missing: Vec<_> = declared.difference(&documented).collect();
        let extra: Vec<_> = documented.difference(&declared).collect();
        assert!(missing.is_empty(), "served but not documented: {missing:?}");
        assert!(extra.is_empty(), "documented but not served: {extra:?}");
        eprintln!("openapi: {} routes served, {} documented", ROUTES.len(), ops.len());

        // What each operation says of its guard.
        let ids: BTreeSet<&str> = ops.iter().map(|(_, _, o)| o["operationId"].as_str().unwrap()).collect();
        assert_eq!(ids.len(), ops.len(), "operation ids are unique");
        for spec in ROUTES {
            let (_, _, operation) = ops.iter().find(|(m, p, _)| m == spec.method && *p == openapi_path(spec.path)).unwrap();
            assert_eq!(operation["security"].is_array(), spec.guard != Guard::Public, "{} {}", spec.method, spec.path);
            assert_eq!(operation["x-agentry-scope"].as_str(), spec.guard.scope(), "{} {}", spec.method, spec.path);
            let parameters: Vec<&str> = operation["parameters"].as_array().map(|p| p.iter().map(|p| p["name"].as_str().unwrap()).collect()).unwrap_or_default();
            let in_path = spec.path.matches('{').count();
            assert_eq!(parameters.len(), in_path, "{} {}", spec.method, spec.path);
        }

        // Anything outside the table is not served, even with a handler.
        assert_eq!(app.get("/v1/nowhere").await.status(), StatusCode::NOT_FOUND);
    }
}

/// Every documented operation reaches a handler: the router's fallback (a teapot here) never
/// answers one of them.
#[actix_web::test]
async fn every_documented_route_reaches_its_handler() {
    let service = test::init_service(
        App::new()
            .configure(configure)
            .default_service(web::to(|| async { HttpResponse::ImATeapot().finish() })),
    )
    .await;
    let document: Value = serde_json::from_str(agentry::routes::openapi::document()).unwrap();
    let ops = operations(&document);
    assert_eq!(ops.len(), ROUTES.len());
    for (method, path, _) in &ops {
        let concrete: String = path
            .split('/')
            .map(|s| if s.starts_with('{') { "x" } else { s })
            .collect::<Vec<_>>()
            .join("/");
        let request = test::TestRequest::default()
            .method(method.parse().unwrap())
            .uri(&concrete)
            .to_request();
        let response = test::call_service(&service, request).await;
        assert_ne!(
            response.status(),
            actix_web::http::StatusCode::IM_A_TEAPOT,
            "{method} {path} has no handler"
        );
    }
    // The fallback does answer what is not declared.
    let response = test::call_service(
        &service,
        test::TestRequest::get().uri("/v1/nowhere").to_request(),
    )
    .await;
    assert_eq!(response.status(), actix_web::http::StatusCode::IM_A_TEAPOT);
}
