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

/// Request bodies come from the handlers' own extractors, and every schema they name is in
/// the document.
#[actix_web::test]
async fn request_bodies_are_the_handlers_own_and_every_reference_resolves() {
    let document: Value = serde_json::from_str(agentry::routes::openapi::document()).unwrap();
    let body = |method: &str, path: &str| document["paths"][path][method]["requestBody"].clone();
    let registration = body("post", "/v1/user");
    assert_eq!(registration["required"], true);
    assert_eq!(
        registration["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/Registration"
    );
    let schema = &document["components"]["schemas"]["Registration"];
    let required: Vec<&str> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    for field in ["email", "password", "confirm_password"] {
        assert!(required.contains(&field), "{field} in {required:?}");
    }
    assert!(schema["properties"]["invitation_id"].is_object());
    // An optional body, and none at all.
    assert_eq!(body("post", "/v1/billing/portal")["required"], false);
    assert!(body("get", "/v1/user").is_null());
    assert!(body("delete", "/v1/agent/{agent_id}").is_null());
    // Every body a handler extracts is described: each JSON route with a body names one.
    let with_body = ROUTES
        .iter()
        .filter(|r| !body(&r.method.to_lowercase(), &openapi_path(r.path)).is_null())
        .count();
    eprintln!(
        "openapi: {with_body} of {} operations describe a request body",
        ROUTES.len()
    );
    assert!(with_body >= 30, "{with_body}");

    // No two body types share a schema name (one would hide the other).
    let mut seen: std::collections::HashMap<String, Value> = std::collections::HashMap::new();
    for doc in agentry::routes::table::handler_docs() {
        let mut schemas = Vec::new();
        if let Some(describe) = doc.body {
            describe(&mut schemas);
        }
        if let Some(describe) = doc.response {
            describe(&mut schemas);
        }
        for (name, schema) in schemas {
            let schema = serde_json::to_value(&schema).unwrap();
            if let Some(previous) = seen.insert(name.clone(), schema.clone()) {
                assert_eq!(previous, schema, "two different schemas are named {name}");
            }
        }
    }

    // Every $ref resolves.
    fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(target)) = map.get("$ref") {
                    out.push(target);
                }
                map.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    refs(&document, &mut found);
    for target in found {
        let name = target.strip_prefix("#/components/schemas/").unwrap();
        assert!(
            document["components"]["schemas"][name].is_object(),
            "{target} is not in the document"
        );
    }
}

/// Every route that answers JSON documents its 200 body, read off the handler's return type;
/// only the document itself and the files commands leave are not JSON objects described by
/// a schema.
#[actix_web::test]
async fn response_bodies_are_the_handlers_own() {
    let document: Value = serde_json::from_str(agentry::routes::openapi::document()).unwrap();
    let success = |method: &str, path: &str| {
        document["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"]
            .clone()
    };
    let undocumented: Vec<String> = ROUTES
        .iter()
        .filter(|r| success(&r.method.to_lowercase(), &openapi_path(r.path)).is_null())
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        undocumented,
        [
            "GET /openapi.json",
            "GET /outputs/{agent_id}/{conversation_id}/{file*}"
        ]
    );
    let component = |schema: &Value| -> Value {
        let name = schema["$ref"]
            .as_str()
            .and_then(|r| r.strip_prefix("#/components/schemas/"))
            .map(str::to_owned);
        match name {
            Some(name) => document["components"]["schemas"][&name].clone(),
            None => schema.clone(),
        }
    };
    // The agent list (rendered once, served as is) is still described by its type.
    let agents = component(&success("get", "/v1/agent"));
    assert!(
        agents["properties"]["agents"]["items"].is_object(),
        "{agents}"
    );
    // A write's sentence: `{"message"}`; a catalog of providers by key.
    let renamed = component(&success("patch", "/v1/agent/{agent_id}"));
    assert_eq!(
        renamed["required"],
        serde_json::json!(["message"]),
        "{renamed}"
    );
    let providers = component(&success("get", "/v1/providers"));
    assert!(
        providers["properties"]["providers"]["additionalProperties"].is_object(),
        "{providers}"
    );
    // A bare list.
    assert_eq!(success("get", "/v1/extensions")["type"], "array");
}
