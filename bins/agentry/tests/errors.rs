//! The error mapping at the edge, exercised through the real application value with a few
#![expect(clippy::unwrap_used, reason = "helpers of a test crate")]
//! extra routes that fail in each way a handler or extractor can.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, test, web};
use agentry::error::ApiError;
use agentry::routes::table::{Guard, RouteSpec, RouteTable};
use agentry::startup::http_app;

const fn route(method: &'static str, path: &'static str, guard: Guard) -> RouteSpec {
    RouteSpec::new(method, path, guard)
}
use agentry_app::App;
use agentry_test_support::TestDb;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
struct Greeting {
    #[serde(rename = "name")]
    _name: String,
    #[serde(rename = "count")]
    _count: u32,
}

async fn echo(_body: web::Json<Greeting>) -> HttpResponse {
    HttpResponse::Ok().json(json!({"ok": true}))
}

async fn explode() -> Result<HttpResponse, ApiError> {
    Err(ApiError::internal(
        "password=hunter2 in SELECT * FROM users",
    ))
}

async fn plain_text_error() -> HttpResponse {
    HttpResponse::BadRequest().body("not json")
}

async fn by_id(path: web::Path<u32>) -> HttpResponse {
    HttpResponse::Ok().json(json!({"id": path.into_inner()}))
}

const LIMIT: usize = 2048;

macro_rules! service {
    () => {{
        let db = TestDb::sqlite();
        let (pool, _) = db.pool();
        let app = http_app(
            web::Data::new(App::new(pool, agentry_app::Settings::for_tests())),
            LIMIT,
        )
        .route("/echo", web::post().to(echo))
        .route("/explode", web::get().to(explode))
        .route("/plain", web::get().to(plain_text_error))
        .route("/items/{id}", web::get().to(by_id))
        .route("/undeclared", web::get().to(plain_text_error))
        // This application's own routes, declared like every route.
        .app_data(web::Data::new(RouteTable::with(&[
            route("POST", "/echo", Guard::Public),
            route("GET", "/explode", Guard::Public),
            route("GET", "/plain", Guard::Public),
            route("GET", "/items/{id}", Guard::Public),
        ])));
        (test::init_service(app).await, db)
    }};
}

async fn call(
    service: &impl actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
    >,
    request: test::TestRequest,
) -> (StatusCode, String, Value) {
    let response = test::call_service(service, request.to_request()).await;
    let status = response.status();
    let id = response
        .headers()
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        response.headers().get("content-type").unwrap(),
        "application/json"
    );
    let body: Value = test::read_body_json(response).await;
    (status, id, body)
}

#[actix_web::test]
async fn malformed_json_is_422_in_fastapis_shape() {
    let (service, _db) = service!();
    let request = test::TestRequest::post()
        .uri("/echo")
        .insert_header(("content-type", "application/json"))
        .set_payload("{\"name\": ");
    let (status, _, body) = call(&service, request).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let issue = &body["detail"][0];
    assert_eq!(issue["loc"], json!(["body"]));
    assert_eq!(issue["type"], "json_invalid");
    assert!(issue["msg"].as_str().unwrap().contains("JSON"));
}

#[actix_web::test]
async fn missing_and_mistyped_fields_are_422() {
    let (service, _db) = service!();
    for payload in [
        json!({"name": "x"}),
        json!({"name": "x", "count": "three"}),
        json!([1]),
    ] {
        let request = test::TestRequest::post().uri("/echo").set_json(&payload);
        let (status, _, body) = call(&service, request).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{payload}");
        assert_eq!(body["detail"][0]["type"], "value_error");
    }
    let ok = test::TestRequest::post()
        .uri("/echo")
        .set_json(json!({"name": "x", "count": 3}));
    let (status, _, body) = call(&service, ok).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"ok": true})));
}

#[actix_web::test]
async fn oversized_and_non_json_bodies_are_refused() {
    let (service, _db) = service!();
    let big = format!("{{\"name\": \"{}\", \"count\": 1}}", "x".repeat(LIMIT));
    let request = test::TestRequest::post()
        .uri("/echo")
        .insert_header(("content-type", "application/json"))
        .set_payload(big);
    let (status, _, body) = call(&service, request).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(body["detail"].as_str().unwrap().contains("2048"));

    let request = test::TestRequest::post()
        .uri("/echo")
        .insert_header(("content-type", "text/plain"))
        .set_payload("{}");
    let (status, _, _) = call(&service, request).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[actix_web::test]
async fn internal_errors_are_opaque_and_carry_the_request_id() {
    let (service, _db) = service!();
    let (status, id, body) = call(&service, test::TestRequest::get().uri("/explode")).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        body,
        json!({"detail": "Internal server error", "request_id": id})
    );
    assert!(!body.to_string().contains("hunter2"));
}

#[actix_web::test]
async fn non_json_error_bodies_become_detail_objects() {
    let (service, _db) = service!();
    let (status, _, body) = call(&service, test::TestRequest::get().uri("/plain")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, json!({"detail": "Bad Request"}));
}

#[actix_web::test]
async fn bad_path_parameters_are_422() {
    let (service, _db) = service!();
    let (status, _, body) = call(&service, test::TestRequest::get().uri("/items/abc")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["detail"][0]["loc"], json!(["path"]));
    let (status, _, body) = call(&service, test::TestRequest::get().uri("/items/7")).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"id": 7})));
}

#[actix_web::test]
async fn a_route_missing_from_the_table_is_never_served() {
    let (service, _db) = service!();
    let (status, _, body) = call(&service, test::TestRequest::get().uri("/undeclared")).await;
    assert_eq!(
        (status, body),
        (StatusCode::NOT_FOUND, json!({"detail": "Not Found"}))
    );
    let (status, _, _) = call(&service, test::TestRequest::delete().uri("/plain")).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}
