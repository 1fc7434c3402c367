//! The route table: every route the server answers, with the guard it requires. The guard
//! middleware enforces it before any handler runs, and answers 404 (405 for a listed path
//! with another method) for anything not listed, so a route cannot be served without a
//! declared guard. The route x role x tenant
//! matrix test is generated from this table.

use actix_web::http::Method;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    /// No token needed (health, registration, login).
    Public,
    /// A valid, unrevoked token.
    Token,
    /// A valid token and this scope in the caller's current company.
    Scope(&'static str),
    /// A valid token of a super admin (role 0 in any company).
    SuperAdmin,
    /// Membership of the company named by the path's `{company_id}` (404 otherwise).
    CompanyMember,
    /// Membership of the path's `{company_id}` (404 otherwise) and this scope there (403).
    CompanyScope(&'static str),
    /// The server's own key (`AGIXT_API_KEY`) itself, for operator routes.
    ServerKey,
    /// A valid token; the use case checks this scope in the company the body names (the
    /// caller's current company when it names none).
    BodyScope(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteSpec {
    pub method: &'static str,
    pub path: &'static str,
    pub guard: Guard,
}

const fn route(method: &'static str, path: &'static str, guard: Guard) -> RouteSpec {
    RouteSpec {
        method,
        path,
        guard,
    }
}

use Guard::{BodyScope, CompanyMember, CompanyScope, Public, Scope, ServerKey, Token};

pub const ROUTES: &[RouteSpec] = &[
    route("GET", "/health", Public),
    route("GET", "/ready", Public),
    // Accounts (reference auth-billing.md sections 1-2).
    route("POST", "/v1/user", Public),
    route("GET", "/v1/user", Token),
    route("PUT", "/v1/user", Token),
    route("GET", "/v1/user/exists", Public),
    route("POST", "/v1/login", Public),
    route("POST", "/v1/logout", Token),
    route("GET", "/v1/user/mfa/setup", Token),
    route("POST", "/v1/user/mfa/enable", Token),
    route("POST", "/v1/user/mfa/disable", Token),
    route("POST", "/v1/user/mfa/reset", Token),
    route("POST", "/v1/user/password/change", Token),
    route("POST", "/v1/user/password/set", Token),
    route("DELETE", "/v1/user", Token),
    // Roles and scopes (paths in the reference's style; the reference's own Roles routes
    // are not in the reference notes). Listing the catalog needs `roles:read`.
    route("GET", "/v1/roles", Scope("roles:read")),
    route("GET", "/v1/scopes", Scope("roles:read")),
    route("GET", "/v1/user/scopes", Token),
    // Personal access tokens (reference section 1.9).
    route("POST", "/v1/api-keys", Scope("apikeys:write")),
    route("GET", "/v1/api-keys", Scope("apikeys:read")),
    route("POST", "/v1/api-keys/validate", Public),
    route("GET", "/v1/api-keys/available/scopes", Token),
    route("GET", "/v1/api-keys/available/agents", Token),
    route("GET", "/v1/api-keys/available/companies", Token),
    route("GET", "/v1/api-keys/{token_id}", Scope("apikeys:read")),
    route("DELETE", "/v1/api-keys/{token_id}", Scope("apikeys:delete")),
    route(
        "POST",
        "/v1/api-keys/{token_id}/regenerate",
        Scope("apikeys:write"),
    ),
    // Companies, members and invitations (reference section 3).
    route("GET", "/v1/companies", Token),
    // A new company is a child of the caller's current one, below tenant admin.
    route("POST", "/v1/companies", BodyScope("company:write")),
    route(
        "PUT",
        "/v1/companies/{company_id}",
        CompanyScope("company:write"),
    ),
    route(
        "PATCH",
        "/v1/companies/{company_id}",
        CompanyScope("company:write"),
    ),
    route(
        "DELETE",
        "/v1/companies/{company_id}",
        CompanyScope("company:delete"),
    ),
    route("GET", "/v1/companies/{company_id}/members", CompanyMember),
    route("GET", "/v1/companies/{company_id}/settings", CompanyMember),
    route(
        "PUT",
        "/v1/companies/{company_id}/settings",
        CompanyScope("company:write"),
    ),
    route(
        "GET",
        "/v1/companies/{company_id}/extensions",
        CompanyMember,
    ),
    route(
        "PATCH",
        "/v1/companies/{company_id}/command",
        CompanyScope("company:write"),
    ),
    route(
        "PATCH",
        "/v1/companies/{company_id}/extension/commands",
        CompanyScope("company:write"),
    ),
    route(
        "DELETE",
        "/v1/companies/{company_id}/users/{user_id}",
        CompanyScope("users:delete"),
    ),
    route(
        "POST",
        "/v1/companies/{company_id}/invitations",
        CompanyScope("users:write"),
    ),
    route("PUT", "/v1/user/role", BodyScope("users:roles")),
    route("POST", "/v1/invitations", BodyScope("users:write")),
    route("GET", "/v1/invitations", BodyScope("users:read")),
    route(
        "GET",
        "/v1/invitations/{company_id}",
        CompanyScope("users:read"),
    ),
    // The invitation's own company decides.
    route(
        "DELETE",
        "/v1/invitation/{invitation_id}",
        BodyScope("users:write"),
    ),
    // Billing (reference section 5): the configuration is public; a balance needs
    // membership of the company in the query (checked in the use case); crediting needs the
    // server's own key.
    route("GET", "/v1/billing/config", Public),
    route("GET", "/v1/billing/tokens/balance", Token),
    route("POST", "/v1/credit", ServerKey),
    route("GET", "/v1/billing/usage", Token),
    route("GET", "/v1/billing/usage/totals", Token),
    route("GET", "/v1/billing/tokens/should_warn", Token),
    route("POST", "/v1/billing/tokens/warning/dismiss", Token),
    // Stripe (section 5.5): members of the company named in the body or query (the current
    // company when none), checked in the use case; the quote is public, and the webhook is
    // authenticated by Stripe's signature.
    route("POST", "/v1/billing/tokens/quote", Public),
    route("POST", "/v1/billing/tokens/topup/stripe", Token),
    route("POST", "/v1/billing/tokens/topup/stripe/confirm", Token),
    route("POST", "/v1/billing/stripe/confirm", Token),
    route("POST", "/v1/billing/sync", Token),
    route("GET", "/v1/billing/transactions", Token),
    route("POST", "/v1/billing/auto-topup", Token),
    route("POST", "/v1/billing/portal", Token),
    route("POST", "/v1/webhook", Public),
    // Agents (reference agents-memory.md section 2). Routes the reference leaves unguarded
    // need a token; which agent a caller may see, change, rename or delete is checked in the
    // use case (another company's or an unshared agent is 404).
    route("GET", "/v1/agent", Token),
    route("POST", "/v1/agent", Scope("agents:write")),
    route("POST", "/v1/agent/import", Scope("agents:write")),
    route("GET", "/v1/agent/{agent_id}", Scope("agents:read")),
    route("PUT", "/v1/agent/{agent_id}", Scope("agents:write")),
    route("PATCH", "/v1/agent/{agent_id}", Scope("agents:write")),
    route("DELETE", "/v1/agent/{agent_id}", Scope("agents:delete")),
    route(
        "PUT",
        "/v1/agent/{agent_id}/commands",
        Scope("agents:write"),
    ),
    route("GET", "/v1/agent/{agent_id}/command", Scope("agents:read")),
    route(
        "PATCH",
        "/v1/agent/{agent_id}/command",
        Scope("agents:write"),
    ),
    route(
        "PATCH",
        "/v1/agent/{agent_id}/extension/commands",
        Scope("agents:write"),
    ),
    route("GET", "/v1/agent/{agent_id}/persona", Token),
    route("PUT", "/v1/agent/{agent_id}/persona", Scope("agents:write")),
    route("POST", "/v1/agent/{agent_id}/clone", Scope("agents:write")),
    route("GET", "/v1/agent/{agent_id}/wallet", Token),
    route("GET", "/v1/agent/{agent_id}/providers", Token),
    route(
        "DELETE",
        "/v1/agent/{agent_id}/provider/{provider_name}",
        Scope("agents:write"),
    ),
    route("GET", "/v1/agent/{agent_id}/extensions", Token),
    // Providers and extensions (sections 1.3 and 4.2): the static catalogs.
    route("GET", "/v1/providers", Token),
    route("GET", "/api/provider", Token),
    route("GET", "/api/provider/{name}", Token),
    route("GET", "/api/providers", Token),
    route("GET", "/api/providers/service/{service}", Token),
    route("GET", "/api/embedding_providers", Token),
    route("GET", "/api/embedders", Token),
    route("GET", "/v1/extensions", Token),
    route("GET", "/v1/extensions/settings", Token),
    route("GET", "/v1/extensions/{command_name}/args", Token),
    route("GET", "/v1/extension/categories", Token),
    route("GET", "/v1/extension/categories/summary", Token),
    route("GET", "/v1/extension/category/{category_id}", Token),
    route("GET", "/v1/extensions/category/{category_id}", Token),
    // Commands (section 3.3) and the files they leave: a header of a caller who sees the
    // agent, or the signed token of the link a command returned (checked in the use case).
    route(
        "POST",
        "/v1/agent/{agent_id}/command",
        Scope("extensions:execute"),
    ),
    route(
        "GET",
        "/outputs/{agent_id}/{conversation_id}/{file*}",
        Public,
    ),
    // Conversations (section 7): each belongs to its user (checked in the use case).
    route("POST", "/v1/conversation", Token),
    route("GET", "/v1/conversations", Token),
    route("GET", "/v1/conversation/{conversation_id}", Token),
    route("PUT", "/v1/conversation/{conversation_id}", Token),
    route("DELETE", "/v1/conversation/{conversation_id}", Token),
    route(
        "POST",
        "/v1/conversation/fork/{conversation_id}/{message_id}",
        Token,
    ),
    route("POST", "/v1/conversation/{conversation_id}/message", Token),
    route(
        "PUT",
        "/v1/conversation/{conversation_id}/message/{message_id}",
        Token,
    ),
    route(
        "DELETE",
        "/v1/conversation/{conversation_id}/message/{message_id}",
        Token,
    ),
];

/// The value of the `{name}` segment of `template` in `path` (when the path matches).
pub fn path_param<'p>(template: &str, path: &'p str, name: &str) -> Option<&'p str> {
    let wanted = format!("{{{name}}}");
    template
        .split('/')
        .zip(path.split('/'))
        .find(|(t, _)| *t == wanted)
        .map(|(_, p)| p)
}

/// What the table says about a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup<'a> {
    Found(&'a RouteSpec),
    /// The path is listed, with other methods (405).
    WrongMethod,
    /// Nothing listed (404).
    Unknown,
}

fn path_matches(template: &str, path: &str) -> bool {
    let mut left = template.trim_end_matches('/').split('/');
    let mut right = path.trim_end_matches('/').split('/');
    loop {
        match (left.next(), right.next()) {
            (None, None) => return true,
            // `{name*}`: the rest of the path, one segment or more.
            (Some(t), Some(p)) if t.starts_with('{') && t.ends_with("*}") => {
                return !p.is_empty();
            }
            (Some(t), Some(p)) if t.starts_with('{') && t.ends_with('}') => {
                if p.is_empty() {
                    return false;
                }
            }
            (Some(t), Some(p)) if t == p => {}
            _ => return false,
        }
    }
}

/// The table a server enforces: [`ROUTES`], plus routes a test application adds.
#[derive(Debug, Clone)]
pub struct RouteTable(Vec<RouteSpec>);

impl RouteTable {
    pub fn standard() -> Self {
        Self(ROUTES.to_vec())
    }

    /// The standard table and `extra` routes (tests that mount their own handlers).
    pub fn with(extra: &[RouteSpec]) -> Self {
        let mut routes = ROUTES.to_vec();
        routes.extend_from_slice(extra);
        Self(routes)
    }

    pub fn find(&self, method: &Method, path: &str) -> Lookup<'_> {
        find_in(&self.0, method, path)
    }
}

pub fn find(method: &Method, path: &str) -> Lookup<'static> {
    find_in(ROUTES, method, path)
}

fn find_in<'a>(routes: &'a [RouteSpec], method: &Method, path: &str) -> Lookup<'a> {
    let mut path_known = false;
    for spec in routes {
        if path_matches(spec.path, path) {
            if spec.method == method.as_str() {
                return Lookup::Found(spec);
            }
            path_known = true;
        }
    }
    if path_known {
        Lookup::WrongMethod
    } else {
        Lookup::Unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_whole_segments() {
        assert!(path_matches("/v1/user", "/v1/user"));
        assert!(path_matches("/v1/user", "/v1/user/"));
        assert!(!path_matches("/v1/user", "/v1/users"));
        assert!(!path_matches("/v1/user", "/v1/user/exists"));
        assert!(path_matches("/v1/companies/{id}", "/v1/companies/abc"));
        assert!(!path_matches("/v1/companies/{id}", "/v1/companies/"));
        assert!(!path_matches("/v1/companies/{id}", "/v1/companies/a/b"));
        assert!(path_matches("/outputs/{a}/{f*}", "/outputs/x/dir/file.txt"));
        assert!(path_matches("/outputs/{a}/{f*}", "/outputs/x/file.txt"));
        assert!(!path_matches("/outputs/{a}/{f*}", "/outputs/x/"));
    }

    #[test]
    fn lookups_tell_known_paths_from_unknown_ones() {
        assert!(
            matches!(find(&Method::GET, "/v1/user"), Lookup::Found(spec) if spec.guard == Guard::Token)
        );
        assert_eq!(find(&Method::DELETE, "/health"), Lookup::WrongMethod);
        assert_eq!(find(&Method::GET, "/nowhere"), Lookup::Unknown);
    }

    #[test]
    fn every_route_is_listed_once() {
        for (i, a) in ROUTES.iter().enumerate() {
            for b in &ROUTES[i + 1..] {
                assert!(
                    !(a.method == b.method && a.path == b.path),
                    "{} {} listed twice",
                    a.method,
                    a.path
                );
            }
        }
    }
}
