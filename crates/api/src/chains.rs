//! Chains (reference agents-memory.md section 5, the user tier), in the shapes agixtsdk
//! reads.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `POST /v1/chain`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct NewChain {
    pub chain_name: String,
    #[serde(default)]
    pub description: Option<String>,
}

/// A created chain: the reference's sentence and its id.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ChainCreated {
    pub message: String,
    pub id: String,
}

/// A chain in `GET /v1/chains` (a bare list): the reference's `chainName` and the `name`
/// the SDK's `get_chain_id_by_name` reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ChainEntry {
    pub id: String,
    #[serde(rename = "chainName")]
    pub chain_name: String,
    pub name: String,
    pub description: String,
}

/// One step as it is read back: `prompt` holds the target's name and the arguments.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StepView {
    pub step: i32,
    pub agent_name: String,
    pub prompt_type: String,
    #[schema(value_type = Object)]
    pub prompt: Value,
}

/// A chain with its steps (`GET /v1/chain/{id}` answers `{name: ChainDetail}`).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ChainDetail {
    pub id: String,
    pub chain_name: String,
    pub description: String,
    pub steps: Vec<StepView>,
}

/// `PUT /v1/chain/{id}`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct UpdateChain {
    #[serde(default)]
    pub new_name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}

/// `POST /v1/chain/{id}/step`, `PUT /v1/chain/{id}/step/{n}`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct StepBody {
    #[serde(default)]
    pub step_number: Option<i64>,
    /// The agent's id or name (the SDK sends `agent_id`).
    #[serde(default)]
    pub agent_id: Option<String>,
    #[serde(default)]
    pub agent_name: Option<String>,
    pub prompt_type: String,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub prompt: Value,
}

/// `PATCH /v1/chain/{id}/step/move`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct MoveStep {
    pub old_step_number: i64,
    pub new_step_number: i64,
}

/// `POST /v1/chain/import`: the chain file's JSON (`{"chain_name", "steps": [...]}`) as
/// `steps`, or the list of steps itself.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct ImportChain {
    pub chain_name: String,
    #[schema(value_type = Object)]
    pub steps: Value,
}

/// `POST /v1/chain/{id}/run` and `/run/step/{n}`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct RunChain {
    #[serde(default)]
    pub prompt: Option<String>,
    #[serde(default)]
    pub agent_override: Option<String>,
    #[serde(default)]
    pub all_responses: Option<bool>,
    #[serde(default)]
    pub from_step: Option<i64>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub chain_args: Option<Map<String, Value>>,
    #[serde(default)]
    pub conversation_name: Option<String>,
}

/// The responses of a chain's latest run, by step number.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RunResponses {
    pub run_id: Option<String>,
    pub responses: BTreeMap<String, String>,
}

/// `GET /v1/chain/{id}/responses` (what the SDK's `get_chain_responses` reads).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ChainResponses {
    pub chain: RunResponses,
}
