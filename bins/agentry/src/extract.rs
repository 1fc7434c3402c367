//! Extractors shared by the routes.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use agentry_app::{App, Caller};

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
