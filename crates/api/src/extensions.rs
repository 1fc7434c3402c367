//! Providers and extensions as the API lists them (reference agents-memory.md sections 1.3,
//! 4.2 and 4.3): the static catalogs, and an agent's or a company's view of them.

use std::collections::BTreeMap;

use serde::Serialize;

/// Setting names and values (defaults in a catalog, effective values in a view).
pub type Settings = BTreeMap<String, String>;

/// One provider of `GET /v1/providers`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProviderEntry {
    pub name: &'static str,
    pub description: &'static str,
    pub services: &'static [&'static str],
    /// Each setting with its default.
    pub settings: Settings,
    /// In an agent's list: whether one of the provider's API keys has a value (the agent's,
    /// its company's or the server's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connected: Option<bool>,
}

/// `GET /v1/providers`, `GET /v1/agent/{id}/providers`: each provider by key.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProviderCatalog {
    pub providers: BTreeMap<String, ProviderEntry>,
}

/// `GET /api/provider`, `/api/providers/service/{service}`, `/api/embedding_providers`:
/// provider keys.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProviderKeys {
    pub providers: Vec<&'static str>,
}

/// `GET /api/embedders`: the providers that embed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Embedders {
    pub embedders: Vec<&'static str>,
}

/// `GET /api/provider/{name}`: the provider's settings with their defaults, and `provider`
/// its key (only that for an unknown name, as the reference answers).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProviderSettings {
    pub settings: Settings,
}

/// `GET /api/providers`: one single-key object per provider, its key to its settings.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProvidersWithSettings {
    pub providers: Vec<BTreeMap<String, Settings>>,
}

/// A command as the extension listings show it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CommandEntry {
    pub friendly_name: &'static str,
    pub description: &'static str,
    pub command_name: &'static str,
    /// Each argument with its default.
    pub command_args: Settings,
    /// In an agent's or a company's view: whether the command is on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// A category's id, name and description.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CategoryInfo {
    pub id: String,
    pub name: &'static str,
    pub description: &'static str,
}

/// One extension of `GET /v1/extensions` and `/v1/extensions/category/{id}`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ExtensionEntry {
    pub extension_name: &'static str,
    pub friendly_name: Option<&'static str>,
    pub description: &'static str,
    /// The names of its settings.
    pub settings: Vec<&'static str>,
    pub commands: Vec<CommandEntry>,
    pub category: &'static str,
    pub category_description: &'static str,
    pub category_info: CategoryInfo,
}

/// `GET /v1/extensions/{command}/args` (`{}` for an unknown command).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CommandArgs {
    pub command_args: Settings,
}

/// `GET /v1/extensions/settings`: the extensions that have settings, by display name, each
/// setting with its default.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ExtensionSettings {
    pub extension_settings: BTreeMap<String, Settings>,
}

/// An extension as a category lists it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CategoryExtension {
    pub name: &'static str,
    pub friendly_name: Option<&'static str>,
    pub description: &'static str,
    pub settings: Vec<&'static str>,
    pub commands: Vec<&'static str>,
}

/// One category of `GET /v1/extension/categories` (its extensions left out of the summary).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Category {
    pub id: String,
    pub name: &'static str,
    pub description: &'static str,
    pub extension_count: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extensions: Option<Vec<CategoryExtension>>,
}

/// One setting of an extension in an agent's or a company's view.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SettingEntry {
    pub setting_key: &'static str,
    /// Unset: `null`; a sensitive value shows `***` and its last 4 characters.
    pub setting_value: Option<String>,
    pub is_sensitive: bool,
}

/// One extension in an agent's or a company's view: its settings, the keys it misses, and
/// its commands when it is configured.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConfiguredExtension {
    pub extension_name: &'static str,
    pub friendly_name: Option<&'static str>,
    pub description: &'static str,
    pub category: &'static str,
    pub settings: Vec<SettingEntry>,
    pub missing_keys: Vec<&'static str>,
    pub commands: Vec<CommandEntry>,
}

/// `GET /v1/agent/{id}/extensions`, `GET /v1/companies/{id}/extensions`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConfiguredExtensions {
    pub extensions: Vec<ConfiguredExtension>,
}

/// What switching an extension's commands did (the answer's sentence is the route's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Switched {
    pub enable: bool,
    /// Commands switched.
    pub count: usize,
    /// The extension's display name.
    pub extension: &'static str,
}

impl std::fmt::Display for Switched {
    /// "Successfully enabled N commands for extension '<X>'", the reference's sentence.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Successfully {} {} commands for extension '{}'",
            if self.enable { "enabled" } else { "disabled" },
            self.count,
            self.extension
        )
    }
}
