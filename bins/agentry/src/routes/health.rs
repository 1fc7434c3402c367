//! `/health` (the process is alive) and `/ready` (the database answers).

use actix_web::{HttpResponse, web};
use agentry_app::App;
use serde_json::json;

use crate::error::ApiError;

pub(super) async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

pub(super) async fn ready(app: web::Data<App>) -> Result<HttpResponse, ApiError> {
    let app = app.into_inner();
    app.run(move |app, _| app.ready()).await?;
    Ok(HttpResponse::Ok().json(json!({ "status": "ready" })))
}
