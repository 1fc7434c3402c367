//! The guard middleware: enforces the route table's guard before any handler runs and hands
//! the handler its `Caller` (and `Access`) through the request's extensions.

use std::sync::Arc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{StatusCode, header};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, web};
use agentry_app::session::Verified;
use agentry_app::{App, Caller};
use agentry_domain::CompanyId;
use agentry_domain::access::Access;

use crate::error::ApiError;
use crate::routes::table::{Guard, Lookup, RouteTable, path_param};

/// Authenticate from the `Authorization` header: in memory, or with one read on the blocking
/// pool the first time this process sees the user.
pub async fn authenticate(
    app: &web::Data<App>,
    header: Option<String>,
) -> Result<Caller, ApiError> {
    match app.sessions().verify_token(header.as_deref())? {
        Verified::Caller(caller) => Ok(caller),
        Verified::NeedsLookup(claims, user) => {
            let app = app.clone();
            Ok(app
                .run(move |app, uow| app.sessions().lookup_and_admit(uow, &claims, user))
                .await?)
        }
        Verified::NeedsTokenLookup(hash) => {
            let app = app.clone();
            Ok(app
                .run(move |app, uow| app.sessions().lookup_token(uow, &hash))
                .await?)
        }
    }
}

async fn access(app: &web::Data<App>, caller: &Caller) -> Result<Arc<Access>, ApiError> {
    if let Some(access) = app.sessions().cached_caller_access(caller) {
        return Ok(access);
    }
    let app = app.clone();
    let caller = caller.clone();
    Ok(app
        .run(move |app, uow| app.sessions().caller_access(uow, &caller))
        .await?)
}

pub fn insufficient(scope: &str) -> ApiError {
    ApiError::status(
        StatusCode::FORBIDDEN,
        format!("Insufficient permissions. Required scope: {scope}"),
    )
}

pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody + 'static>>, actix_web::Error> {
    match check(&req).await {
        Ok(()) => next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body),
        // A refusal is a response, like any handler's error.
        Err(refusal) => Ok(req.error_response(refusal).map_into_right_body()),
    }
}

/// Enforce the guard the table declares for this request; on success the request carries
/// the `Caller` (and, for scoped routes, the `Access`).
async fn check(req: &ServiceRequest) -> Result<(), ApiError> {
    let standard;
    let routes = match req.app_data::<web::Data<RouteTable>>() {
        Some(routes) => routes.get_ref(),
        None => {
            standard = RouteTable::standard();
            &standard
        }
    };
    // A NUL character in the path or the query (`%00`) is refused like one in a body.
    for (location, text) in [("path", req.uri().path()), ("query", req.query_string())] {
        if text.contains("%00") {
            return Err(ApiError::nul(location));
        }
    }
    // Fail closed: a route missing from the table is never served.
    let spec = match routes.find(req.method(), req.path()) {
        Lookup::Found(spec) => *spec,
        Lookup::WrongMethod => {
            return Err(ApiError::status(
                StatusCode::METHOD_NOT_ALLOWED,
                "Method Not Allowed",
            ));
        }
        Lookup::Unknown => return Err(ApiError::status(StatusCode::NOT_FOUND, "Not Found")),
    };
    if crate::limits::LIMITED.contains(&(spec.method, spec.path))
        && let Some(limits) = req.app_data::<web::Data<crate::limits::Limits>>()
        && let Some(client) = client_address(req, limits)
        && let Err(wait) = limits.admit(client)
    {
        return Err(ApiError::RetryLater {
            status: StatusCode::TOO_MANY_REQUESTS,
            detail: "Too many requests. Please try again later.".to_owned(),
            // Rounded up: a client that waits exactly this long is admitted.
            retry_after: (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1),
        });
    }
    if spec.guard == Guard::Public {
        return Ok(());
    }
    let app = req
        .app_data::<web::Data<App>>()
        .cloned()
        .ok_or_else(|| ApiError::internal("App is not configured"))?;
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    if spec.guard == Guard::ServerKey {
        return if app.billing().is_server_key(token.as_deref()) {
            Ok(())
        } else {
            Err(ApiError::status(
                StatusCode::UNAUTHORIZED,
                "Invalid API Key",
            ))
        };
    }
    let caller = authenticate(&app, token).await?;
    // What the credential itself allows: a personal access token only what it was granted.
    if let Some(scope) = spec.guard.scope()
        && !caller.may(scope)
    {
        return Err(insufficient(scope));
    }
    match spec.guard {
        // Body- and agent-scoped routes name their company through the body or the agent:
        // the use case checks the scope there.
        Guard::Public
        | Guard::ServerKey
        | Guard::Token(_)
        | Guard::BodyScope(_)
        | Guard::AgentScope(_) => {}
        Guard::Session => {
            if caller.token.is_some() {
                return Err(ApiError::status(
                    StatusCode::FORBIDDEN,
                    "This needs a signed-in session, not a personal access token",
                ));
            }
        }
        Guard::Scope(scope) => {
            let access = access(&app, &caller).await?;
            if !access.allows(None, scope) {
                return Err(insufficient(scope));
            }
            req.extensions_mut().insert(access);
        }
        Guard::SuperAdmin => {
            let access = access(&app, &caller).await?;
            if !access.is_super_admin() {
                return Err(insufficient("server:admin"));
            }
            req.extensions_mut().insert(access);
        }
        Guard::CompanyMember(_) | Guard::CompanyScope(_) => {
            let not_found = || ApiError::status(StatusCode::NOT_FOUND, "Company not found");
            let company: CompanyId = path_param(spec.path, req.path(), "company_id")
                .and_then(|id| id.parse().ok())
                .ok_or_else(not_found)?;
            let access = access(&app, &caller).await?;
            // Another company's id answers exactly like an unknown one.
            if !(access.is_member(company) || access.is_super_admin()) {
                return Err(not_found());
            }
            if let Guard::CompanyScope(scope) = spec.guard
                && !access.allows(Some(company), scope)
            {
                return Err(insufficient(scope));
            }
            req.extensions_mut().insert(access);
        }
    }
    req.extensions_mut().insert(caller);
    Ok(())
}

/// The client's address as the configured proxies let us see it.
pub fn client_address(
    req: &ServiceRequest,
    limits: &crate::limits::Limits,
) -> Option<std::net::IpAddr> {
    let forwarded = req
        .headers()
        .get("x-forwarded-for")
        .and_then(|value| value.to_str().ok());
    limits.client(req.peer_addr().map(|addr| addr.ip()), forwarded)
}
