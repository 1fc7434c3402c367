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
