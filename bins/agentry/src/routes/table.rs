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
    /// A valid, unrevoked token: any session, or a personal access token granted this scope
    /// (the caller's own things: their profile, lists filtered to what they see).
    Token(&'static str),
    /// A signed-in session; a personal access token is refused (what guards the account:
    /// passwords, MFA, logout, deletion).
    Session,
    /// A valid token and this scope in the caller's current company.
    Scope(&'static str),
    /// A valid token of a super admin (role 0 in any company).
    SuperAdmin,
    /// Membership of the company named by the path's `{company_id}` (404 otherwise); a
    /// personal access token needs this scope too.
    CompanyMember(&'static str),
    /// Membership of the path's `{company_id}` (404 otherwise) and this scope there (403).
    CompanyScope(&'static str),
    /// The server's own key (`AGIXT_API_KEY`) itself, for operator routes.
    ServerKey,
    /// A valid token; the use case checks this scope in the company the body names (the
    /// caller's current company when it names none).
    BodyScope(&'static str),
    /// A valid token; the use case checks this scope in the company that owns the path's
    /// agent (an agent the caller does not see is 404).
    AgentScope(&'static str),
}

impl Guard {
    /// The scope the route asks for, if any (the route-by-scope table in docs/compat.md).
    pub fn scope(self) -> Option<&'static str> {
        match self {
            Guard::Public | Guard::Session | Guard::ServerKey => None,
            Guard::SuperAdmin => Some("server:admin"),
            Guard::Token(scope)
            | Guard::Scope(scope)
            | Guard::CompanyMember(scope)
            | Guard::CompanyScope(scope)
            | Guard::BodyScope(scope)
            | Guard::AgentScope(scope) => Some(scope),
        }
    }
}

/// One route: its method, its path template (`{name}` a segment, `{name*}` the rest of the
/// path), its guard and the handler that answers it (`module::function` under `routes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteSpec {
    pub method: &'static str,
    pub path: &'static str,
    pub guard: Guard,
    pub handler: &'static str,
}

impl RouteSpec {
    /// A route outside [`ROUTES`] (tests that mount their own handlers).
    pub const fn new(method: &'static str, path: &'static str, guard: Guard) -> Self {
        Self {
            method,
            path,
            guard,
            handler: "",
        }
    }
}

/// A path template as actix-web's router writes it (`{name*}` becomes `{name:.+}`).
pub fn actix_path(template: &str) -> String {
    template
        .split('/')
        .map(|segment| match segment.strip_suffix("*}") {
            Some(name) => format!("{name}:.+}}"),
            None => segment.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Declares every route once: `METHOD "path", guard => module::handler;`. From the one list
/// come [`ROUTES`] (the guard middleware's table, `/openapi.json`, docs/routes.md and the
/// route x role matrix) and [`configure`], which mounts each handler in the same order (the
/// first route whose path and method match answers, in the router as in the guard).
macro_rules! routes {
    ($($(#[$doc:meta])* $method:ident $path:literal, $guard:expr => $module:ident :: $handler:ident;)*) => {
        pub const ROUTES: &[RouteSpec] = &[$(RouteSpec {
            method: stringify!($method),
            path: $path,
            guard: $guard,
            handler: concat!(stringify!($module), "::", stringify!($handler)),
        },)*];

        /// The JSON request and response bodies of each route of [`ROUTES`] (in its
        /// order), read off its handler's signature.
        pub fn handler_docs() -> Vec<super::openapi::HandlerDoc> {
            vec![$(super::openapi::doc_of(super::$module::$handler),)*]
        }

        /// Mount every handler of [`ROUTES`] at its method and path.
        pub fn configure(cfg: &mut actix_web::web::ServiceConfig) {
            $(
                cfg.route(
                    &actix_path($path),
                    actix_web::web::method(Method::$method).to(super::$module::$handler),
                );
            )*
        }
    };
}

use Guard::{
    AgentScope, BodyScope, CompanyMember, CompanyScope, Public, Scope, ServerKey, Session, Token,
};

routes! {
    GET "/health", Public => health::health;
    GET "/ready", Public => health::ready;
    GET "/openapi.json", Public => openapi::serve;
    // Accounts (reference auth-billing.md sections 1-2).
    POST "/v1/user", Public => user::register;
    GET "/v1/user", Token("account:read") => user::get_user;
    PUT "/v1/user", Token("account:write") => user::update_user;
    GET "/v1/user/exists", Public => user::user_exists;
    POST "/v1/login", Public => user::login;
    POST "/v1/logout", Session => user::logout;
    GET "/v1/user/mfa/setup", Session => user::mfa_setup;
    POST "/v1/user/mfa/enable", Session => user::mfa_enable;
    POST "/v1/user/mfa/disable", Session => user::mfa_disable;
    POST "/v1/user/mfa/reset", Session => user::mfa_reset;
    POST "/v1/user/password/change", Session => user::change_password;
    POST "/v1/user/password/set", Session => user::set_password;
    DELETE "/v1/user", Session => user::delete_user;
    // Roles and scopes (paths in the reference's style; the reference's own Roles routes
    // are not in the reference notes). Listing the catalog needs `roles:read`.
    GET "/v1/roles", Scope("roles:read") => roles::roles;
    GET "/v1/scopes", Scope("roles:read") => roles::scopes;
    GET "/v1/user/scopes", Token("account:read") => roles::user_scopes;
    // Personal access tokens (reference section 1.9).
    POST "/v1/api-keys", Scope("apikeys:write") => tokens::create;
    GET "/v1/api-keys", Scope("apikeys:read") => tokens::list;
    POST "/v1/api-keys/validate", Public => tokens::validate;
    GET "/v1/api-keys/available/scopes", Token("apikeys:read") => tokens::available_scopes;
    GET "/v1/api-keys/available/agents", Token("apikeys:read") => tokens::available_agents;
    GET "/v1/api-keys/available/companies", Token("apikeys:read") => tokens::available_companies;
    GET "/v1/api-keys/{token_id}", Scope("apikeys:read") => tokens::get;
    DELETE "/v1/api-keys/{token_id}", Scope("apikeys:delete") => tokens::revoke;
    POST "/v1/api-keys/{token_id}/regenerate", Scope("apikeys:write") => tokens::regenerate;
    // Companies, members and invitations (reference section 3).
    GET "/v1/companies", Token("account:read") => companies::list_companies;
    // A new company is a child of the caller's current one, below tenant admin.
    POST "/v1/companies", BodyScope("company:write") => companies::create_company;
    PUT "/v1/companies/{company_id}", CompanyScope("company:write") => companies::update_company;
    PATCH "/v1/companies/{company_id}", CompanyScope("company:write") => companies::update_company;
    DELETE "/v1/companies/{company_id}", CompanyScope("company:delete") => companies::delete_company;
    GET "/v1/companies/{company_id}/members", CompanyMember("users:read") => companies::members;
    GET "/v1/companies/{company_id}/settings", CompanyMember("company:read") => companies::company_settings;
    PUT "/v1/companies/{company_id}/settings", CompanyScope("company:write") => companies::update_company_settings;
    GET "/v1/companies/{company_id}/extensions", CompanyMember("extensions:read") => companies::company_extensions;
    PATCH "/v1/companies/{company_id}/command", CompanyScope("company:write") => companies::toggle_company_command;
    PATCH "/v1/companies/{company_id}/extension/commands", CompanyScope("company:write") => companies::toggle_company_extension;
    DELETE "/v1/companies/{company_id}/users/{user_id}", CompanyScope("users:delete") => companies::remove_member;
    POST "/v1/companies/{company_id}/invitations", CompanyScope("users:write") => companies::invite_by_role_name;
    PUT "/v1/user/role", BodyScope("users:roles") => companies::change_role;
    POST "/v1/invitations", BodyScope("users:write") => companies::invite;
    GET "/v1/invitations", BodyScope("users:read") => companies::invitations;
    GET "/v1/invitations/{company_id}", CompanyScope("users:read") => companies::company_invitations;
    // An existing account joins only by accepting (its own session); it finds its
    // invitations here.
    POST "/v1/invitations/{invitation_id}/accept", Session => companies::accept_invitation;
    GET "/v1/user/invitations", Token("account:read") => companies::my_invitations;
    // The invitation's own company decides.
    DELETE "/v1/invitation/{invitation_id}", BodyScope("users:write") => companies::delete_invitation;
    // Billing (reference section 5): the configuration is public; a balance needs
    // membership of the company in the query (checked in the use case); crediting needs the
    // server's own key.
    GET "/v1/billing/config", Public => billing::config;
    GET "/v1/billing/tokens/balance", Token("billing:read") => billing::balance;
    POST "/v1/credit", ServerKey => billing::credit;
    GET "/v1/billing/usage", Token("billing:read") => billing::usage;
    GET "/v1/billing/usage/totals", Token("billing:read") => billing::usage_totals;
    GET "/v1/billing/tokens/should_warn", Token("billing:read") => billing::should_warn;
    // Quiets the warning for the whole company: `billing:write` there (the use case).
    POST "/v1/billing/tokens/warning/dismiss", BodyScope("billing:write") => billing::dismiss_warning;
    // Stripe (section 5.5): members of the company named in the body or query (the current
    // company when none), checked in the use case; the quote is public, and the webhook is
    // authenticated by Stripe's signature.
    POST "/v1/billing/tokens/quote", Public => billing::quote;
    POST "/v1/billing/tokens/topup/stripe", Token("billing:write") => billing::top_up;
    POST "/v1/billing/tokens/topup/stripe/confirm", Token("billing:write") => billing::confirm;
    POST "/v1/billing/stripe/confirm", Token("billing:write") => billing::confirm;
    POST "/v1/billing/sync", Token("billing:write") => billing::sync;
    GET "/v1/billing/transactions", Token("billing:read") => billing::transactions;
    POST "/v1/billing/auto-topup", Token("billing:write") => billing::auto_topup;
    POST "/v1/billing/portal", Token("billing:write") => billing::portal;
    POST "/v1/webhook", Public => billing::stripe_webhook;
    // Agents (reference agents-memory.md section 2). Every scope is checked in the company
    // that owns the agent (the use case: the guard cannot know it); an agent the caller
    // does not see is 404 before any scope is looked at.
    GET "/v1/agent", Token("agents:read") => agents::list;
    POST "/v1/agent", Scope("agents:write") => agents::create;
    POST "/v1/agent/import", Scope("agents:write") => agents::import;
    GET "/v1/agent/{agent_id}", AgentScope("agents:read") => agents::config;
    PUT "/v1/agent/{agent_id}", AgentScope("agents:write") => agents::update;
    PATCH "/v1/agent/{agent_id}", AgentScope("agents:write") => agents::rename;
    DELETE "/v1/agent/{agent_id}", AgentScope("agents:delete") => agents::delete;
    PUT "/v1/agent/{agent_id}/commands", AgentScope("agents:write") => agents::update_commands;
    GET "/v1/agent/{agent_id}/command", AgentScope("agents:read") => agents::commands;
    PATCH "/v1/agent/{agent_id}/command", AgentScope("agents:write") => agents::toggle_command;
    PATCH "/v1/agent/{agent_id}/extension/commands", AgentScope("agents:write") => agents::toggle_extension;
    GET "/v1/agent/{agent_id}/persona", AgentScope("agents:read") => agents::persona;
    PUT "/v1/agent/{agent_id}/persona", AgentScope("agents:write") => agents::set_persona;
    POST "/v1/agent/{agent_id}/clone", AgentScope("agents:write") => agents::clone;
    // The owner only; a personal access token only when granted `wallets:read` by name.
    GET "/v1/agent/{agent_id}/wallet", Token("wallets:read") => agents::wallet;
    GET "/v1/agent/{agent_id}/providers", AgentScope("agents:read") => agents::agent_providers;
    DELETE "/v1/agent/{agent_id}/provider/{provider_name}", AgentScope("agents:write") => agents::disconnect_provider;
    GET "/v1/agent/{agent_id}/extensions", AgentScope("agents:read") => agents::agent_extensions;
    // Providers and extensions (sections 1.3 and 4.2): the static catalogs.
    GET "/v1/providers", Token("providers:read") => agents::providers;
    GET "/api/provider", Token("providers:read") => agents::provider_keys;
    GET "/api/provider/{name}", Token("providers:read") => agents::provider_settings;
    GET "/api/providers", Token("providers:read") => agents::providers_with_settings;
    GET "/api/providers/service/{service}", Token("providers:read") => agents::providers_for_service;
    GET "/api/embedding_providers", Token("providers:read") => agents::embedding_providers;
    GET "/api/embedders", Token("providers:read") => agents::embedders;
    GET "/v1/extensions", Token("extensions:read") => agents::extensions;
    GET "/v1/extensions/settings", Token("extensions:read") => agents::extension_settings;
    // Before `{command_name}/args`, which would take `/v1/extensions/category/args`.
    GET "/v1/extensions/category/{category_id}", Token("extensions:read") => agents::extensions_in_category;
    GET "/v1/extensions/{command_name}/args", Token("extensions:read") => agents::command_args;
    GET "/v1/extension/categories", Token("extensions:read") => agents::categories;
    GET "/v1/extension/categories/summary", Token("extensions:read") => agents::categories_summary;
    GET "/v1/extension/category/{category_id}", Token("extensions:read") => agents::category;
    // Commands (section 3.3), in the agent's company, and the files they leave: the
    // conversation's owner by header, or the signed token of the link a command returned
    // (checked in the use case).
    POST "/v1/agent/{agent_id}/command", AgentScope("extensions:execute") => conversations::execute;
    GET "/outputs/{agent_id}/{conversation_id}/{file*}", Public => conversations::output;
    // Chat completions (section 8): `agents:execute` in the company of the agent the body's
    // `model` names (the use case; an agent the caller does not see is 404); the models
    // list is the caller's visible agents.
    POST "/v1/chat/completions", BodyScope("agents:execute") => chat::completions;
    GET "/v1/models", Token("agents:read") => chat::models;
    POST "/v1/agent/{agent_id}/prompt", AgentScope("agents:execute") => chat::prompt;
    // Prompts (section 6): each user's own over the built-in set, the scope in the
    // caller's current company; another user's prompt is 404 (the use case). The fixed
    // paths come before `{prompt_id}`.
    GET "/v1/prompts", Scope("prompts:read") => prompts::list;
    GET "/v1/prompt/categories", Scope("prompts:read") => prompts::categories;
    GET "/v1/prompt/all", Scope("prompts:read") => prompts::all;
    GET "/v1/prompt/category/{prompt_category_id}", Scope("prompts:read") => prompts::by_category;
    POST "/v1/prompt", Scope("prompts:write") => prompts::create;
    GET "/v1/prompt/{prompt_id}", Scope("prompts:read") => prompts::get;
    PUT "/v1/prompt/{prompt_id}", Scope("prompts:write") => prompts::update;
    PATCH "/v1/prompt/{prompt_id}", Scope("prompts:write") => prompts::rename;
    DELETE "/v1/prompt/{prompt_id}", Scope("prompts:delete") => prompts::delete;
    GET "/v1/prompt/{prompt_id}/args", Scope("prompts:read") => prompts::args;
    POST "/v1/prompt/{prompt_id}/revert", Scope("prompts:write") => prompts::revert;
    // Chains (section 5): each user's own, the scope in the caller's current company;
    // another user's chain is 404 (the use case). Steps run by an agent the caller sees.
    GET "/v1/chains", Scope("chains:read") => chains::list;
    POST "/v1/chain", Scope("chains:write") => chains::create;
    POST "/v1/chain/import", Scope("chains:write") => chains::import;
    GET "/v1/chain/{chain_id}", Scope("chains:read") => chains::get;
    PUT "/v1/chain/{chain_id}", Scope("chains:write") => chains::update;
    DELETE "/v1/chain/{chain_id}", Scope("chains:delete") => chains::delete;
    GET "/v1/chain/{chain_id}/args", Scope("chains:read") => chains::args;
    GET "/v1/chain/{chain_id}/responses", Scope("chains:read") => chains::responses;
    POST "/v1/chain/{chain_id}/step", Scope("chains:write") => chains::add_step;
    PATCH "/v1/chain/{chain_id}/step/move", Scope("chains:write") => chains::move_step;
    PUT "/v1/chain/{chain_id}/step/{step_number}", Scope("chains:write") => chains::update_step;
    DELETE "/v1/chain/{chain_id}/step/{step_number}", Scope("chains:delete") => chains::delete_step;
    POST "/v1/chain/{chain_id}/run", Scope("chains:execute") => chains::run;
    POST "/v1/chain/{chain_id}/run/step/{step_number}", Scope("chains:execute") => chains::run_step;
    // Conversations (section 7): each belongs to its user (checked in the use case); the
    // scope is checked in the caller's current company.
    POST "/v1/conversation", Scope("conversations:write") => conversations::create;
    GET "/v1/conversations", Scope("conversations:read") => conversations::list;
    GET "/v1/conversation/{conversation_id}", Scope("conversations:read") => conversations::history;
    PUT "/v1/conversation/{conversation_id}", Scope("conversations:write") => conversations::rename;
    DELETE "/v1/conversation/{conversation_id}", Scope("conversations:delete") => conversations::delete;
    POST "/v1/conversation/fork/{conversation_id}/{message_id}", Scope("conversations:write") => conversations::fork;
    POST "/v1/conversation/{conversation_id}/message", Scope("conversations:write") => conversations::add_message;
    PUT "/v1/conversation/{conversation_id}/message/{message_id}", Scope("conversations:write") => conversations::update_message;
    DELETE "/v1/conversation/{conversation_id}/message/{message_id}", Scope("conversations:write") => conversations::delete_message;
}

/// The route-by-scope table of `docs/routes.md`, rendered from [`ROUTES`] (a test keeps
/// the page equal to it).
pub fn markdown() -> String {
    let mut out = String::from("| method | path | who may call | scope |\n|---|---|---|---|\n");
    for spec in ROUTES {
        let (who, scope) = match spec.guard {
            Guard::Public if spec.path.starts_with("/outputs/") => (
                "the conversation's owner (a token: `conversations:read`), or the link's signed token",
                String::new(),
            ),
            Guard::Public => ("anyone", String::new()),
            Guard::ServerKey => ("the server's own key (`AGIXT_API_KEY`)", String::new()),
            Guard::Session => (
                "a signed-in session (no personal access token)",
                String::new(),
            ),
            Guard::SuperAdmin => ("a super admin's session", "`server:admin`".into()),
            Guard::Token(scope) => (
                "any session; a personal access token granted the scope",
                format!("`{scope}`"),
            ),
            Guard::Scope(scope) => (
                "the scope in the caller's current company",
                format!("`{scope}`"),
            ),
            Guard::CompanyMember(scope) => (
                "a member of the path's company; a personal access token granted the scope",
                format!("`{scope}`"),
            ),
            Guard::CompanyScope(scope) => ("the scope in the path's company", format!("`{scope}`")),
            Guard::BodyScope(scope) if spec.path == "/v1/chat/completions" => (
                "the scope in the company that owns the agent the body's `model` names (which the caller must see)",
                format!("`{scope}`"),
            ),
            Guard::BodyScope(scope) => (
                "the scope in the company the body names (else the current one)",
                format!("`{scope}`"),
            ),
            Guard::AgentScope(scope) => (
                "the scope in the company that owns the agent (which the caller must see)",
                format!("`{scope}`"),
            ),
        };
        out.push_str(&format!(
            "| {} | `{}` | {who} | {scope} |\n",
            spec.method, spec.path
        ));
    }
    out
}

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
        assert_eq!(actix_path("/outputs/{a}/{f*}"), "/outputs/{a}/{f:.+}");
        assert_eq!(actix_path("/v1/user"), "/v1/user");
    }

    #[test]
    fn lookups_tell_known_paths_from_unknown_ones() {
        assert!(
            matches!(find(&Method::GET, "/v1/user"), Lookup::Found(spec) if spec.guard == Guard::Token("account:read"))
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
