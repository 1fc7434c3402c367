//! Providers and extensions as the API shows them (reference agents-memory.md sections 1.3,
//! 4.2 and 4.3). The catalog and the registry are static, built at compile time, so the
//! listings that do not depend on an agent are rendered once and kept.

use std::collections::BTreeMap;

use agentry_domain::agent;
use agentry_extensions::Extension;
use agentry_extensions::providers::{self, ProviderSpec};
use serde_json::{Map, Value, json};

use crate::session::Caller;
use crate::{App, AppError};
use agentry_store::Uow;

/// The keys of the providers that offer embeddings.
fn embedders() -> Vec<&'static str> {
    providers::catalog()
        .iter()
        .filter(|p| p.has_service("embeddings"))
        .map(|p| p.key)
        .collect()
}

fn provider_entry(spec: &ProviderSpec) -> Map<String, Value> {
    let settings: Map<String, Value> = spec
        .settings
        .iter()
        .map(|(name, default)| ((*name).to_owned(), Value::String((*default).to_owned())))
        .collect();
    let mut entry = Map::new();
    entry.insert("name".into(), json!(spec.name));
    entry.insert("description".into(), json!(spec.description));
    entry.insert("services".into(), json!(spec.services));
    entry.insert("settings".into(), Value::Object(settings));
    entry
}

fn provider_settings(spec: &ProviderSpec) -> Value {
    let mut settings: Map<String, Value> = spec
        .settings
        .iter()
        .map(|(name, default)| ((*name).to_owned(), Value::String((*default).to_owned())))
        .collect();
    settings.insert("provider".into(), json!(spec.key));
    Value::Object(settings)
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

fn command_args(spec: &agentry_extensions::CommandSpec) -> Map<String, Value> {
    spec.args
        .iter()
        .map(|a| (a.name.to_owned(), Value::String(a.default.to_owned())))
        .collect()
}

fn extension_entry(ext: &dyn Extension) -> Value {
    let commands: Vec<Value> = ext
        .commands()
        .iter()
        .map(|c| {
            json!({
                "friendly_name": c.name,
                "description": c.description,
                "command_name": c.function,
                "command_args": command_args(c),
            })
        })
        .collect();
    json!({
        "extension_name": ext.name(),
        "friendly_name": ext.friendly_name(),
        "description": ext.description(),
        "settings": ext.settings().iter().map(|s| s.name).collect::<Vec<_>>(),
        "commands": commands,
        "category": ext.category(),
        "category_description": category_description(ext.category()),
        "category_info": {
            "id": category_id(ext.category()),
            "name": ext.category(),
            "description": category_description(ext.category()),
        },
    })
}

/// What a switch answers: "Successfully enabled N commands for extension '<X>'".
pub(crate) fn switched(enable: bool, count: usize, extension: &str) -> String {
    format!(
        "Successfully {} {count} commands for extension '{extension}'",
        if enable { "enabled" } else { "disabled" },
    )
}

impl App {
    /// The command a toggle names (by friendly or function name); 404 otherwise.
    pub(crate) fn known_command(
        &self,
        name: &str,
    ) -> Result<&'static agentry_extensions::CommandSpec, AppError> {
        self.registry
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
            .registry
            .extension(name)
            .ok_or_else(|| AppError::NotFound(format!("Extension '{name}' not found")))?;
        Ok((
            found.display_name(),
            found.commands().iter().map(|c| c.name).collect(),
        ))
    }

    /// `GET /v1/providers`: the reference's dict by key.
    pub fn providers(&self, caller: &Caller) -> Result<Value, AppError> {
        caller.require("providers:read")?;
        Ok({
            let all: Map<String, Value> = providers::catalog()
                .iter()
                .map(|p| (p.key.to_owned(), Value::Object(provider_entry(p))))
                .collect();
            json!({ "providers": all })
        })
    }

    /// `GET /v1/agent/{id}/providers`: the same, with `connected` when one of the provider's
    /// API keys has an effective value (the agent's own, else the company's, else the
    /// server's).
    pub fn agent_providers(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        id: &str,
    ) -> Result<Value, AppError> {
        let (view, layer) = self.visible_agent_with_company(uow, caller, id, "agents:read")?;
        let merged = self.merged_settings(&view, &layer);
        let all: Map<String, Value> = providers::catalog()
            .iter()
            .map(|p| {
                let mut entry = provider_entry(p);
                let connected = p
                    .key_settings()
                    .any(|key| merged.get(key).is_some_and(|v| !v.is_empty()));
                entry.insert("connected".into(), Value::Bool(connected));
                (p.key.to_owned(), Value::Object(entry))
            })
            .collect();
        Ok(json!({ "providers": all }))
    }

    /// `GET /api/provider`.
    pub fn provider_keys(&self, caller: &Caller) -> Result<Value, AppError> {
        caller.require("providers:read")?;
        Ok({
            json!({ "providers": providers::catalog().iter().map(|p| p.key).collect::<Vec<_>>() })
        })
    }

    /// `GET /api/provider/{name}`: an unknown name answers only `{"provider": name}`, as the
    /// reference does.
    pub fn provider_settings(&self, caller: &Caller, name: &str) -> Result<Value, AppError> {
        caller.require("providers:read")?;
        Ok({
            match providers::provider(name) {
                Some(spec) => json!({ "settings": provider_settings(spec) }),
                None => json!({ "settings": { "provider": name } }),
            }
        })
    }

    /// `GET /api/providers`.
    pub fn providers_with_settings(&self, caller: &Caller) -> Result<Value, AppError> {
        caller.require("providers:read")?;
        Ok({
            let list: Vec<Value> = providers::catalog()
                .iter()
                .map(|p| json!({ p.key: provider_settings(p) }))
                .collect();
            json!({ "providers": list })
        })
    }

    /// `GET /api/providers/service/{service}`.
    pub fn providers_for_service(&self, caller: &Caller, service: &str) -> Result<Value, AppError> {
        caller.require("providers:read")?;
        Ok({
            let keys: Vec<&str> = providers::catalog()
                .iter()
                .filter(|p| p.has_service(service))
                .map(|p| p.key)
                .collect();
            json!({ "providers": keys })
        })
    }

    /// `GET /api/embedding_providers` (`embedders: false`) and `/api/embedders` (`true`).
    pub fn embedding_providers(
        &self,
        caller: &Caller,
        embedders_key: bool,
    ) -> Result<Value, AppError> {
        caller.require("providers:read")?;
        Ok({
            if embedders_key {
                json!({ "embedders": embedders() })
            } else {
                json!({ "providers": embedders() })
            }
        })
    }

    /// `GET /v1/extensions`: a bare list, sorted by name; extensions without commands left out.
    pub fn extensions(&self, caller: &Caller) -> Result<Value, AppError> {
        caller.require("extensions:read")?;
        Ok({
            Value::Array(
                self.registry
                    .extensions()
                    .iter()
                    .filter(|e| !e.commands().is_empty())
                    .map(|e| extension_entry(e.as_ref()))
                    .collect(),
            )
        })
    }

    /// `GET /v1/extensions/{command}/args`: `{}` for an unknown command.
    pub fn command_args(&self, caller: &Caller, command: &str) -> Result<Value, AppError> {
        caller.require("extensions:read")?;
        Ok({
            let args = self
                .registry
                .command(command)
                .map(|(_, spec)| command_args(spec))
                .unwrap_or_default();
            json!({ "command_args": args })
        })
    }

    /// `GET /v1/extensions/settings`: extensions that have settings, with their defaults.
    pub fn extension_settings(&self, caller: &Caller) -> Result<Value, AppError> {
        caller.require("extensions:read")?;
        Ok({
            let all: Map<String, Value> = self
                .registry
                .extensions()
                .iter()
                .filter(|e| !e.settings().is_empty())
                .map(|e| {
                    let settings: Map<String, Value> = e
                        .settings()
                        .iter()
                        .map(|s| (s.name.to_owned(), Value::String(s.default.to_owned())))
                        .collect();
                    (e.display_name().to_owned(), Value::Object(settings))
                })
                .collect();
            json!({ "extension_settings": all })
        })
    }

    /// `GET /v1/extension/categories` (with `summary`: without the extensions).
    pub fn extension_categories(&self, caller: &Caller, summary: bool) -> Result<Value, AppError> {
        caller.require("extensions:read")?;
        Ok({
            let mut by_category: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
            for ext in self.registry.extensions() {
                by_category.entry(ext.category()).or_default().push(json!({
                    "name": ext.name(),
                    "friendly_name": ext.friendly_name(),
                    "description": ext.description(),
                    "settings": ext.settings().iter().map(|s| s.name).collect::<Vec<_>>(),
                    "commands": ext.commands().iter().map(|c| c.name).collect::<Vec<_>>(),
                }));
            }
            Value::Array(
                by_category
                    .into_iter()
                    .map(|(name, extensions)| {
                        let mut entry = json!({
                            "id": category_id(name),
                            "name": name,
                            "description": category_description(name),
                            "extension_count": extensions.len(),
                        });
                        if !summary {
                            entry["extensions"] = Value::Array(extensions);
                        }
                        entry
                    })
                    .collect(),
            )
        })
    }

    /// `GET /v1/extension/category/{id}`: one category with its extensions; 404 if unknown.
    pub fn extension_category(&self, caller: &Caller, id: &str) -> Result<Value, AppError> {
        match self.extension_categories(caller, false)? {
            Value::Array(all) => all
                .into_iter()
                .find(|c| c["id"] == id)
                .ok_or_else(|| AppError::NotFound("Category not found".into())),
            _ => Err(AppError::NotFound("Category not found".into())),
        }
    }

    /// `GET /v1/extensions/category/{id}`: the extensions of a category (a list).
    pub fn extensions_in_category(&self, caller: &Caller, id: &str) -> Result<Value, AppError> {
        caller.require("extensions:read")?;
        Ok({
            Value::Array(
                self.registry
                    .extensions()
                    .iter()
                    .filter(|e| category_id(e.category()) == id && !e.commands().is_empty())
                    .map(|e| extension_entry(e.as_ref()))
                    .collect(),
            )
        })
    }

    /// `GET /v1/agent/{id}/extensions`: each extension with the agent's settings (masked)
    /// and which commands are enabled.
    pub fn agent_extensions(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        id: &str,
    ) -> Result<Value, AppError> {
        let (view, layer) = self.visible_agent_with_company(uow, caller, id, "agents:read")?;
        let settings = self.merged_settings(&view, &layer);
        let listed = self.extension_listing(&settings, |command| {
            Self::command_enabled(&view, &layer, command)
        });
        Ok(json!({ "extensions": listed }))
    }

    /// The extension view over effective `merged` settings and command states: each
    /// extension's settings (sensitive ones as `***` + last 4), the keys it misses, and its
    /// commands when it is configured.
    pub(crate) fn extension_listing(
        &self,
        merged: &BTreeMap<String, String>,
        enabled: impl Fn(&str) -> bool,
    ) -> Vec<Value> {
        let mut listed = Vec::new();
        for ext in self.registry.extensions() {
            let mut missing = Vec::new();
            let settings: Vec<Value> = ext
                .settings()
                .iter()
                .map(|s| {
                    let value = merged.get(s.name).filter(|v| !v.is_empty());
                    if !merged.contains_key(s.name) {
                        missing.push(s.name);
                    }
                    let sensitive = s.sensitive || agent::is_secret(s.name);
                    json!({
                        "setting_key": s.name,
                        "setting_value": value.map(|v| if sensitive { agent::mask_tail(v) } else { v.clone() }),
                        "is_sensitive": sensitive,
                    })
                })
                .collect();
            let configured = ext.settings().is_empty()
                || ext
                    .settings()
                    .iter()
                    .any(|s| merged.get(s.name).is_some_and(|v| !v.is_empty()));
            let commands: Vec<Value> = if configured {
                ext.commands()
                    .iter()
                    .map(|c| {
                        json!({
                            "friendly_name": c.name,
                            "description": c.description,
                            "command_name": c.function,
                            "command_args": command_args(c),
                            "enabled": enabled(c.name),
                        })
                    })
                    .collect()
            } else {
                Vec::new()
            };
            if commands.is_empty() && settings.is_empty() {
                continue;
            }
            listed.push(json!({
                "extension_name": ext.name(),
                "friendly_name": ext.friendly_name(),
                "description": ext.description(),
                "category": ext.category(),
                "settings": settings,
                "missing_keys": missing,
                "commands": commands,
            }));
        }
        listed
    }
}
