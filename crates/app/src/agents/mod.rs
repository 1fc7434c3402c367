//! Agents (reference agents-memory.md section 2): the list a user sees, creation with the
//! reference's defaults, the core commands and a wallet, settings merged and masked, sharing
//! with a company through `shared`/`company_id`, rename, delete, clone, persona, wallet.
//!
//! Reads come from two read models: each agent's view (settings opened, commands) and each
//! user's visible-agent list. Every write records `agent.changed` with who sees the agent;
//! the read models forget what it touches, here and on the other instances
//! (`agentry_app::stale`); fills carry a ticket taken before the read, so a read racing a
//! write cannot put old data back.

mod effective;
mod read;
mod write;

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
use serde_json::{Map, Value, json};

use crate::company_extensions::CompanyExtensions;
use crate::forms::{invalid, object, settings_of_body};
use crate::read_models::Through;
use crate::session::Caller;
use crate::session::TokenGrant;
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
        view.name
            .len()
            .saturating_add(crate::company_extensions::weight_of(
                &view.settings,
                &view.commands,
            ))
    })
}

/// Roughly what a user's visible-agent list holds (names, entries, the rendered body).
pub(crate) fn list_weight(list: &VisibleList) -> usize {
    list.names
        .iter()
        .map(|(_, n)| n.len().saturating_add(64))
        .fold(
            list.body.json().len().saturating_mul(2),
            usize::saturating_add,
        )
}

/// The agents a user sees: ids with names (for lookups by name), the entries, and the
/// rendered list.
#[derive(Debug, Clone)]
pub struct VisibleList {
    pub names: Vec<(AgentId, String)>,
    pub entries: Vec<AgentEntry>,
    pub body: Rendered<AgentList>,
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
    fn body_for(&self, grant: Option<&TokenGrant>) -> Result<Rendered<AgentList>, AppError> {
        match grant.filter(|g| g.is_limited()) {
            None => Ok(self.body.clone()),
            Some(_) => render(&AgentList {
                agents: self.entries_for(grant),
            }),
        }
    }
}

use agentry_api::Rendered;
pub use agentry_api::agents::{
    AgentChanged, AgentCommands, AgentConfig, AgentCreated, AgentEntry, AgentList, NewAgentBody,
    SettingsAndCommands, WalletKeys,
};
pub use agentry_api::extensions::Switched;

fn render<T: serde::Serialize>(value: &T) -> Result<Rendered<T>, AppError> {
    Rendered::render(value).map_err(|error| AppError::Internal(error.to_string()))
}

pub(crate) fn not_found() -> AppError {
    AppError::NotFound("Agent not found".into())
}

use crate::now_naive as now;

/// Agents, their settings and commands, and what they see of providers and extensions. A view
/// of the application's [`Context`](crate::Context), taken with
/// [`App::agents`](crate::App::agents).
#[derive(Clone, Copy)]
pub struct Agents<'a> {
    pub(crate) app: &'a App,
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
