//! The route x caller matrix: every route of the route table called as a super
//! admin, a company admin, a power user, a read-only user, a read-only user who administers
//! another company (their current one), a member of another company and an anonymous caller, each outcome checked against the guard this file declares for it, apart from the route
//! table (and,
//! for the routes the reference's endpoint suite calls, section 4.7's expectations agree).
#![expect(clippy::unwrap_used, reason = "helpers of a test crate")]

use agentry::routes::table::{Guard, ROUTES, RouteSpec};
use agentry_domain::{CompanyId, RoleId, ScopeSet, UserId};
use agentry_store::companies::set_role;
use agentry_test_support::{TestApp, app_tests};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    SuperAdmin,
    CompanyAdmin,
    User,
    ReadOnly,
    /// Read-only in the team, company admin of their own company, which is their current
    /// one: scopes must be checked in the company that owns the resource, not there.
    ReaderAdminElsewhere,
    Outsider,
    Anonymous,
}

/// Least privileged first, so a permitted destructive call comes after the refusals.
const CALLERS: [Caller; 7] = [
    Caller::Anonymous,
    Caller::Outsider,
    Caller::ReadOnly,
    Caller::ReaderAdminElsewhere,
    Caller::User,
    Caller::CompanyAdmin,
    Caller::SuperAdmin,
];

/// What each route must demand, written here apart from the route table it tests: a guard
/// changed by mistake in `routes/table.rs` changes what the server answers, and the matrix,
/// which expects what this list says, fails. A deliberate change updates both.
const DECLARED: &[(&str, &str, Guard)] = &[
    ("GET", "/health", Guard::Public),
    ("GET", "/ready", Guard::Public),
    ("GET", "/openapi.json", Guard::Public),
    ("POST", "/v1/user", Guard::Public),
    ("GET", "/v1/user", Guard::Token("account:read")),
    ("PUT", "/v1/user", Guard::Token("account:write")),
    ("GET", "/v1/user/exists", Guard::Public),
    ("POST", "/v1/login", Guard::Public),
    ("POST", "/v1/logout", Guard::Session),
    ("GET", "/v1/user/mfa/setup", Guard::Session),
    ("POST", "/v1/user/mfa/enable", Guard::Session),
    ("POST", "/v1/user/mfa/disable", Guard::Session),
    ("POST", "/v1/user/mfa/reset", Guard::Session),
    ("POST", "/v1/user/password/change", Guard::Session),
    ("POST", "/v1/user/password/set", Guard::Session),
    ("DELETE", "/v1/user", Guard::Session),
    ("GET", "/v1/roles", Guard::Scope("roles:read")),
    ("GET", "/v1/scopes", Guard::Scope("roles:read")),
    ("GET", "/v1/user/scopes", Guard::Token("account:read")),
    ("POST", "/v1/api-keys", Guard::Scope("apikeys:write")),
    ("GET", "/v1/api-keys", Guard::Scope("apikeys:read")),
    ("POST", "/v1/api-keys/validate", Guard::Public),
    (
        "GET",
        "/v1/api-keys/available/scopes",
        Guard::Token("apikeys:read"),
    ),
    (
        "GET",
        "/v1/api-keys/available/agents",
        Guard::Token("apikeys:read"),
    ),
    (
        "GET",
        "/v1/api-keys/available/companies",
        Guard::Token("apikeys:read"),
    ),
    (
        "GET",
        "/v1/api-keys/{token_id}",
        Guard::Scope("apikeys:read"),
    ),
    (
        "DELETE",
        "/v1/api-keys/{token_id}",
        Guard::Scope("apikeys:delete"),
    ),
    (
        "POST",
        "/v1/api-keys/{token_id}/regenerate",
        Guard::Scope("apikeys:write"),
    ),
    ("GET", "/v1/companies", Guard::Token("account:read")),
    ("POST", "/v1/companies", Guard::BodyScope("company:write")),
    (
        "PUT",
        "/v1/companies/{company_id}",
        Guard::CompanyScope("company:write"),
    ),
    (
        "PATCH",
        "/v1/companies/{company_id}",
        Guard::CompanyScope("company:write"),
    ),
    (
        "DELETE",
        "/v1/companies/{company_id}",
        Guard::CompanyScope("company:delete"),
    ),
    (
        "GET",
        "/v1/companies/{company_id}/members",
        Guard::CompanyMember("users:read"),
    ),
    (
        "GET",
        "/v1/companies/{company_id}/settings",
        Guard::CompanyMember("company:read"),
    ),
    (
        "PUT",
        "/v1/companies/{company_id}/settings",
        Guard::CompanyScope("company:write"),
    ),
    (
        "GET",
        "/v1/companies/{company_id}/extensions",
        Guard::CompanyMember("extensions:read"),
    ),
    (
        "PATCH",
        "/v1/companies/{company_id}/command",
        Guard::CompanyScope("company:write"),
    ),
    (
        "PATCH",
        "/v1/companies/{company_id}/extension/commands",
        Guard::CompanyScope("company:write"),
    ),
    (
        "DELETE",
        "/v1/companies/{company_id}/users/{user_id}",
        Guard::CompanyScope("users:delete"),
    ),
    (
        "POST",
        "/v1/companies/{company_id}/invitations",
        Guard::CompanyScope("users:write"),
    ),
    ("PUT", "/v1/user/role", Guard::BodyScope("users:roles")),
    ("POST", "/v1/invitations", Guard::BodyScope("users:write")),
    ("GET", "/v1/invitations", Guard::BodyScope("users:read")),
    (
        "GET",
        "/v1/invitations/{company_id}",
        Guard::CompanyScope("users:read"),
    ),
    (
        "POST",
        "/v1/invitations/{invitation_id}/accept",
        Guard::Session,
    ),
    ("GET", "/v1/user/invitations", Guard::Token("account:read")),
    (
        "DELETE",
        "/v1/invitation/{invitation_id}",
        Guard::BodyScope("users:write"),
    ),
    ("GET", "/v1/billing/config", Guard::Public),
    (
        "GET",
        "/v1/billing/tokens/balance",
        Guard::Token("billing:read"),
    ),
    ("POST", "/v1/credit", Guard::ServerKey),
    ("GET", "/v1/billing/usage", Guard::Token("billing:read")),
    (
        "GET",
        "/v1/billing/usage/totals",
        Guard::Token("billing:read"),
    ),
    (
        "GET",
        "/v1/billing/tokens/should_warn",
        Guard::Token("billing:read"),
    ),
    (
        "POST",
        "/v1/billing/tokens/warning/dismiss",
        Guard::BodyScope("billing:write"),
    ),
    ("POST", "/v1/billing/tokens/quote", Guard::Public),
    (
        "POST",
        "/v1/billing/tokens/topup/stripe",
        Guard::Token("billing:write"),
    ),
    (
        "POST",
        "/v1/billing/tokens/topup/stripe/confirm",
        Guard::Token("billing:write"),
    ),
    (
        "POST",
        "/v1/billing/stripe/confirm",
        Guard::Token("billing:write"),
    ),
    ("POST", "/v1/billing/sync", Guard::Token("billing:write")),
    (
        "GET",
        "/v1/billing/transactions",
        Guard::Token("billing:read"),
    ),
    (
        "POST",
        "/v1/billing/auto-topup",
        Guard::Token("billing:write"),
    ),
    ("POST", "/v1/billing/portal", Guard::Token("billing:write")),
    ("POST", "/v1/webhook", Guard::Public),
    ("GET", "/v1/agent", Guard::Token("agents:read")),
    ("POST", "/v1/agent", Guard::Scope("agents:write")),
    ("POST", "/v1/agent/import", Guard::Scope("agents:write")),
    (
        "GET",
        "/v1/agent/{agent_id}",
        Guard::AgentScope("agents:read"),
    ),
    (
        "PUT",
        "/v1/agent/{agent_id}",
        Guard::AgentScope("agents:write"),
    ),
    (
        "PATCH",
        "/v1/agent/{agent_id}",
        Guard::AgentScope("agents:write"),
    ),
    (
        "DELETE",
        "/v1/agent/{agent_id}",
        Guard::AgentScope("agents:delete"),
    ),
    (
        "PUT",
        "/v1/agent/{agent_id}/commands",
        Guard::AgentScope("agents:write"),
    ),
    (
        "GET",
        "/v1/agent/{agent_id}/command",
        Guard::AgentScope("agents:read"),
    ),
    (
        "PATCH",
        "/v1/agent/{agent_id}/command",
        Guard::AgentScope("agents:write"),
    ),
    (
        "PATCH",
        "/v1/agent/{agent_id}/extension/commands",
        Guard::AgentScope("agents:write"),
    ),
    (
        "GET",
        "/v1/agent/{agent_id}/persona",
        Guard::AgentScope("agents:read"),
    ),
    (
        "PUT",
        "/v1/agent/{agent_id}/persona",
        Guard::AgentScope("agents:write"),
    ),
    (
        "POST",
        "/v1/agent/{agent_id}/clone",
        Guard::AgentScope("agents:write"),
    ),
    (
        "GET",
        "/v1/agent/{agent_id}/wallet",
        Guard::Token("wallets:read"),
    ),
    (
        "GET",
        "/v1/agent/{agent_id}/providers",
        Guard::AgentScope("agents:read"),
    ),
    (
        "DELETE",
        "/v1/agent/{agent_id}/provider/{provider_name}",
        Guard::AgentScope("agents:write"),
    ),
    (
        "GET",
        "/v1/agent/{agent_id}/extensions",
        Guard::AgentScope("agents:read"),
    ),
    ("GET", "/v1/providers", Guard::Token("providers:read")),
    ("GET", "/api/provider", Guard::Token("providers:read")),
    (
        "GET",
        "/api/provider/{name}",
        Guard::Token("providers:read"),
    ),
    ("GET", "/api/providers", Guard::Token("providers:read")),
    (
        "GET",
        "/api/providers/service/{service}",
        Guard::Token("providers:read"),
    ),
    (
        "GET",
        "/api/embedding_providers",
        Guard::Token("providers:read"),
    ),
    ("GET", "/api/embedders", Guard::Token("providers:read")),
    ("GET", "/v1/extensions", Guard::Token("extensions:read")),
    (
        "GET",
        "/v1/extensions/settings",
        Guard::Token("extensions:read"),
    ),
    (
        "GET",
        "/v1/extensions/category/{category_id}",
        Guard::Token("extensions:read"),
    ),
    (
        "GET",
        "/v1/extensions/{command_name}/args",
        Guard::Token("extensions:read"),
    ),
    (
        "GET",
        "/v1/extension/categories",
        Guard::Token("extensions:read"),
    ),
    (
        "GET",
        "/v1/extension/categories/summary",
        Guard::Token("extensions:read"),
    ),
    (
        "GET",
        "/v1/extension/category/{category_id}",
        Guard::Token("extensions:read"),
    ),
    (
        "POST",
        "/v1/agent/{agent_id}/command",
        Guard::AgentScope("extensions:execute"),
    ),
    (
        "GET",
        "/outputs/{agent_id}/{conversation_id}/{file*}",
        Guard::Public,
    ),
    ("GET", "/v1/chains", Guard::Scope("chains:read")),
    ("POST", "/v1/chain", Guard::Scope("chains:write")),
    ("POST", "/v1/chain/import", Guard::Scope("chains:write")),
    ("GET", "/v1/chain/{chain_id}", Guard::Scope("chains:read")),
    ("PUT", "/v1/chain/{chain_id}", Guard::Scope("chains:write")),
    (
        "DELETE",
        "/v1/chain/{chain_id}",
        Guard::Scope("chains:delete"),
    ),
    (
        "GET",
        "/v1/chain/{chain_id}/args",
        Guard::Scope("chains:read"),
    ),
    (
        "GET",
        "/v1/chain/{chain_id}/responses",
        Guard::Scope("chains:read"),
    ),
    (
        "POST",
        "/v1/chain/{chain_id}/step",
        Guard::Scope("chains:write"),
    ),
    (
        "PATCH",
        "/v1/chain/{chain_id}/step/move",
        Guard::Scope("chains:write"),
    ),
    (
        "PUT",
        "/v1/chain/{chain_id}/step/{step_number}",
        Guard::Scope("chains:write"),
    ),
    (
        "DELETE",
        "/v1/chain/{chain_id}/step/{step_number}",
        Guard::Scope("chains:delete"),
    ),
    (
        "POST",
        "/v1/chain/{chain_id}/run",
        Guard::Scope("chains:execute"),
    ),
    (
        "POST",
        "/v1/chain/{chain_id}/run/step/{step_number}",
        Guard::Scope("chains:execute"),
    ),
    ("GET", "/v1/prompts", Guard::Scope("prompts:read")),
    ("GET", "/v1/prompt/categories", Guard::Scope("prompts:read")),
    ("GET", "/v1/prompt/all", Guard::Scope("prompts:read")),
    (
        "GET",
        "/v1/prompt/category/{prompt_category_id}",
        Guard::Scope("prompts:read"),
    ),
    ("POST", "/v1/prompt", Guard::Scope("prompts:write")),
    (
        "GET",
        "/v1/prompt/{prompt_id}",
        Guard::Scope("prompts:read"),
    ),
    (
        "PUT",
        "/v1/prompt/{prompt_id}",
        Guard::Scope("prompts:write"),
    ),
    (
        "PATCH",
        "/v1/prompt/{prompt_id}",
        Guard::Scope("prompts:write"),
    ),
    (
        "DELETE",
        "/v1/prompt/{prompt_id}",
        Guard::Scope("prompts:delete"),
    ),
    (
        "GET",
        "/v1/prompt/{prompt_id}/args",
        Guard::Scope("prompts:read"),
    ),
    (
        "POST",
        "/v1/prompt/{prompt_id}/revert",
        Guard::Scope("prompts:write"),
    ),
    (
        "POST",
        "/v1/chat/completions",
        Guard::BodyScope("agents:execute"),
    ),
    ("GET", "/v1/models", Guard::Token("agents:read")),
    (
        "POST",
        "/v1/agent/{agent_id}/prompt",
        Guard::AgentScope("agents:execute"),
    ),
    (
        "POST",
        "/v1/conversation",
        Guard::Scope("conversations:write"),
    ),
    (
        "GET",
        "/v1/conversations",
        Guard::Scope("conversations:read"),
    ),
    (
        "GET",
        "/v1/conversation/{conversation_id}",
        Guard::Scope("conversations:read"),
    ),
    (
        "PUT",
        "/v1/conversation/{conversation_id}",
        Guard::Scope("conversations:write"),
    ),
    (
        "DELETE",
        "/v1/conversation/{conversation_id}",
        Guard::Scope("conversations:delete"),
    ),
    (
        "POST",
        "/v1/conversation/fork/{conversation_id}/{message_id}",
        Guard::Scope("conversations:write"),
    ),
    (
        "POST",
        "/v1/conversation/{conversation_id}/message",
        Guard::Scope("conversations:write"),
    ),
    (
        "PUT",
        "/v1/conversation/{conversation_id}/message/{message_id}",
        Guard::Scope("conversations:write"),
    ),
    (
        "DELETE",
        "/v1/conversation/{conversation_id}/message/{message_id}",
        Guard::Scope("conversations:write"),
    ),
];

/// The guard [`DECLARED`] gives a route.
fn declared_guard(spec: &RouteSpec) -> Guard {
    DECLARED
        .iter()
        .find(|(method, path, _)| *method == spec.method && *path == spec.path)
        .map(|(_, _, guard)| *guard)
        .unwrap_or_else(|| {
            panic!(
                "{} {} is served but not in DECLARED",
                spec.method, spec.path
            )
        })
}

/// Routes that change the caller or the team itself: each gets a team of its own.
const DESTRUCTIVE: [(&str, &str); 9] = [
    ("DELETE", "/v1/agent/{agent_id}"),
    ("DELETE", "/v1/chain/{chain_id}"),
    ("DELETE", "/v1/chain/{chain_id}/step/{step_number}"),
    ("DELETE", "/v1/conversation/{conversation_id}"),
    (
        "DELETE",
        "/v1/conversation/{conversation_id}/message/{message_id}",
    ),
    ("DELETE", "/v1/companies/{company_id}"),
    ("DELETE", "/v1/companies/{company_id}/users/{user_id}"),
    ("POST", "/v1/logout"),
    ("DELETE", "/v1/user"),
];

#[derive(Debug, PartialEq, Eq)]
enum Expect {
    /// Past the guard: anything but 401 and 403.
    Allowed,
    Unauthorized,
    Forbidden,
    /// Another company's resource: 404, like an unknown id.
    Hidden,
    /// A 5xx: never expected, so always a failure of the cell.
    ServerError,
}

struct Team {
    tokens: Vec<(Caller, String)>,
    company: String,
    user_id: String,
    reader_id: String,
    invitation: String,
    /// The admin's first agent, shared with the team's company.
    agent: String,
    /// The admin's conversation, its message, and the file a command left in it.
    conversation: String,
    message: String,
    /// The admin's chain (one step: Get Datetime by the shared agent).
    chain: String,
    file: String,
}

impl Team {
    fn token(&self, caller: Caller) -> Option<&str> {
        self.tokens
            .iter()
            .find(|(c, _)| *c == caller)
            .map(|(_, t)| t.as_str())
    }
}

async fn company_of(app: &TestApp, token: &str) -> String {
    let (_, view) = app.call(Method::GET, "/v1/user", Some(token), None).await;
    view["companies"][0]["id"].as_str().unwrap().to_owned()
}

async fn team(app: &TestApp) -> Team {
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let (root, root_id) = app.register(&format!("root{tag}@example.com"), None).await;
    let root_company = company_of(app, &root).await;
    let mut conn = app.db.connect();
    let promoted = set_role(
        &mut conn,
        root_id.parse::<UserId>().unwrap(),
        root_company.parse::<CompanyId>().unwrap(),
        RoleId::SUPER_ADMIN,
    )
    .unwrap();
    assert!(promoted);
    let (admin, _) = app.register(&format!("admin{tag}@example.com"), None).await;
    let company = company_of(app, &admin).await;
    let mut invited = Vec::new();
    for (name, role) in [("user", 3), ("reader", 6)] {
        let email = format!("{name}{tag}@example.com");
        let (_, invitation) = app
            .call(
                Method::POST,
                "/v1/invitations",
                Some(&admin),
                Some(json!({"email": email, "role_id": role})),
            )
            .await;
        invited.push(app.register(&email, invitation["id"].as_str()).await);
    }
    let (outsider, _) = app
        .register(&format!("outsider{tag}@example.com"), None)
        .await;
    // Registered with a company of their own (their current one), then a read-only member
    // of the team.
    let (elsewhere, elsewhere_id) = app
        .register(&format!("elsewhere{tag}@example.com"), None)
        .await;
    agentry_store::identity::insert_memberships(
        &mut conn,
        &[agentry_store::identity::NewMembership::new(
            elsewhere_id.parse::<UserId>().unwrap(),
            company.parse::<CompanyId>().unwrap(),
            RoleId::READ_ONLY_USER,
            chrono::Utc::now().naive_utc() + chrono::Duration::seconds(1),
        )],
    )
    .unwrap();
    let (_, pending) = app
        .call(
            Method::POST,
            "/v1/invitations",
            Some(&admin),
            Some(json!({"email": format!("pending{tag}@example.com"), "role_id": 6})),
        )
        .await;
    let (_, agents) = app.call(Method::GET, "/v1/agent", Some(&admin), None).await;
    let agent = agents["agents"][0]["id"].as_str().unwrap().to_owned();
    let (status, shared) = app
        .call(
            Method::PUT,
            &format!("/v1/agent/{agent}"),
            Some(&admin),
            Some(json!({"agent_name": "AGiXT", "settings": {"shared": "true"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{shared}");
    let (_, written) = app
        .call(
            Method::POST,
            &format!("/v1/agent/{agent}/command"),
            Some(&admin),
            Some(json!({"command_name": "Write to File", "command_args": {"filename": "matrix.txt", "text": "m"}, "conversation_name": "matrix"})),
        )
        .await;
    let output = written["response"].as_str().unwrap();
    let at = output.find("/outputs/").unwrap();
    let file_path = output[at..].split('?').next().unwrap().to_owned();
    let conversation = file_path.split('/').nth(3).unwrap().to_owned();
    let (_, added) = app
        .call(
            Method::POST,
            &format!("/v1/conversation/{conversation}/message"),
            Some(&admin),
            Some(json!({"role": "USER", "message": "hello"})),
        )
        .await;
    let message = added["message"].as_str().unwrap().to_owned();
    let (_, chain) = app
        .call(
            Method::POST,
            "/v1/chain",
            Some(&admin),
            Some(json!({"chain_name": "Matrix Chain"})),
        )
        .await;
    let chain = chain["id"].as_str().unwrap().to_owned();
    let (status, step) = app
        .call(
            Method::POST,
            &format!("/v1/chain/{chain}/step"),
            Some(&admin),
            Some(json!({"agent_id": agent, "prompt_type": "Command", "prompt": {"command_name": "Get Datetime"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{step}");
    let (reader, reader_id) = invited.pop().unwrap();
    let (user, user_id) = invited.pop().unwrap();
    Team {
        tokens: vec![
            (Caller::SuperAdmin, root),
            (Caller::CompanyAdmin, admin),
            (Caller::User, user),
            (Caller::ReadOnly, reader),
            (Caller::ReaderAdminElsewhere, elsewhere),
            (Caller::Outsider, outsider),
        ],
        company,
        user_id,
        reader_id,
        invitation: pending["id"].as_str().unwrap().to_owned(),
        agent,
        conversation,
        message,
        chain,
        file: "matrix.txt".into(),
    }
}

/// Conversations are their owner's (the company admin's): anyone else meets 404.
fn conversation_expectation(caller: Caller) -> Expect {
    if caller == Caller::CompanyAdmin {
        Expect::Allowed
    } else {
        Expect::Hidden
    }
}

/// A command's file: the conversation's owner (the company admin), by header; anyone else
/// who sees the agent meets 404 like everyone else; no header and no token is 401.
fn output_expectation(caller: Caller) -> Expect {
    match caller {
        Caller::Anonymous => Expect::Unauthorized,
        Caller::CompanyAdmin => Expect::Allowed,
        _ => Expect::Hidden,
    }
}

/// Agent routes past the guard: the owner (the company admin) reaches every one; members
/// the agent is shared with reach all but rename, delete and the wallet; anyone else (the
/// super admin included) meets 404, as for an unknown agent.
fn agent_expectation(spec: &RouteSpec, caller: Caller) -> Expect {
    const OWNER_ONLY: [(&str, &str); 3] = [
        ("PATCH", "/v1/agent/{agent_id}"),
        ("DELETE", "/v1/agent/{agent_id}"),
        ("GET", "/v1/agent/{agent_id}/wallet"),
    ];
    match caller {
        Caller::CompanyAdmin => Expect::Allowed,
        Caller::User | Caller::ReadOnly | Caller::ReaderAdminElsewhere
            if !OWNER_ONLY.contains(&(spec.method, spec.path)) =>
        {
            Expect::Allowed
        }
        _ => Expect::Hidden,
    }
}

fn role_allows(role: RoleId, scope: &str) -> bool {
    let catalog = agentry_app::setup::catalog();
    let mut held: Vec<String> = catalog.scopes_of(role).map(str::to_owned).collect();
    held.extend(role.role().unwrap().wildcard_patterns().map(str::to_owned));
    ScopeSet::new(held).allows(scope)
}

/// The caller's role in the team's company (`in_team`) or in their current company.
fn role_of(caller: Caller, in_team: bool) -> RoleId {
    match caller {
        Caller::SuperAdmin => RoleId::SUPER_ADMIN,
        Caller::CompanyAdmin | Caller::Outsider => RoleId::COMPANY_ADMIN,
        Caller::ReaderAdminElsewhere if !in_team => RoleId::COMPANY_ADMIN,
        Caller::User => RoleId::USER,
        Caller::ReadOnly | Caller::ReaderAdminElsewhere | Caller::Anonymous => {
            RoleId::READ_ONLY_USER
        }
    }
}

/// What the guard declares for this caller. `targets_team` says whether the request names
/// the team's company (in its path, its body, or through the resource it names).
fn expected(guard: Guard, caller: Caller, targets_team: bool) -> Expect {
    let by_role = |scope: &str, in_team: bool| {
        if role_allows(role_of(caller, in_team), scope) {
            Expect::Allowed
        } else {
            Expect::Forbidden
        }
    };
    match (guard, caller) {
        (Guard::Public, _) => Expect::Allowed,
        // Nobody in the matrix holds the server's own key.
        (Guard::ServerKey, _) => Expect::Unauthorized,
        (_, Caller::Anonymous) => Expect::Unauthorized,
        // Every caller of the matrix has a session.
        (Guard::Token(_) | Guard::Session, _) | (_, Caller::SuperAdmin) => Expect::Allowed,
        (Guard::SuperAdmin, _) => Expect::Forbidden,
        (Guard::BodyScope(_), Caller::Outsider) if targets_team => Expect::Hidden,
        // The current company decides.
        (Guard::Scope(scope), _) => by_role(scope, false),
        (Guard::BodyScope(scope), _) => by_role(scope, targets_team),
        (Guard::CompanyMember(_) | Guard::CompanyScope(_), Caller::Outsider) => Expect::Hidden,
        (Guard::CompanyMember(_), _) => Expect::Allowed,
        (Guard::CompanyScope(scope), _) => by_role(scope, true),
        // The agent's company decides; an outsider does not see the agent at all.
        (Guard::AgentScope(_), Caller::Outsider) => Expect::Hidden,
        (Guard::AgentScope(scope), _) => by_role(scope, true),
    }
}

fn request_for(spec: &RouteSpec, team: &Team) -> (String, Option<Value>, bool) {
    let path = spec
        .path
        .replace("{company_id}", &team.company)
        .replace("{user_id}", &team.user_id)
        .replace("{invitation_id}", &team.invitation)
        .replace("{agent_id}", &team.agent)
        .replace("{name}", "openai")
        .replace("{provider_name}", "openai")
        .replace("{service}", "llm")
        .replace("{command_name}", "Write%20to%20File")
        .replace("{category_id}", "core-abilities")
        .replace("{conversation_id}", &team.conversation)
        .replace("{message_id}", &team.message)
        .replace("{chain_id}", &team.chain)
        .replace("{step_number}", "1")
        // A built-in prompt (every caller sees it; deleting it is refused with 400) and its
        // category, by name.
        .replace("{prompt_id}", &agentry_app::prompts::builtin_id("Chat"))
        .replace("{prompt_category_id}", "Default")
        .replace("{file*}", &team.file)
        // Nobody's token: a permitted caller meets "Token not found".
        .replace("{token_id}", &uuid::Uuid::new_v4().to_string());
    let body = match (spec.method, spec.path) {
        ("GET" | "DELETE", _) => None,
        ("PUT", "/v1/user/role") => {
            Some(json!({"role_id": 6, "company_id": team.company, "user_id": team.reader_id}))
        }
        ("POST", "/v1/invitations") => Some(json!({"email": "matrix@example.com", "role_id": 6})),
        // Valid bodies, so the agent's owner and sharing decide, not the body's shape.
        ("PATCH", "/v1/agent/{agent_id}") => Some(json!({"new_name": "Renamed"})),
        ("POST", "/v1/agent/{agent_id}/clone") => Some(json!({"new_name": "Cloned"})),
        ("PATCH", "/v1/agent/{agent_id}/command") => {
            Some(json!({"command_name": "Get Datetime", "enable": true}))
        }
        ("PATCH", "/v1/agent/{agent_id}/extension/commands") => {
            Some(json!({"extension_name": "essential_abilities", "enable": true}))
        }
        ("PUT", "/v1/agent/{agent_id}/persona") => Some(json!({"persona": "kind"})),
        ("POST", "/v1/agent/{agent_id}/command") => Some(
            json!({"command_name": "Get Datetime", "command_args": {}, "conversation_name": "matrix"}),
        ),
        ("PUT", "/v1/conversation/{conversation_id}") => {
            Some(json!({"new_conversation_name": "renamed"}))
        }
        ("POST", "/v1/conversation/{conversation_id}/message") => {
            Some(json!({"role": "USER", "message": "m"}))
        }
        ("PUT", "/v1/conversation/{conversation_id}/message/{message_id}") => {
            Some(json!({"new_message": "edited"}))
        }
        ("POST", "/v1/conversation") => Some(json!({"conversation_name": "matrix"})),
        ("POST", "/v1/prompt") => Some(json!({"prompt_name": "Matrix", "prompt": "{user_input}"})),
        ("POST", "/v1/chain") => Some(json!({"chain_name": "Matrix New"})),
        ("POST", "/v1/chain/import") => Some(json!({"chain_name": "Imported", "steps": []})),
        ("PUT", "/v1/chain/{chain_id}") => Some(json!({"description": "d"})),
        ("POST", "/v1/chain/{chain_id}/step")
        | ("PUT", "/v1/chain/{chain_id}/step/{step_number}") => Some(
            json!({"agent_id": team.agent, "prompt_type": "Command", "prompt": {"command_name": "Get Datetime"}}),
        ),
        ("PATCH", "/v1/chain/{chain_id}/step/move") => {
            Some(json!({"old_step_number": 1, "new_step_number": 1}))
        }
        ("POST", "/v1/chain/{chain_id}/run")
        | ("POST", "/v1/chain/{chain_id}/run/step/{step_number}") => Some(json!({"prompt": "hi"})),
        ("PUT", "/v1/prompt/{prompt_id}") => Some(json!({"prompt": "mine: {user_input}"})),
        ("PATCH", "/v1/prompt/{prompt_id}") => Some(json!({"prompt_name": "Chat"})),
        ("POST", "/v1/chat/completions") => Some(json!({
            "model": team.agent, "user": "matrix", "messages": [{"role": "user", "content": "hi"}]
        })),
        ("POST", "/v1/agent/{agent_id}/prompt") => Some(json!({
            "prompt_name": "Chat", "prompt_args": {"user_input": "hi"}
        })),
        ("POST", "/v1/billing/tokens/warning/dismiss") => Some(json!({"company_id": team.company})),
        _ => Some(json!({})),
    };
    // A completion's `model` is the team's agent: its company decides.
    let targets_team = spec.path.contains("{company_id}")
        || spec.path.contains("{invitation_id}")
        || spec.path == "/v1/chat/completions"
        || body.as_ref().is_some_and(|b| b.get("company_id").is_some());
    (path, body, targets_team)
}

fn outcome(status: StatusCode) -> Expect {
    match status {
        StatusCode::UNAUTHORIZED => Expect::Unauthorized,
        StatusCode::FORBIDDEN => Expect::Forbidden,
        StatusCode::NOT_FOUND => Expect::Hidden,
        status if status.is_server_error() => Expect::ServerError,
        _ => Expect::Allowed,
    }
}

app_tests! {
    async fn every_route_answers_every_caller_as_its_guard_declares(db) {
        every_cell(db, None).await;
    }

    // No use case takes a second connection while it holds one: with a pool of one, such a
    // use case would wait for itself until the pool's timeout and answer 503.
    async fn every_route_answers_every_caller_on_a_pool_of_one_connection(db) {
        every_cell(db, Some(1)).await;
    }
}

/// Every route as every caller, on a pool of `pool_size` connections (the default if none).
async fn every_cell(db: agentry_test_support::TestDb, pool_size: Option<u32>) {
    {
        // With a webhook secret, so Stripe's webhook answers (an unsigned event: 400).
        let settings = agentry::config::Settings {
            stripe_webhook_secret: Some("whsec_matrix".into()),
            db_pool_size: pool_size,
            ..agentry::config::Settings::default()
        };
        // A model, so that whoever may run a completion gets one.
        let model = agentry_test_support::fake_model::FakeModel::start();
        let app = TestApp::spawn_with_providers(
            db,
            settings,
            &[
                ("EZLOCALAI_API_URI", &model.url),
                ("EZLOCALAI_AI_MODEL", "echo"),
            ],
        )
        .await;
        for (method, path, _) in DECLARED {
            assert!(
                ROUTES
                    .iter()
                    .any(|r| r.method == *method && r.path == *path),
                "{method} {path} is declared here but not served"
            );
        }
        assert_eq!(DECLARED.len(), ROUTES.len(), "one expectation per route");
        for (method, path) in DESTRUCTIVE {
            assert!(
                ROUTES.iter().any(|r| r.method == method && r.path == path),
                "{method} {path} is not in the table"
            );
        }
        let shared = team(&app).await;
        let mut cells = 0;
        let mut failures = Vec::new();
        for spec in ROUTES {
            let fresh;
            let team = if DESTRUCTIVE.contains(&(spec.method, spec.path)) {
                fresh = team(&app).await;
                &fresh
            } else {
                &shared
            };
            for caller in CALLERS {
                let (path, body, targets_team) = request_for(spec, team);
                let (status, answer) = app
                    .call(
                        Method::from_bytes(spec.method.as_bytes()).unwrap(),
                        &path,
                        team.token(caller),
                        body,
                    )
                    .await;
                let mut want = expected(declared_guard(spec), caller, targets_team);
                if spec.path.starts_with("/outputs/") {
                    want = output_expectation(caller);
                } else if (spec.path.contains("{agent_id}") || spec.path == "/v1/chat/completions")
                    && want == Expect::Allowed
                {
                    want = agent_expectation(spec, caller);
                } else if (spec.path.contains("{conversation_id}")
                    || spec.path.contains("{chain_id}"))
                    && want == Expect::Allowed
                {
                    want = conversation_expectation(caller);
                }
                let got = outcome(status);
                // A permitted caller may still meet a 404 for an id that is gone (an
                // invitation the previous caller deleted); a refusal must be exact.
                let ok = got == want
                    || (want == Expect::Allowed
                        && got == Expect::Hidden
                        && (spec.path.contains("{invitation_id}")
                            || spec.path.contains("{token_id}")));
                if !ok {
                    failures.push(format!(
                        "{} {} as {caller:?}: expected {want:?}, got {status} {answer}",
                        spec.method, spec.path
                    ));
                }
                cells += 1;
            }
        }
        assert_eq!(cells, ROUTES.len() * CALLERS.len());
        assert!(
            failures.is_empty(),
            "{} of {cells} cells wrong:\\n{}",
            failures.len(),
            failures.join("\\n")
        );
        eprintln!(
            "matrix: {} routes x {} callers = {cells} cells, pool {pool_size:?}",
            ROUTES.len(),
            CALLERS.len()
        );
    }
}
