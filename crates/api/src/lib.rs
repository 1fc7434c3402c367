#![doc = include_str!("../README.md")]

pub mod accounts;
pub mod agents;
pub mod billing;
pub mod catalog;
pub mod chains;
pub mod chat;
pub mod companies;
pub mod conversations;
pub mod extensions;
pub mod payments;
pub mod prompts;
pub mod tokens;

/// `{"message": ...}`: what most writes answer, with AGiXT's sentence.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Message {
    pub message: String,
}

impl Message {
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            message: text.into(),
        }
    }
}

/// The JSON of a `T`, rendered once and kept (a read model's answer, served as is).
pub struct Rendered<T> {
    json: std::sync::Arc<str>,
    of: std::marker::PhantomData<fn() -> T>,
}

impl<T: serde::Serialize> Rendered<T> {
    pub fn render(value: &T) -> Result<Self, serde_json::Error> {
        Ok(Self::trusted(serde_json::to_string(value)?.into()))
    }
}

impl<T> Rendered<T> {
    /// `json`, which the caller knows to be a `T`'s.
    pub fn trusted(json: std::sync::Arc<str>) -> Self {
        Self {
            json,
            of: std::marker::PhantomData,
        }
    }

    pub fn json(&self) -> &std::sync::Arc<str> {
        &self.json
    }
}

impl<T> Clone for Rendered<T> {
    fn clone(&self) -> Self {
        Self::trusted(std::sync::Arc::clone(&self.json))
    }
}

impl<T> std::fmt::Debug for Rendered<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.json)
    }
}

/// `{"detail": ...}`: what some writes answer (the reference's sentence, under FastAPI's
/// name for it).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Detail {
    pub detail: String,
}

impl Detail {
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            detail: text.into(),
        }
    }
}

/// `GET /health`, `GET /ready`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Status {
    /// `ok` (`/health`); `ready`, or `degraded` when the invalidation bus is down (`/ready`).
    pub status: &'static str,
    /// Why the server is degraded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<&'static str>,
}
