//! Extractors shared by the routes.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use agentry_app::{App, Caller};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::ApiError;
use crate::guard::authenticate;

/// The authenticated caller. The token is checked in memory; only the first request of a
/// user this process has not seen reads the user's revocation state (on the blocking pool).
pub struct Auth(pub Caller);

impl FromRequest for Auth {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Auth, ApiError>>>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        // The guard middleware has usually authenticated the request already.
        if let Some(caller) = req.extensions().get::<Caller>().cloned() {
            return Box::pin(std::future::ready(Ok(Auth(caller))));
        }
        let app = req.app_data::<web::Data<App>>().cloned();
        let token = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        Box::pin(async move {
            let app = app.ok_or_else(|| ApiError::internal("App is not configured"))?;
            Ok(Auth(authenticate(&app, token).await?))
        })
    }
}

/// The client's address: the peer, or what a trusted proxy says in `X-Forwarded-For`.
pub fn client_ip(req: &HttpRequest) -> Option<String> {
    let forwarded = req
        .headers()
        .get("x-forwarded-for")
        .and_then(|value| value.to_str().ok());
    let peer = req.peer_addr().map(|addr| addr.ip());
    match req.app_data::<web::Data<crate::limits::Limits>>() {
        Some(limits) => limits.client(peer, forwarded),
        None => peer,
    }
    .map(|ip| ip.to_string())
}

/// A JSON body, as `web::Json` reads it (`JsonConfig`'s limit, content type and errors), that
/// refuses text holding a NUL character anywhere, keys included: 422, on both backends
/// (PostgreSQL cannot store it; no client needs it).
pub struct Json<T>(pub T);

impl<T> Json<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Json<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> std::ops::DerefMut for Json<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Json<T>, actix_web::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = web::Json::<Value>::from_request(req, payload);
        Box::pin(async move {
            let value = body.await?.into_inner();
            if holds_nul(&value) {
                return Err(ApiError::nul("body").into());
            }
            serde_json::from_value(value)
                .map(Json)
                .map_err(|cause| ApiError::body_value(cause.to_string()).into())
        })
    }
}

/// Whether any string of `value`, or any key, holds a NUL character.
fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(fields) => fields
            .iter()
            .any(|(key, value)| key.contains('\0') || holds_nul(value)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_characters_are_found_in_strings_and_keys_at_any_depth() {
        assert!(!holds_nul(
            &serde_json::json!({"a": ["b", {"c": 1}], "d": null})
        ));
        assert!(holds_nul(&serde_json::json!({"a": ["b", {"c": "x\0y"}]})));
        assert!(holds_nul(&serde_json::json!({"a\0": 1})));
        // An escaped backslash followed by "u0000" is six ordinary characters.
        let text = serde_json::from_str::<Value>(r#"{"a": "\\u0000"}"#);
        assert!(
            matches!(text, Ok(ref value) if !holds_nul(value)),
            "{text:?}"
        );
    }
}
