//! Routes, one `configure` per resource.

pub mod health;
pub mod user;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, Resource, web};

use crate::error::ApiError;

/// A resource whose unmatched methods answer 405 (actix would fall through to the app's 404).
pub fn resource(path: &str) -> Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

async fn method_not_allowed() -> Result<HttpResponse, ApiError> {
    Err(ApiError::status(
        StatusCode::METHOD_NOT_ALLOWED,
        "Method Not Allowed",
    ))
}
