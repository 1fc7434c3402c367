//! Providers and extensions as the API shows them (reference agents-memory.md sections 1.3,
//! 4.2 and 4.3). The catalog and the registry are static, built at compile time, so the
//! listings that do not depend on an agent are rendered once and kept.

use std::collections::BTreeMap;

pub use agentry_api::extensions::{
    Category, CategoryExtension, CategoryInfo, CommandArgs, CommandEntry, ConfiguredExtension,
    ConfiguredExtensions, Embedders, ExtensionEntry, ExtensionSettings, ProviderCatalog,
    ProviderEntry, ProviderKeys, ProviderSettings, ProvidersWithSettings, SettingEntry, Settings,
    Switched,
};
use agentry_domain::agent;
use agentry_extensions::Extension;
use agentry_extensions::providers::{self, ProviderSpec};

use crate::session::Caller;
use crate::{App, AppError};

/// The provider and extension catalogs, and each company's layer of extension settings and
/// command states. A view of the application's [`Context`](crate::Context), taken with
/// [`App::extensions`](crate::App::extensions).
#[derive(Clone, Copy)]
pub struct Extensions<'a> {
    pub(crate) app: &'a App,
}

/// The keys of the providers that offer embeddings.
fn embedders() -> Vec<&'static str> {
    providers::catalog()
        .iter()
        .filter(|p| p.has_service("embeddings"))
        .map(|p| p.key)
        .collect()
}

fn defaults(pairs: impl IntoIterator<Item = (&'static str, &'static str)>) -> Settings {
    pairs
        .into_iter()
        .map(|(name, default)| (name.to_owned(), default.to_owned()))
        .collect()
}

pub(crate) fn provider_entry(spec: &ProviderSpec, connected: Option<bool>) -> ProviderEntry {
    ProviderEntry {
        name: spec.name,
        description: spec.description,
        services: spec.services,
        settings: defaults(spec.settings.iter().copied()),
        connected,
    }
}

fn provider_settings(spec: &ProviderSpec) -> Settings {
    let mut settings = defaults(spec.settings.iter().copied());
    settings.insert("provider".into(), spec.key.to_owned());
    settings
}

/// A category's stable id: its name, lower-cased, words joined by `-`.
fn category_id(name: &str) -> String {
    name.split_whitespace()
        .map(|w| w.to_lowercase().replace('&', "and"))
        .collect::<Vec<_>>()
        .join("-")
}

fn category_description(name: &str) -> &'static str {
    match name {
        "Core Abilities" => {
            "Built-in abilities every agent has: files in its workspace, the date, web requests."
        }
        "AI Provider" => "Language, speech, image and embedding models.",
        _ => "",
    }
}

fn command_args(spec: &agentry_extensions::CommandSpec) -> Settings {
    defaults(spec.args.iter().map(|a| (a.name, a.default)))
}

fn command_entry(spec: &agentry_extensions::CommandSpec, enabled: Option<bool>) -> CommandEntry {
    CommandEntry {
        friendly_name: spec.name,
        description: spec.description,
        command_name: spec.function,
        command_args: command_args(spec),
        enabled,
    }
}

fn extension_entry(ext: &dyn Extension) -> ExtensionEntry {
    ExtensionEntry {
        extension_name: ext.name(),
        friendly_name: ext.friendly_name(),
        description: ext.description(),
        settings: ext.settings().iter().map(|s| s.name).collect(),
        commands: ext
            .commands()
            .iter()
            .map(|c| command_entry(c, None))
            .collect(),
        category: ext.category(),
        category_description: category_description(ext.category()),
        category_info: CategoryInfo {
            id: category_id(ext.category()),
            name: ext.category(),
            description: category_description(ext.category()),
        },
    }
}

impl Extensions<'_> {
    /// The command a toggle names (by friendly or function name); 404 otherwise.
    pub(crate) fn known_command(
        &self,
        name: &str,
    ) -> Result<&'static agentry_extensions::CommandSpec, AppError> {
        self.app
            .registry
            .command(name)
            .map(|(_, spec)| spec)
            .ok_or_else(|| AppError::NotFound(format!("Command `{name}` not found")))
    }

    /// The extension a switch names (case, spaces, `_` and `-` alike): its display name and
    /// its commands; 404 otherwise.
    pub(crate) fn known_extension(
        &self,
        name: &str,
    ) -> Result<(&'static str, Vec<&'static str>), AppError> {
        let found = self
            .app
            .registry
            .extension(name)
            .ok_or_else(|| AppError::NotFound(format!("Extension '{name}' not found")))?;
        Ok((
            found.display_name(),
            found.commands().iter().map(|c| c.name).collect(),
        ))
    }

    /// `GET /v1/providers`: the reference's dict by key.
    pub fn providers(&self, caller: &Caller) -> Result<ProviderCatalog, AppError> {
        caller.require("providers:read")?;
        let providers = providers::catalog()
            .iter()
            .map(|p| (p.key.to_owned(), provider_entry(p, None)))
            .collect();
        Ok(ProviderCatalog { providers })
    }

    /// `GET /api/provider`.
    pub fn provider_keys(&self, caller: &Caller) -> Result<ProviderKeys, AppError> {
        caller.require("providers:read")?;
        let providers = providers::catalog().iter().map(|p| p.key).collect();
        Ok(ProviderKeys { providers })
    }

    /// `GET /api/provider/{name}`: an unknown name answers only `{"provider": name}`, as the
    /// reference does.
    pub fn provider_settings(
        &self,
        caller: &Caller,
        name: &str,
    ) -> Result<ProviderSettings, AppError> {
        caller.require("providers:read")?;
        let settings = match providers::provider(name) {
            Some(spec) => provider_settings(spec),
            None => Settings::from([("provider".to_owned(), name.to_owned())]),
        };
        Ok(ProviderSettings { settings })
    }

    /// `GET /api/providers`.
    pub fn providers_with_settings(
        &self,
        caller: &Caller,
    ) -> Result<ProvidersWithSettings, AppError> {
        caller.require("providers:read")?;
        let providers = providers::catalog()
            .iter()
            .map(|p| BTreeMap::from([(p.key.to_owned(), provider_settings(p))]))
            .collect();
        Ok(ProvidersWithSettings { providers })
    }

    /// `GET /api/providers/service/{service}`.
    pub fn providers_for_service(
        &self,
        caller: &Caller,
        service: &str,
    ) -> Result<ProviderKeys, AppError> {
        caller.require("providers:read")?;
        let providers = providers::catalog()
            .iter()
            .filter(|p| p.has_service(service))
            .map(|p| p.key)
            .collect();
        Ok(ProviderKeys { providers })
    }

    /// `GET /api/embedding_providers`.
    pub fn embedding_providers(&self, caller: &Caller) -> Result<ProviderKeys, AppError> {
        caller.require("providers:read")?;
        Ok(ProviderKeys {
            providers: embedders(),
        })
    }

    /// `GET /api/embedders`.
    pub fn embedders(&self, caller: &Caller) -> Result<Embedders, AppError> {
        caller.require("providers:read")?;
        Ok(Embedders {
            embedders: embedders(),
        })
    }

    /// `GET /v1/extensions`: a bare list, sorted by name; extensions without commands left out.
    pub fn extensions(&self, caller: &Caller) -> Result<Vec<ExtensionEntry>, AppError> {
        caller.require("extensions:read")?;
        Ok(self
            .app
            .registry
            .extensions()
            .iter()
            .filter(|e| !e.commands().is_empty())
            .map(|e| extension_entry(e.as_ref()))
            .collect())
    }

    /// `GET /v1/extensions/{command}/args`: `{}` for an unknown command.
    pub fn command_args(&self, caller: &Caller, command: &str) -> Result<CommandArgs, AppError> {
        caller.require("extensions:read")?;
        let command_args = self
            .app
            .registry
            .command(command)
            .map(|(_, spec)| command_args(spec))
            .unwrap_or_default();
        Ok(CommandArgs { command_args })
    }

    /// `GET /v1/extensions/settings`: extensions that have settings, with their defaults.
    pub fn extension_settings(&self, caller: &Caller) -> Result<ExtensionSettings, AppError> {
        caller.require("extensions:read")?;
        let extension_settings = self
            .app
            .registry
            .extensions()
            .iter()
            .filter(|e| !e.settings().is_empty())
            .map(|e| {
                let settings = defaults(e.settings().iter().map(|s| (s.name, s.default)));
                (e.display_name().to_owned(), settings)
            })
            .collect();
        Ok(ExtensionSettings { extension_settings })
    }

    /// `GET /v1/extension/categories` (with `summary`: without the extensions).
    pub fn extension_categories(
        &self,
        caller: &Caller,
        summary: bool,
    ) -> Result<Vec<Category>, AppError> {
        caller.require("extensions:read")?;
        let mut by_category: BTreeMap<&'static str, Vec<CategoryExtension>> = BTreeMap::new();
        for ext in self.app.registry.extensions() {
            by_category
                .entry(ext.category())
                .or_default()
                .push(CategoryExtension {
                    name: ext.name(),
                    friendly_name: ext.friendly_name(),
                    description: ext.description(),
                    settings: ext.settings().iter().map(|s| s.name).collect(),
                    commands: ext.commands().iter().map(|c| c.name).collect(),
                });
        }
        Ok(by_category
            .into_iter()
            .map(|(name, extensions)| Category {
                id: category_id(name),
                name,
                description: category_description(name),
                extension_count: extensions.len(),
                extensions: (!summary).then_some(extensions),
            })
            .collect())
    }

    /// `GET /v1/extension/category/{id}`: one category with its extensions; 404 if unknown.
    pub fn extension_category(&self, caller: &Caller, id: &str) -> Result<Category, AppError> {
        self.extension_categories(caller, false)?
            .into_iter()
            .find(|c| c.id == id)
            .ok_or_else(|| AppError::NotFound("Category not found".into()))
    }

    /// `GET /v1/extensions/category/{id}`: the extensions of a category (a list).
    pub fn extensions_in_category(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<Vec<ExtensionEntry>, AppError> {
        caller.require("extensions:read")?;
        Ok(self
            .app
            .registry
            .extensions()
            .iter()
            .filter(|e| category_id(e.category()) == id && !e.commands().is_empty())
            .map(|e| extension_entry(e.as_ref()))
            .collect())
    }

    /// The extension view over effective `merged` settings and command states: each
    /// extension's settings (sensitive ones as `***` + last 4), the keys it misses, and its
    /// commands when it is configured.
    pub(crate) fn extension_listing(
        &self,
        merged: &BTreeMap<String, String>,
        enabled: impl Fn(&str) -> bool,
    ) -> Vec<ConfiguredExtension> {
        let mut listed = Vec::new();
        for ext in self.app.registry.extensions() {
            let mut missing_keys = Vec::new();
            let settings: Vec<SettingEntry> = ext
                .settings()
                .iter()
                .map(|s| {
                    let value = merged.get(s.name).filter(|v| !v.is_empty());
                    if !merged.contains_key(s.name) {
                        missing_keys.push(s.name);
                    }
                    let sensitive = s.sensitive || agent::is_secret(s.name);
                    SettingEntry {
                        setting_key: s.name,
                        setting_value: value.map(|v| {
                            if sensitive {
                                agent::mask_tail(v)
                            } else {
                                v.clone()
                            }
                        }),
                        is_sensitive: sensitive,
                    }
                })
                .collect();
            let configured = ext.settings().is_empty()
                || ext
                    .settings()
                    .iter()
                    .any(|s| merged.get(s.name).is_some_and(|v| !v.is_empty()));
            let commands: Vec<CommandEntry> = if configured {
                ext.commands()
                    .iter()
                    .map(|c| command_entry(c, Some(enabled(c.name))))
                    .collect()
            } else {
                Vec::new()
            };
            if commands.is_empty() && settings.is_empty() {
                continue;
            }
            listed.push(ConfiguredExtension {
                extension_name: ext.name(),
                friendly_name: ext.friendly_name(),
                description: ext.description(),
                category: ext.category(),
                settings,
                missing_keys,
                commands,
            });
        }
        listed
    }
}
