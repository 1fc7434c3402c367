//! What an agent sees of the server, its company and itself: its effective settings and
//! command states, and the provider and extension listings over them.

use agentry_extensions::providers;
use agentry_store::Uow;

use super::*;
use crate::extensions::{ConfiguredExtensions, ProviderCatalog, provider_entry};

impl Agents<'_> {
    /// The agent's effective settings: server -> company -> agent.
    pub(crate) fn merged_settings(
        &self,
        view: &AgentView,
        layer: &CompanyExtensions,
    ) -> BTreeMap<String, String> {
        let mut merged = self.app.extensions().server_and_company(layer);
        for (name, value) in &view.settings {
            merged.insert(name.clone(), value.clone());
        }
        merged
    }

    /// Whether `command` is on for the agent: off when its company turned it off, else the
    /// agent's own state, else the company's (off when neither set it).
    pub(crate) fn command_enabled(
        view: &AgentView,
        layer: &CompanyExtensions,
        command: &str,
    ) -> bool {
        let company = layer.commands.get(command).copied();
        if company == Some(false) {
            return false;
        }
        view.commands
            .get(command)
            .copied()
            .or(company)
            .unwrap_or(false)
    }

    /// `GET /v1/agent/{id}/providers`: the same, with `connected` when one of the provider's
    /// API keys has an effective value (the agent's own, else the company's, else the
    /// server's).
    pub fn agent_providers(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        id: &str,
    ) -> Result<ProviderCatalog, AppError> {
        let (view, layer) = self.visible_agent_with_company(uow, caller, id, "agents:read")?;
        let merged = self.merged_settings(&view, &layer);
        let providers = providers::catalog()
            .iter()
            .map(|p| {
                let connected = p
                    .key_settings()
                    .any(|key| merged.get(key).is_some_and(|v| !v.is_empty()));
                (p.key.to_owned(), provider_entry(p, Some(connected)))
            })
            .collect();
        Ok(ProviderCatalog { providers })
    }

    /// `GET /v1/agent/{id}/extensions`: each extension with the agent's settings (masked)
    /// and which commands are enabled.
    pub fn agent_extensions(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        id: &str,
    ) -> Result<ConfiguredExtensions, AppError> {
        let (view, layer) = self.visible_agent_with_company(uow, caller, id, "agents:read")?;
        let settings = self.merged_settings(&view, &layer);
        let extensions = self
            .app
            .extensions()
            .extension_listing(&settings, |command| {
                Self::command_enabled(&view, &layer, command)
            });
        Ok(ConfiguredExtensions { extensions })
    }
}
