//! Routes: the handlers by resource, the one table that declares them (`table`), and the
//! OpenAPI document built from it (`openapi`).

pub mod agents;
pub mod billing;
pub mod chains;
pub mod chat;
pub mod companies;
pub mod conversations;
pub mod health;
pub mod openapi;
pub mod prompts;
pub mod roles;
pub mod table;
pub mod tokens;
pub mod user;

/// A JSON body with its ETag, or 304 Not Modified when the request's `If-None-Match` names
/// that tag.
pub(crate) fn with_etag(
    req: &actix_web::HttpRequest,
    etag: &str,
    body: String,
    cache_control: &str,
) -> actix_web::HttpResponse {
    use actix_web::http::header;
    let matches = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.split(',').any(|tag| tag.trim() == etag));
    let mut response = if matches {
        actix_web::HttpResponse::NotModified()
    } else {
        actix_web::HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, etag.to_owned()))
        .insert_header((header::CACHE_CONTROL, cache_control.to_owned()));
    if matches {
        response.finish()
    } else {
        response.content_type("application/json").body(body)
    }
}
