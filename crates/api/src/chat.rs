//! Chat completions in OpenAI's shapes (reference agents-memory.md 8.1 to 8.4), the models
//! list and the prompt endpoint.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `POST /v1/chat/completions`: OpenAI's body with AGiXT's meaning of `model` (an agent) and
/// `user` (a conversation). Fields OpenAI defines and Agentry does not use (`n`,
/// `presence_penalty`, `logit_bias`...) are accepted and ignored, as the reference does.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct ChatCompletionRequest {
    /// An agent's id, or the name of an agent the caller sees.
    #[serde(default)]
    pub model: Option<String>,
    /// OpenAI's messages, each of which may carry AGiXT's per-message overrides (`mode`,
    /// `prompt_name`, `prompt_args`, `command_name`...).
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub messages: Option<Vec<Value>>,
    /// The conversation: its name, or its id (`-` when absent).
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    /// The client's own tools (OpenAI's function tools); the model's calls of them come
    /// back as `tool_calls`.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    pub tools: Option<Vec<Value>>,
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub top_p: Option<f64>,
    #[serde(default)]
    pub max_tokens: Option<u32>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, utoipa::ToSchema)]
pub struct StreamOptions {
    /// A last chunk with `usage` (and no choices) before `[DONE]`.
    #[serde(default)]
    pub include_usage: bool,
}

/// Tokens of a completion, counted in `cl100k_base`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TokenUsage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
}

impl TokenUsage {
    pub fn new(prompt_tokens: u64, completion_tokens: u64) -> Self {
        TokenUsage {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens.saturating_add(completion_tokens),
        }
    }
}

/// A call of one of the client's tools.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ToolCall {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub function: FunctionCall,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FunctionCall {
    pub name: String,
    /// The arguments as a JSON text (OpenAI's form).
    pub arguments: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AssistantMessage {
    pub role: String,
    /// `null` when the answer is tool calls.
    pub content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CompletionChoice {
    pub index: u32,
    pub message: AssistantMessage,
    /// `stop`, `length` or `tool_calls`.
    pub finish_reason: String,
    #[schema(value_type = Option<Object>)]
    pub logprobs: Option<Value>,
}

/// `POST /v1/chat/completions` without `stream`: `id` is the conversation's, `model` the
/// agent's name.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ChatCompletion {
    pub id: String,
    pub object: String,
    pub created: i64,
    pub model: String,
    pub choices: Vec<CompletionChoice>,
    pub usage: TokenUsage,
}

/// A tool call as a stream's delta carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ToolCallDelta {
    pub index: u32,
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub function: FunctionCall,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Delta {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCallDelta>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ChunkChoice {
    pub index: u32,
    pub delta: Delta,
    pub finish_reason: Option<String>,
}

/// One `data:` event of a stream (`chat.completion.chunk`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ChatChunk {
    pub id: String,
    pub object: String,
    pub created: i64,
    pub model: String,
    pub choices: Vec<ChunkChoice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<TokenUsage>,
}

/// What the agent is doing, in the reference's `activity.stream` objects (sent only to a
/// client that asks for them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Activity {
    pub object: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub content: String,
    pub complete: bool,
}

/// An event of a streamed completion, in the order it is sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum StreamEvent {
    Chunk(ChatChunk),
    Activity(Activity),
}

/// One entry of `GET /v1/models`: an agent the caller can use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ModelEntry {
    /// The agent's name (its id when two visible agents share the name).
    pub id: String,
    pub object: String,
    pub created: i64,
    pub owned_by: String,
}

/// `GET /v1/models`, as OpenAI lists models.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ModelList {
    pub object: String,
    pub data: Vec<ModelEntry>,
}

/// `POST /v1/agent/{id}/prompt`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct PromptBody {
    pub prompt_name: String,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub prompt_args: Map<String, Value>,
}

/// `{"response": ...}`: the agent's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PromptAnswer {
    pub response: String,
}
