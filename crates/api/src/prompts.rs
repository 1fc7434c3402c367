//! Prompts (reference agents-memory.md section 6, the user tier over the built-in set), in the
//! shapes agixtsdk reads.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `POST /v1/prompt`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct NewPrompt {
    pub prompt_name: String,
    pub prompt: String,
    #[serde(default)]
    pub prompt_category: Option<String>,
}

/// `PUT /v1/prompt/{id}`: the content, and a new name (the reference's rename path); the
/// category is ignored, as the reference ignores it.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct UpdatePrompt {
    pub prompt: String,
    #[serde(default)]
    pub prompt_name: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub prompt_category: Option<Value>,
}

/// `PATCH /v1/prompt/{id}` (the SDK's `rename_prompt`).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct RenamePrompt {
    pub prompt_name: String,
}

/// A created prompt: the reference's sentence and its id.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PromptCreated {
    pub message: String,
    pub id: String,
}

/// A prompt in a list: `source` is `user` or `global` (Agentry's built-in set).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PromptEntry {
    pub id: String,
    pub name: String,
    pub source: String,
}

/// `GET /v1/prompts?prompt_category=`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PromptList {
    pub prompts: Vec<PromptEntry>,
    pub category: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PromptCategory {
    pub id: String,
    pub name: String,
    pub description: String,
    pub source: String,
}

/// `GET /v1/prompt/categories`: the list under both of the reference's names.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PromptCategories {
    pub categories: Vec<PromptCategory>,
    pub prompt_categories: Vec<PromptCategory>,
}

/// A prompt with everything known of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PromptDetail {
    pub id: String,
    pub name: String,
    pub category: String,
    pub content: String,
    pub description: String,
    pub arguments: Vec<String>,
    pub source: String,
    /// A user's prompt that replaces a built-in one of the same name and category.
    pub is_override: bool,
}

/// `GET /v1/prompt/all`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AllPrompts {
    pub global_prompts: Vec<PromptDetail>,
    pub user_prompts: Vec<PromptDetail>,
}

/// `GET /v1/prompt/category/{id}`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CategoryPrompts {
    pub prompts: Vec<PromptEntry>,
    pub category_id: String,
}

/// `GET /v1/prompt/{id}`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PromptView {
    pub id: String,
    pub prompt_name: String,
    pub prompt_category: String,
    pub prompt: String,
}

/// `GET /v1/prompt/{id}/args`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PromptArgs {
    pub prompt_args: Vec<String>,
}
