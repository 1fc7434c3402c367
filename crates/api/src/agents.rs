//! Agents: the list entries, a new agent's body, a command run's body.

use agentry_domain::{AgentId, CompanyId};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One entry of `GET /v1/agent`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
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

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct NewAgentBody {
    pub agent_name: Value,
    #[serde(default)]
    pub settings: Option<Value>,
    #[serde(default)]
    pub commands: Option<Value>,
    #[serde(default)]
    pub training_urls: Option<Value>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct ExecuteBody {
    pub command_name: String,
    #[serde(default)]
    pub command_args: Option<Value>,
    /// A name, `""` (the scratch conversation) or, as the SDK sends, a conversation id.
    #[serde(default)]
    pub conversation_name: Option<String>,
}

/// `GET /v1/agent`: the agents the caller sees, own first.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AgentList {
    pub agents: Vec<AgentEntry>,
}

/// `POST /v1/agent`, `/v1/agent/import`, `/v1/agent/{id}/clone`: the sentence and the new
/// agent's id.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AgentCreated {
    pub message: String,
    pub id: AgentId,
}

/// Effective settings (secrets masked) and command states of an agent or a company.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SettingsAndCommands {
    pub settings: std::collections::BTreeMap<String, String>,
    pub commands: std::collections::BTreeMap<String, bool>,
}

/// `GET /v1/agent/{id}`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AgentConfig {
    pub agent: SettingsAndCommands,
}

/// `GET /v1/agent/{id}/command`: every command with the agent's effective state.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AgentCommands {
    pub commands: std::collections::BTreeMap<String, bool>,
}

/// `GET /v1/agent/{id}/wallet`: the owner's wallet keys.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WalletKeys {
    pub private_key: String,
    pub passphrase: String,
    pub address: Option<String>,
}

/// Which agent a write changed (its answer's sentence names it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentChanged {
    pub id: AgentId,
    pub name: String,
}
