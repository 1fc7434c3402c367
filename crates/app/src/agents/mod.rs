//! Agents (reference agents-memory.md section 2): the list a user sees, creation with the
//! reference's defaults, the core commands and a wallet, settings merged and masked, sharing
//! with a company through `shared`/`company_id`, rename, delete, clone, persona, wallet.
//!
//! Reads come from read models keyed by what changes: each agent's view (settings opened,
//! commands), each user's own agents and each company's shared agents, from which a user's
//! list is assembled per request ([`lists`]). Every write records `agent.changed` naming the
//! agent, its owner and the companies it was or is shared with; the read models forget what
//! it touches, here and on the other instances (`agentry_app::stale`); fills carry a ticket
//! taken before the read, so a read racing a write cannot put old data back.

mod effective;
mod lists;
mod read;
mod write;

pub(crate) use lists::ListParts;
pub use lists::{Listed, OwnAgents, SharedAgents};

use std::collections::{BTreeMap, HashMap};
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
use agentry_store::{AnyConnection, DbUuid};
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

/// The agents a user sees, in order, with the default marked (assembled per request,
/// [`lists`]).
#[derive(Debug, Clone)]
pub struct VisibleList {
    pub entries: Vec<AgentEntry>,
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

    /// The list as `GET /v1/agent` renders it for `grant` (the whole list for a session or
    /// an unlimited token).
    fn body_for(&self, grant: Option<&TokenGrant>) -> Result<Rendered<AgentList>, AppError> {
        render(&AgentList {
            agents: self.entries_for(grant),
        })
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
