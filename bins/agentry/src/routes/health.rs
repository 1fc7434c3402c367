//! `/health` (the process is alive) and `/ready` (the database answers).

use actix_web::{HttpResponse, web};
use agentry_app::App;
use serde_json::json;

use crate::error::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/health").route(web::get().to(health)))
        .service(web::resource("/ready").route(web::get().to(ready)));
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

async fn ready(app: web::Data<App>) -> Result<HttpResponse, ApiError> {
    let app = app.into_inner();
    web::block(move || app.ready()).await??;
    Ok(HttpResponse::Ok().json(json!({ "status": "ready" })))
}
