//! Agents (reference agents-memory.md section 2): the list a user sees, creation with the
//! reference's defaults, the core commands and a wallet, settings merged and masked, sharing
//! with a company through `shared`/`company_id`, rename, delete, clone, persona, wallet.
//!
//! Reads come from two read models: each agent's view (settings opened, commands) and each
//! user's visible-agent list. Every write invalidates what it touches, here and on the other
//! instances (`Invalidation::Agent`, `Invalidation::VisibleAgents`); fills carry a ticket
//! taken before the read, so a read racing a write cannot put old data back.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use agentry_auth::secrets::SecretBox;
use agentry_auth::wallet::Wallet;
use agentry_domain::access::Access;
use agentry_domain::agent::{
    self, COMPANY_ID, SHARED, WALLET_ADDRESS, WALLET_PASSPHRASE, WALLET_SECRET,
};
use agentry_domain::events::{AgentChange, DomainEvent};
use agentry_domain::{AgentId, CompanyId, UserId};
use agentry_store::agents::{self as store, AgentRow, CommandRow, SettingRow};
use agentry_store::events::Work;
use agentry_store::{AnyConnection, DbUuid, companies};
use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::company_extensions::CompanyExtensions;
use crate::session::Caller;
use crate::tokens::TokenGrant;
use crate::{App, AppError};

/// An agent as the read model keeps it: settings opened (secrets in clear, in memory only).
#[derive(Debug, Clone)]
pub struct AgentView {
    pub id: AgentId,
    pub name: String,
    pub owner: UserId,
    pub company: Option<CompanyId>,
    pub shared: bool,
    pub settings: BTreeMap<String, String>,
    pub commands: BTreeMap<String, bool>,
    pub created_at: NaiveDateTime,
}

/// Roughly what an agent's view holds in memory (its settings and command states).
pub(crate) fn agent_weight(view: &Option<Arc<AgentView>>) -> usize {
    view.as_ref().map_or(64, |view| {
        view.name.len() + crate::company_extensions::weight_of(&view.settings, &view.commands)
    })
}

/// Roughly what a user's visible-agent list holds (names, entries, the rendered body).
pub(crate) fn list_weight(list: &VisibleList) -> usize {
    2 * list.body.len() + list.names.iter().map(|(_, n)| n.len() + 64).sum::<usize>()
}

/// The agents a user sees: ids with names (for lookups by name), the entries, and the
/// rendered list.
#[derive(Debug, Clone)]
pub struct VisibleList {
    pub names: Vec<(AgentId, String)>,
    pub entries: Vec<AgentEntry>,
    pub body: Arc<str>,
}

impl VisibleList {
    /// The entries a token sees: all for a session or an unlimited token; for a token limited
    /// to some companies or agents, its own agents when the token reaches them and shared
    /// agents only of the token's companies (`default` moved to the first kept when needed).
    pub fn entries_for(&self, grant: Option<&TokenGrant>) -> Vec<AgentEntry> {
        let Some(grant) = grant.filter(|g| g.is_limited()) else {
            return self.entries.clone();
        };
        let mut kept: Vec<AgentEntry> = self
            .entries
            .iter()
            .filter(|e| grant.agents.is_empty() || grant.agents.contains(&e.id))
            .filter(|e| {
                e.is_owner
                    || grant.companies.is_empty()
                    || e.company_id.is_some_and(|c| grant.companies.contains(&c))
            })
            .cloned()
            .collect();
        if !kept.iter().any(|e| e.default)
            && let Some(first) = kept.first_mut()
        {
            first.default = true;
        }
        kept
    }

    /// The held body, or the limited rendering for a token limited to companies or agents
    /// (rendered per request, from memory).
    fn body_for(&self, grant: Option<&TokenGrant>) -> Arc<str> {
        match grant.filter(|g| g.is_limited()) {
            None => Arc::clone(&self.body),
            Some(_) => serde_json::to_string(&json!({ "agents": self.entries_for(grant) }))
                .map_or_else(|_| Arc::clone(&self.body), Into::into),
        }
    }
}

/// One entry of `GET /v1/agent`.
#[derive(Debug, Clone, Serialize)]
pub struct AgentEntry {
    pub name: String,
    pub id: AgentId,
    pub status: bool,
    pub company_id: Option<CompanyId>,
    pub default: bool,
    pub is_owner: bool,
    pub is_shared: bool,
    pub access_level: &'static str,
}

#[derive(Debug, Clone, Deserialize)]
pub struct NewAgentBody {
    pub agent_name: Value,
    #[serde(default)]
    pub settings: Option<Value>,
    #[serde(default)]
    pub commands: Option<Value>,
    #[serde(default)]
    pub training_urls: Option<Value>,
}

pub(crate) fn not_found() -> AppError {
    AppError::NotFound("Agent not found".into())
}

use crate::now_naive as now;

fn invalid(field: &str, message: impl Into<String>) -> AppError {
    AppError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// A JSON object field (absent or null: empty), else 422.
fn object<'a>(
    value: &'a Option<Value>,
    field: &str,
) -> Result<Option<&'a Map<String, Value>>, AppError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(_) => Err(invalid(field, "expected a JSON object")),
    }
}

pub(crate) fn settings_of_body(
    value: &Option<Value>,
) -> Result<BTreeMap<String, String>, AppError> {
    match object(value, "settings")? {
        None => Ok(BTreeMap::new()),
        Some(map) => agent::settings_from_json(map).map_err(|e| invalid("settings", e.to_string())),
    }
}

/// `{name: bool}` command states; values must be booleans.
fn commands_of_body(value: &Option<Value>) -> Result<BTreeMap<String, bool>, AppError> {
    let Some(map) = object(value, "commands")? else {
        return Ok(BTreeMap::new());
    };
    if map.len() > agent::MAX_SETTINGS * 4 {
        return Err(invalid("commands", "too many commands"));
    }
    map.iter()
        .map(|(name, state)| match state {
            Value::Bool(on) => Ok((name.clone(), *on)),
            _ => Err(invalid(
                "commands",
                format!("`{name}`: expected true or false"),
            )),
        })
        .collect()
}

fn name_of(value: &Value, field: &str) -> Result<String, AppError> {
    value.as_str().and_then(agent::agent_name).ok_or_else(|| {
        invalid(
            field,
            format!("1 to {} characters, no slashes", agent::MAX_AGENT_NAME),
        )
    })
}

impl App {
    fn secret_box(&self) -> &SecretBox {
        &self.secrets
    }

    /// Settings rows to store: secrets sealed.
    fn sealed_rows(&self, agent: DbUuid, settings: &BTreeMap<String, String>) -> Vec<SettingRow> {
        settings
            .iter()
            .map(|(name, value)| SettingRow {
                agent_id: agent,
                name: name.clone(),
                value: if agent::is_secret(name) {
                    self.secret_box().seal(value)
                } else {
                    value.clone()
                },
            })
            .collect()
    }

    /// Views of `rows` with their settings and commands (two statements whatever their
    /// number), each kept in the read model unless a write overtook `ticket`.
    fn agent_views(
        &self,
        conn: &mut AnyConnection,
        rows: Vec<AgentRow>,
        ticket: agentry_cache::Ticket,
    ) -> Result<Vec<Arc<AgentView>>, AppError> {
        let ids: Vec<DbUuid> = rows.iter().map(|r| r.id).collect();
        let mut settings: BTreeMap<DbUuid, BTreeMap<String, String>> = BTreeMap::new();
        for row in store::settings_of(conn, &ids)? {
            let value = if agent::is_secret(&row.name) {
                // A value that no longer opens (the server key changed) reads as unset.
                self.secret_box().open(&row.value).unwrap_or_default()
            } else {
                row.value
            };
            settings
                .entry(row.agent_id)
                .or_default()
                .insert(row.name, value);
        }
        let mut commands: BTreeMap<DbUuid, BTreeMap<String, bool>> = BTreeMap::new();
        for row in store::commands_of(conn, &ids)? {
            commands
                .entry(row.agent_id)
                .or_default()
                .insert(row.command, row.enabled);
        }
        Ok(rows
            .into_iter()
            .map(|row| {
                let view = Arc::new(AgentView {
                    id: row.id.into(),
                    name: row.name,
                    owner: row.user_id.into(),
                    company: row.company_id.map(Into::into),
                    shared: row.shared,
                    settings: settings.remove(&row.id).unwrap_or_default(),
                    commands: commands.remove(&row.id).unwrap_or_default(),
                    created_at: row.created_at,
                });
                self.agent_views
                    .fill(view.id, ticket, Some(Arc::clone(&view)));
                view
            })
            .collect())
    }

    /// One agent's view, from memory when held (`None`: no such agent).
    fn agent_view(&self, id: AgentId) -> Result<Option<Arc<AgentView>>, AppError> {
        if let Some(held) = self.agent_views.get(&id) {
            return Ok(held.as_ref().clone());
        }
        let ticket = self.agent_views.ticket();
        let mut conn = self.conn()?;
        match store::find_agent(&mut conn, id.into())? {
            Some(row) => Ok(self.agent_views(&mut conn, vec![row], ticket)?.pop()),
            None => {
                self.agent_views.fill(id, ticket, None);
                Ok(None)
            }
        }
    }

    /// The agents the caller sees, own first, with `GET /v1/agent`'s body rendered once (held
    /// per user; one statement to fill, with the user's view for the default agent).
    fn visible_list(&self, caller: &Caller) -> Result<Arc<VisibleList>, AppError> {
        if let Some(list) = self.visible_agents.get(&caller.user) {
            return Ok(list);
        }
        let ticket = self.visible_agents.ticket();
        let companies: Vec<CompanyId> = self.member_companies(caller.user)?;
        let preferred = self.preferred_agent(caller)?;
        let mut conn = self.conn()?;
        let mut rows = store::visible_agents(&mut conn, caller.user, &companies)?;
        drop(conn);
        // Own agents first, then shared ones, each oldest first.
        rows.sort_by_key(|r| (UserId::from(r.user_id) != caller.user, r.created_at));
        let chosen = preferred
            .filter(|p| rows.iter().any(|r| AgentId::from(r.id) == *p))
            .or_else(|| rows.first().map(|r| r.id.into()));
        let entries: Vec<AgentEntry> = rows
            .iter()
            .map(|row| {
                let owner = UserId::from(row.user_id) == caller.user;
                AgentEntry {
                    name: row.name.clone(),
                    id: row.id.into(),
                    status: false,
                    company_id: row.company_id.map(Into::into),
                    default: Some(AgentId::from(row.id)) == chosen,
                    is_owner: owner,
                    is_shared: row.shared,
                    access_level: if owner { "owner" } else { "viewer" },
                }
            })
            .collect();
        let body = serde_json::to_string(&json!({ "agents": entries }))
            .map_err(|error| AppError::Internal(error.to_string()))?;
        let list = VisibleList {
            names: rows.into_iter().map(|r| (r.id.into(), r.name)).collect(),
            entries,
            body: body.into(),
        };
        Ok(self.visible_agents.fill(caller.user, ticket, list))
    }

    /// The companies `user` belongs to (from the held access; not limited by a token).
    fn member_companies(&self, user: UserId) -> Result<Vec<CompanyId>, AppError> {
        Ok(self
            .access(user)?
            .companies
            .iter()
            .map(|c| c.company)
            .collect())
    }

    /// Whether the caller sees `view`: they own it, or it is shared with a company of theirs
    /// (of the token's, for a token limited to some), and a token limited to some agents
    /// names it.
    fn sees(&self, caller: &Caller, view: &AgentView) -> Result<bool, AppError> {
        if caller
            .token
            .as_ref()
            .is_some_and(|grant| !grant.agents.is_empty() && !grant.agents.contains(&view.id))
        {
            return Ok(false);
        }
        if view.owner == caller.user {
            return Ok(true);
        }
        Ok(view.shared
            && view
                .company
                .is_some_and(|c| self.caller_access(caller).is_ok_and(|a| a.is_member(c))))
    }

    /// The agent a path names, by id or by name among the caller's visible agents; an
    /// unknown, foreign or unshared agent is 404.
    pub(crate) fn visible_agent(
        &self,
        caller: &Caller,
        id_or_name: &str,
    ) -> Result<Arc<AgentView>, AppError> {
        let wanted = id_or_name.trim();
        if let Ok(id) = wanted.parse::<AgentId>() {
            let view = self.agent_view(id)?.ok_or_else(not_found)?;
            return if self.sees(caller, &view)? {
                Ok(view)
            } else {
                Err(not_found())
            };
        }
        let list = self.visible_list(caller)?;
        for (id, name) in &list.names {
            if name == wanted
                && let Some(view) = self.agent_view(*id)?
                && self.sees(caller, &view)?
            {
                return Ok(view);
            }
        }
        Err(not_found())
    }

    /// The company whose roles decide what `access` may do to `view`: the agent's company
    /// when the user belongs to it, else (an agent of no company, or whose owner left it)
    /// the user's current one. Decided on the user's whole access, not a token's part of
    /// it: a token limited to other companies must not move the check to one of those.
    fn deciding_company(user_access: &Access, view: &AgentView) -> Option<CompanyId> {
        view.company
            .filter(|company| user_access.is_member(*company))
    }

    /// 403 unless the caller holds `scope` in the company that owns `view` (not in their own
    /// current company: a read-only member of the agent's company may not write to it
    /// because they administer another).
    pub(crate) fn authorize_agent(
        &self,
        caller: &Caller,
        view: &AgentView,
        scope: &str,
    ) -> Result<(), AppError> {
        let company = Self::deciding_company(self.access(caller.user)?.as_ref(), view);
        // Through a token, its grant and its companies limit this further (a token that
        // does not reach the agent's company holds nothing there).
        if self.caller_access(caller)?.allows(company, scope) {
            Ok(())
        } else {
            Err(AppError::insufficient(scope))
        }
    }

    /// The agent a path names, if the caller sees it (404 otherwise) and holds `scope` in
    /// its company (403 otherwise).
    pub(crate) fn agent_for(
        &self,
        caller: &Caller,
        id_or_name: &str,
        scope: &str,
    ) -> Result<Arc<AgentView>, AppError> {
        let view = self.visible_agent(caller, id_or_name)?;
        self.authorize_agent(caller, &view, scope)?;
        Ok(view)
    }

    /// [`App::agent_for`] with its company's layer of settings and command states.
    pub(crate) fn visible_agent_with_company(
        &self,
        caller: &Caller,
        id_or_name: &str,
        scope: &str,
    ) -> Result<(Arc<AgentView>, Arc<CompanyExtensions>), AppError> {
        let view = self.agent_for(caller, id_or_name, scope)?;
        // The company's layer applies while the owner belongs to it: an agent whose owner
        // left keeps no company settings (keys included).
        let company = match view.company {
            Some(company) if self.access(view.owner)?.is_member(company) => Some(company),
            _ => None,
        };
        let layer = self.company_layer(company)?;
        Ok((view, layer))
    }

    /// The agent, if the caller owns it (rename, delete, wallet; others get 404) and holds
    /// `scope` in its company.
    fn owned_agent(
        &self,
        caller: &Caller,
        id_or_name: &str,
        scope: &str,
    ) -> Result<Arc<AgentView>, AppError> {
        let view = self.agent_for(caller, id_or_name, scope)?;
        if view.owner != caller.user {
            return Err(not_found());
        }
        Ok(view)
    }

    /// Everyone whose visible list `agent` is in: the owner and, when shared, the members of
    /// its company.
    fn viewers(
        &self,
        conn: &mut AnyConnection,
        owner: UserId,
        companies_: &[CompanyId],
    ) -> Result<Vec<UserId>, AppError> {
        let mut users: HashSet<UserId> = HashSet::from([owner]);
        if !companies_.is_empty() {
            users.extend(
                companies::members_of(conn, companies_)?
                    .into_iter()
                    .map(|(m, _)| UserId::from(m.user_id)),
            );
        }
        Ok(users.into_iter().collect())
    }

    /// Who sees `view` now: its owner, and its company's members while it is shared.
    fn viewers_of(
        &self,
        conn: &mut AnyConnection,
        view: &AgentView,
    ) -> Result<Vec<UserId>, AppError> {
        let sharing: Vec<CompanyId> = if view.shared {
            view.company.into_iter().collect()
        } else {
            Vec::new()
        };
        self.viewers(conn, view.owner, &sharing)
    }

    /// Write command states of one agent (one statement and its event).
    fn commands_changed(&self, agent: AgentId, rows: &[CommandRow]) -> Result<(), AppError> {
        let mut conn = self.conn()?;
        self.write(&mut conn, |work| {
            store::upsert_commands(work.conn(), rows)?;
            work.record(DomainEvent::AgentChanged {
                agent,
                change: AgentChange::Updated,
                viewers: Vec::new(),
            });
            Ok(())
        })
    }

    /// `GET /v1/agent`: the caller's own agents, then those shared with them. Every one is
    /// listed, even when names repeat (the reference keeps the first of each name, which
    /// hides a team's shared "AGiXT" behind each member's own).
    pub fn list_agents(&self, caller: &Caller) -> Result<Arc<str>, AppError> {
        caller.require("agents:read")?;
        Ok(self.visible_list(caller)?.body_for(caller.token.as_deref()))
    }

    /// The entries of `GET /v1/agent` (limited as the caller's token is).
    pub fn visible_entries(&self, caller: &Caller) -> Result<Vec<AgentEntry>, AppError> {
        Ok(self
            .visible_list(caller)?
            .entries_for(caller.token.as_deref()))
    }

    /// `GET /v1/agent` from memory, when this process holds the caller's list.
    pub fn cached_agent_list(&self, caller: &Caller) -> Option<Arc<str>> {
        if !caller.may("agents:read") {
            return None;
        }
        self.visible_agents
            .get(&caller.user)
            .map(|list| list.body_for(caller.token.as_deref()))
    }

    /// The caller's `agent_id` preference, when it names an agent.
    fn preferred_agent(&self, caller: &Caller) -> Result<Option<AgentId>, AppError> {
        let view = self.user_view_preferences(caller)?;
        Ok(view
            .get("agent_id")
            .and_then(Value::as_str)
            .and_then(|id| id.parse().ok()))
    }

    /// The agents `GET /v1/user` lists in each company: visible agents of that company.
    pub(crate) fn agents_for_view(
        &self,
        conn: &mut AnyConnection,
        user: UserId,
        companies_: &[CompanyId],
        preferred: Option<&str>,
    ) -> Result<BTreeMap<CompanyId, Vec<Value>>, AppError> {
        let mut rows = store::visible_agents(conn, user, companies_)?;
        rows.sort_by_key(|r| (UserId::from(r.user_id) != user, r.created_at));
        let default = preferred
            .and_then(|p| p.parse::<AgentId>().ok())
            .filter(|p| rows.iter().any(|r| AgentId::from(r.id) == *p))
            .or_else(|| rows.first().map(|r| r.id.into()));
        let mut by_company: BTreeMap<CompanyId, Vec<Value>> = BTreeMap::new();
        for row in rows {
            let Some(company) = row.company_id.map(CompanyId::from) else {
                continue;
            };
            let id = AgentId::from(row.id);
            by_company.entry(company).or_default().push(json!({
                "id": id, "name": row.name, "status": false, "companyId": company,
                "default": Some(id) == default,
            }));
        }
        Ok(by_company)
    }

    /// The company a new, cloned or moved agent goes to: the one named, which the caller
    /// belongs to (404 otherwise), else the caller's current company; the caller must hold
    /// `agents:write` there (403 otherwise).
    fn agent_company(
        &self,
        caller: &Caller,
        named: Option<&String>,
    ) -> Result<Option<CompanyId>, AppError> {
        let access = self.caller_access(caller)?;
        let company = match named.map(|c| c.trim()).filter(|c| !c.is_empty()) {
            Some(text) => {
                let company: CompanyId = text
                    .parse()
                    .map_err(|_| AppError::NotFound("Company not found".into()))?;
                if !access.is_member(company) {
                    return Err(AppError::NotFound("Company not found".into()));
                }
                Some(company)
            }
            None => access.primary().map(|c| c.company),
        };
        if !access.allows(company, "agents:write") {
            return Err(AppError::insufficient("agents:write"));
        }
        Ok(company)
    }

    /// `POST /v1/agent`: 409 when the caller already has an agent of that name.
    pub fn create_agent(&self, caller: &Caller, body: NewAgentBody) -> Result<AgentId, AppError> {
        let name = name_of(&body.agent_name, "agent_name")?;
        let given = settings_of_body(&body.settings)?;
        let commands = commands_of_body(&body.commands)?;
        if body
            .training_urls
            .as_ref()
            .is_some_and(|u| u.as_array().is_some_and(|a| !a.is_empty()))
        {
            return Err(AppError::BadRequest(
                "training_urls are not supported yet; create the agent, then add memories".into(),
            ));
        }
        let mut settings = agent::default_settings(None);
        settings.extend(given);
        let after: BTreeMap<&str, &str> = settings
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        self.settings
            .limits
            .check("settings", &BTreeMap::new(), &after)?;
        let company = self.agent_company(caller, settings.get(COMPANY_ID))?;
        self.insert_new_agent(caller.user, &name, settings, company, &commands)
    }

    /// Insert an agent with `settings` (plus `company_id` and a new wallet) and the core
    /// commands enabled, then `commands` applied; one transaction.
    pub(crate) fn insert_new_agent(
        &self,
        owner: UserId,
        name: &str,
        mut settings: BTreeMap<String, String>,
        company: Option<CompanyId>,
        commands: &BTreeMap<String, bool>,
    ) -> Result<AgentId, AppError> {
        let mut conn = self.conn()?;
        self.write(&mut conn, |work| {
            let conn = work.conn();
            // Counted in the write's transaction, so concurrent creations (on any
            // instance) cannot pass the limit together.
            let limit = self.settings.limits.max_agents_per_user;
            // PostgreSQL: the owner's row is locked first, so concurrent creations count
            // one after another (SQLite's IMMEDIATE transaction already queues them).
            agentry_store::account::lock_user(conn, owner)?;
            if store::count_owned(conn, owner)? >= limit as i64 {
                return Err(AppError::Invalid {
                    field: "agent_name".into(),
                    message: format!("a user owns at most {limit} agents"),
                });
            }
            self.insert_agent_in(work, owner, name, &mut settings, company, commands)
        })
    }

    /// [`App::insert_new_agent`] in the caller's unit of work (registration's too); records
    /// the new agent with who sees it.
    pub(crate) fn insert_agent_in(
        &self,
        work: &mut Work<'_>,
        owner: UserId,
        name: &str,
        settings: &mut BTreeMap<String, String>,
        company: Option<CompanyId>,
        commands: &BTreeMap<String, bool>,
    ) -> Result<AgentId, AppError> {
        let id = AgentId::new();
        let at = now();
        settings.insert(
            COMPANY_ID.into(),
            company.map(|c| c.to_string()).unwrap_or_default(),
        );
        let wallet = Wallet::generate();
        settings.insert(WALLET_SECRET.into(), wallet.secret_hex);
        settings.insert(WALLET_PASSPHRASE.into(), wallet.passphrase_hex);
        settings.insert(WALLET_ADDRESS.into(), wallet.address);
        let shared = settings.get(SHARED).is_some_and(|s| agent::truthy(s));
        let row = AgentRow {
            id: id.into(),
            name: name.to_owned(),
            user_id: owner.into(),
            company_id: company.map(Into::into),
            shared,
            created_at: at,
            updated_at: at,
        };
        let mut states: BTreeMap<String, bool> = self
            .registry
            .core_commands()
            .into_iter()
            .map(|c| (c.to_owned(), true))
            .collect();
        for (command, on) in commands {
            if let Some((_, spec)) = self.registry.command(command) {
                states.insert(spec.name.to_owned(), *on);
            }
        }
        let command_rows: Vec<CommandRow> = states
            .into_iter()
            .map(|(command, enabled)| CommandRow {
                agent_id: id.into(),
                command,
                enabled,
            })
            .collect();
        let setting_rows = self.sealed_rows(id.into(), settings);
        let conn = work.conn();
        store::insert_agent(conn, &row, &setting_rows, &command_rows).map_err(|error| {
            if error.is_conflict() {
                AppError::Conflict(format!("Agent {name} already exists."))
            } else {
                error.into()
            }
        })?;
        let sharing: Vec<CompanyId> = if shared {
            company.into_iter().collect()
        } else {
            Vec::new()
        };
        let viewers = self.viewers(conn, owner, &sharing)?;
        work.record(DomainEvent::AgentChanged {
            agent: id,
            change: AgentChange::Created,
            viewers,
        });
        Ok(id)
    }

    /// `GET /v1/agent/{id}`: `{"agent": {"settings", "commands"}}`, secrets masked. The
    /// company's settings fill the names the agent does not set (reference 2.7: the company
    /// agent's values never override the agent's); commands show their effective state.
    pub fn agent_config(&self, caller: &Caller, id: &str) -> Result<Value, AppError> {
        let (view, layer) = self.visible_agent_with_company(caller, id, "agents:read")?;
        let mut settings: Map<String, Value> = layer
            .settings
            .iter()
            .filter(|(name, value)| !value.is_empty() && !view.settings.contains_key(*name))
            .map(|(name, value)| (name.clone(), Value::String(agent::mask_hidden(name, value))))
            .collect();
        settings.extend(
            view.settings
                .iter()
                .filter(|(name, value)| !value.is_empty() || agent::is_secret(name))
                .map(|(name, value)| {
                    (name.clone(), Value::String(agent::mask_hidden(name, value)))
                }),
        );
        Ok(json!({"agent": {"settings": settings, "commands": self.command_states(&view, &layer)}}))
    }

    /// Every command that exists, with this agent's effective state (off when neither the
    /// agent nor its company set it).
    pub(crate) fn command_states(
        &self,
        view: &AgentView,
        layer: &CompanyExtensions,
    ) -> Map<String, Value> {
        self.registry
            .command_names()
            .into_iter()
            .map(|name| {
                (
                    name.to_owned(),
                    Value::Bool(Self::command_enabled(view, layer, name)),
                )
            })
            .collect()
    }

    /// `PUT /v1/agent/{id}`: merge settings (the owner, or a member the agent is shared
    /// with who holds `agents:write` in its company). `""` removes a setting, except
    /// secrets, where it records an explicit disconnect. Moving the agent to another company
    /// (`company_id`) or unsharing it is for its owner or an admin of its company, and a
    /// move needs `agents:write` in both companies.
    pub fn update_agent_settings(
        &self,
        caller: &Caller,
        id: &str,
        settings: &Option<Value>,
    ) -> Result<String, AppError> {
        let view = self.agent_for(caller, id, "agents:write")?;
        let given = settings_of_body(settings)?;
        // The wallet is made with the agent and is its owner's: never written through settings.
        if let Some(name) = given.keys().find(|name| {
            [WALLET_SECRET, WALLET_PASSPHRASE, WALLET_ADDRESS].contains(&name.as_str())
        }) {
            return Err(invalid("settings", format!("`{name}` cannot be changed")));
        }
        let (mut upserts, mut removals) = (BTreeMap::new(), Vec::new());
        for (name, value) in given {
            if value.is_empty() && !agent::is_secret(&name) {
                removals.push(name);
            } else {
                upserts.insert(name, value);
            }
        }
        // Sharing follows the settings of the same names.
        let shared = match (upserts.get(SHARED), removals.iter().any(|r| r == SHARED)) {
            (Some(value), _) => agent::truthy(value),
            (None, true) => false,
            (None, false) => view.shared,
        };
        let company = if upserts.contains_key(COMPANY_ID) {
            self.agent_company(caller, upserts.get(COMPANY_ID))?
        } else if removals.iter().any(|r| r == COMPANY_ID) {
            None
        } else {
            view.company
        };
        let moving = company != view.company;
        if moving || (view.shared && !shared) {
            let access = self.caller_access(caller)?;
            let admin_of_its_company = access.is_super_admin()
                || view
                    .company
                    .and_then(|c| access.in_company(c))
                    .is_some_and(|m| m.role.is_admin() && !access.limited);
            if view.owner != caller.user && !admin_of_its_company {
                return Err(AppError::Forbidden(
                    "Only the agent's owner or an admin of its company can move or unshare it"
                        .into(),
                ));
            }
        }
        if let Some(company) = company {
            upserts.insert(COMPANY_ID.into(), company.to_string());
        }
        // What the agent would hold after the change, within the limits.
        self.settings
            .limits
            .check_update("settings", &view.settings, &removals, &upserts)?;
        let rows = self.sealed_rows(view.id.into(), &upserts);
        let mut conn = self.conn()?;
        self.write(&mut conn, |work| {
            let conn = work.conn();
            store::upsert_settings(conn, &rows)?;
            store::delete_settings(conn, view.id.into(), &removals)?;
            let mut viewers = Vec::new();
            if shared != view.shared || company != view.company {
                store::set_sharing(conn, view.id.into(), shared, company.map(Into::into), now())?;
                let mut touched: Vec<CompanyId> = Vec::new();
                if view.shared {
                    touched.extend(view.company);
                }
                if shared {
                    touched.extend(company);
                }
                viewers = self.viewers(conn, view.owner, &touched)?;
            }
            work.record(DomainEvent::AgentChanged {
                agent: view.id,
                change: AgentChange::Updated,
                viewers,
            });
            Ok(())
        })?;
        Ok(format!("Agent {} configuration updated.", view.name))
    }

    /// `PUT /v1/agent/{id}/commands {commands: {name: bool}}`: names that exist (by friendly
    /// or function name); any unknown name is 404 and nothing changes.
    pub fn update_agent_commands(
        &self,
        caller: &Caller,
        id: &str,
        commands: &Option<Value>,
    ) -> Result<String, AppError> {
        let view = self.agent_for(caller, id, "agents:write")?;
        let given = commands_of_body(commands)?;
        let unknown: Vec<&str> = given
            .keys()
            .filter(|name| self.registry.command(name).is_none())
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            return Err(AppError::NotFound(format!(
                "Commands not found: {}",
                unknown.join(", ")
            )));
        }
        let rows: Vec<CommandRow> = given
            .iter()
            .filter_map(|(name, on)| {
                self.registry.command(name).map(|(_, spec)| CommandRow {
                    agent_id: view.id.into(),
                    command: spec.name.to_owned(),
                    enabled: *on,
                })
            })
            .collect();
        self.commands_changed(view.id, &rows)?;
        Ok(format!("Agent {} configuration updated.", view.name))
    }

    /// `PATCH /v1/agent/{id}/command {command_name, enable}`: 404 for an unknown command.
    pub fn toggle_command(
        &self,
        caller: &Caller,
        id: &str,
        command: &str,
        enable: bool,
    ) -> Result<String, AppError> {
        let view = self.agent_for(caller, id, "agents:write")?;
        let spec = self.known_command(command)?;
        self.commands_changed(
            view.id,
            &[CommandRow {
                agent_id: view.id.into(),
                command: spec.name.to_owned(),
                enabled: enable,
            }],
        )?;
        Ok(format!("Agent {} configuration updated.", view.name))
    }

    /// `PATCH /v1/agent/{id}/extension/commands {extension_name, enable}`.
    pub fn toggle_extension(
        &self,
        caller: &Caller,
        id: &str,
        extension: &str,
        enable: bool,
    ) -> Result<String, AppError> {
        let view = self.agent_for(caller, id, "agents:write")?;
        let (display, commands) = self.known_extension(extension)?;
        let rows: Vec<CommandRow> = commands
            .iter()
            .map(|command| CommandRow {
                agent_id: view.id.into(),
                command: (*command).to_owned(),
                enabled: enable,
            })
            .collect();
        self.commands_changed(view.id, &rows)?;
        Ok(crate::extensions::switched(enable, rows.len(), display))
    }

    /// `PATCH /v1/agent/{id} {new_name}`: the owner only (404 otherwise); 409 for a name the
    /// owner already uses.
    pub fn rename_agent(
        &self,
        caller: &Caller,
        id: &str,
        new_name: &Value,
    ) -> Result<(), AppError> {
        let view = self.owned_agent(caller, id, "agents:write")?;
        let name = name_of(new_name, "new_name")?;
        let mut conn = self.conn()?;
        self.write(&mut conn, |work| {
            let conn = work.conn();
            match store::rename_agent(conn, view.id.into(), &name, now()) {
                Ok(true) => {}
                Ok(false) => return Err(not_found()),
                Err(error) if error.is_conflict() => {
                    return Err(AppError::Conflict(format!("Agent {name} already exists.")));
                }
                Err(error) => return Err(error.into()),
            }
            let viewers = self.viewers_of(conn, &view)?;
            work.record(DomainEvent::AgentChanged {
                agent: view.id,
                change: AgentChange::Renamed,
                viewers,
            });
            Ok(())
        })
    }

    /// `DELETE /v1/agent/{id}`: the owner only; settings and commands go with it, its
    /// conversations stay (without an agent). One transaction.
    pub fn delete_agent(&self, caller: &Caller, id: &str) -> Result<String, AppError> {
        let view = self.owned_agent(caller, id, "agents:delete")?;
        let mut conn = self.conn()?;
        self.write(&mut conn, |work| {
            let conn = work.conn();
            if !store::delete_agent(conn, view.id.into())? {
                return Err(not_found());
            }
            let viewers = self.viewers_of(conn, &view)?;
            work.record(DomainEvent::AgentChanged {
                agent: view.id,
                change: AgentChange::Deleted,
                viewers,
            });
            Ok(())
        })?;
        Ok(format!("Agent {} deleted.", view.name))
    }

    /// `POST /v1/agent/{id}/clone {new_name}`: a new agent of the caller with the source's
    /// settings (not shared, a new wallet) and commands. The copy carries the source's
    /// secrets, so it needs `agents:write` in the source's company as well as in the
    /// caller's current company, where the copy goes.
    pub fn clone_agent(
        &self,
        caller: &Caller,
        id: &str,
        new_name: &Value,
    ) -> Result<AgentId, AppError> {
        let view = self.agent_for(caller, id, "agents:write")?;
        let name = name_of(new_name, "new_name")?;
        let mut settings = view.settings.clone();
        for dropped in [
            SHARED,
            WALLET_SECRET,
            WALLET_PASSPHRASE,
            WALLET_ADDRESS,
            COMPANY_ID,
        ] {
            settings.remove(dropped);
        }
        let company = self.agent_company(caller, None)?;
        self.insert_new_agent(caller.user, &name, settings, company, &view.commands)
    }

    /// `GET /v1/agent/{id}/persona`.
    pub fn persona(&self, caller: &Caller, id: &str) -> Result<String, AppError> {
        let view = self.agent_for(caller, id, "agents:read")?;
        Ok(view
            .settings
            .get("persona")
            .or_else(|| view.settings.get("PERSONA"))
            .cloned()
            .unwrap_or_default())
    }

    /// `PUT /v1/agent/{id}/persona {persona}`.
    pub fn set_persona(
        &self,
        caller: &Caller,
        id: &str,
        persona: &Value,
    ) -> Result<String, AppError> {
        let Some(text) = persona.as_str() else {
            return Err(invalid("persona", "expected a string"));
        };
        self.update_agent_settings(caller, id, &Some(json!({ "persona": text })))
    }

    /// `DELETE /v1/agent/{id}/provider/{provider}`: an explicit disconnect. Each of the
    /// provider's secret settings is set to `""` on the agent, which hides the company's and
    /// the server's values from it; other settings (`*_MAX_TOKENS`, models) stay. 404 for an
    /// unknown provider.
    pub fn disconnect_provider(
        &self,
        caller: &Caller,
        id: &str,
        provider: &str,
    ) -> Result<String, AppError> {
        let spec = agentry_extensions::providers::provider(provider.trim())
            .ok_or_else(|| AppError::NotFound(format!("Provider '{provider}' not found")))?;
        let cleared: Map<String, Value> = spec
            .settings
            .iter()
            .filter(|(name, _)| agent::is_secret(name))
            .map(|(name, _)| ((*name).to_owned(), Value::String(String::new())))
            .collect();
        self.update_agent_settings(caller, id, &Some(Value::Object(cleared)))
    }

    /// `GET /v1/agent/{id}/wallet`: the owner only, and through a personal access token only
    /// one granted `wallets:read` by name.
    pub fn wallet(&self, caller: &Caller, id: &str) -> Result<Value, AppError> {
        caller.require("wallets:read")?;
        let view = self.visible_agent(caller, id)?;
        if view.owner != caller.user {
            return Err(not_found());
        }
        let secret = view.settings.get(WALLET_SECRET).filter(|s| !s.is_empty());
        let (Some(secret), Some(passphrase)) = (secret, view.settings.get(WALLET_PASSPHRASE))
        else {
            return Err(AppError::NotFound("Wallet not found".into()));
        };
        Ok(json!({
            "private_key": secret,
            "passphrase": passphrase,
            "address": view.settings.get(WALLET_ADDRESS),
        }))
    }
}
