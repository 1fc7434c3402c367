//! Extractors shared by the routes.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use agentry_app::session::Verified;
use agentry_app::{App, Caller};

use crate::error::ApiError;

/// The authenticated caller. The token is checked in memory; only the first request of a
/// user this process has not seen reads the user's revocation state (on the blocking pool).
pub struct Auth(pub Caller);

impl FromRequest for Auth {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Auth, ApiError>>>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let app = req.app_data::<web::Data<App>>().cloned();
        let token = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        Box::pin(async move {
            let app = app.ok_or_else(|| ApiError::internal("App is not configured"))?;
            match app.verify_token(token.as_deref())? {
                Verified::Caller(caller) => Ok(Auth(caller)),
                Verified::NeedsLookup(claims, user) => {
                    let caller = web::block(move || app.lookup_and_admit(&claims, user)).await??;
                    Ok(Auth(caller))
                }
            }
        })
    }
}

/// The client's address: the peer, never a forwarded header (trusted proxies are not
/// configurable yet, so `X-Forwarded-For` is ignored).
pub fn client_ip(req: &HttpRequest) -> Option<String> {
    req.peer_addr().map(|addr| addr.ip().to_string())
}
