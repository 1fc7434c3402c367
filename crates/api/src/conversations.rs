//! Conversations: a new conversation's body, the lists and the history.

use std::collections::BTreeMap;

use agentry_domain::{AgentId, ConversationId, MessageId};
use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
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

/// `POST /v1/conversation`: the conversation's id and the messages appended (as sent).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CreatedConversation {
    pub id: ConversationId,
    pub conversation_history: Vec<Value>,
}

/// One conversation of `GET /v1/conversations`, keyed by its id.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConversationEntry {
    pub name: String,
    pub display_name: String,
    pub agent_id: Option<AgentId>,
    pub agent_name: Option<String>,
    pub conversation_type: &'static str,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub has_notifications: bool,
    pub summary: Option<String>,
    pub attachment_count: u32,
    pub pin_order: Option<i64>,
    pub parent_id: Option<ConversationId>,
    pub locked: bool,
}

/// A conversation's id and name.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConversationName {
    pub id: ConversationId,
    pub name: String,
}

/// `GET /v1/conversations`: one page, by id and in order (newest first).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConversationPage {
    pub conversations: BTreeMap<String, ConversationEntry>,
    pub conversations_with_ids: Vec<ConversationName>,
    pub total: i64,
    pub pinned_count: i64,
    pub unread_count: i64,
    /// The next page's offset, while there is one.
    pub next_cursor: Option<i64>,
}

/// One message of a conversation.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MessageView {
    pub id: MessageId,
    pub role: String,
    pub message: String,
    /// ISO 8601 with the UTC offset.
    pub timestamp: String,
    pub updated_at: String,
    pub updated_by: Option<String>,
    pub feedback_received: bool,
    pub timestamp_utc: NaiveDateTime,
    pub updated_at_utc: NaiveDateTime,
}

/// `GET /v1/conversation/{id}`: one page of messages, oldest first.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct History {
    pub conversation_history: Vec<MessageView>,
    pub total: i64,
    pub page: i64,
    pub limit: i64,
    pub format: &'static str,
}

/// `POST /v1/conversation/fork/{id}/{message_id}`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Forked {
    pub id: ConversationId,
    pub conversation_name: String,
    pub message_count: usize,
    pub message: String,
}

/// `POST /v1/agent/{id}/command`: what the command answered.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CommandOutput {
    pub response: String,
}
