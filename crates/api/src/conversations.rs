//! Conversations: a new conversation's body.

use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct NewConversation {
    pub conversation_name: Value,
    #[serde(default)]
    pub agent_name: Option<String>,
    /// Sent by the SDK; used when it names a visible agent.
    #[serde(default)]
    pub agent_id: Option<String>,
    #[serde(default)]
    pub conversation_content: Option<Value>,
}
