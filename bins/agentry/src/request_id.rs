//! A request id per request: taken from a sane incoming `X-Request-Id` or made fresh, returned
//! in the response header, carried by the request's tracing span, and readable anywhere in
//! the request's task (error bodies quote it).

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::Instrument;

pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The current request's id ("" outside a request).
pub fn current() -> String {
    REQUEST_ID.try_with(Clone::clone).unwrap_or_default()
}

fn incoming(req: &ServiceRequest) -> Option<String> {
    let value = req.headers().get(HEADER)?.to_str().ok()?;
    let sane = !value.is_empty()
        && value.len() <= 128
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
    sane.then(|| value.to_owned())
}

/// The middleware (`actix_web::middleware::from_fn(request_id::middleware)`).
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody + 'static>, actix_web::Error> {
    let id = incoming(&req).unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        path = %req.path(),
    );
    let started = Instant::now();
    let header = HeaderValue::from_str(&id).ok();
    let result = REQUEST_ID
        .scope(id, next.call(req))
        .instrument(span.clone())
        .await;
    let _entered = span.enter();
    match result {
        Ok(mut res) => {
            let status = res.status().as_u16();
            let micros = started.elapsed().as_micros() as u64;
            if status >= 500 {
                tracing::warn!(target: "agentry::access", status, micros, "request failed");
            } else {
                tracing::debug!(target: "agentry::access", status, micros, "request served");
            }
            if let Some(header) = header {
                res.headers_mut().insert(HEADER, header);
            }
            Ok(res)
        }
        Err(error) => Err(error),
    }
}
