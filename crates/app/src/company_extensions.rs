//! A company's extension settings and command states: the layer between the server's
//! settings (the environment) and each agent's own (reference agents-memory.md 1.4 and 2.7,
//! where it is the company's `company_extension_setting` rows and its synthetic agent).
//!
//! Effective settings merge server -> company -> agent: a company value overrides the
//! server's, an agent's value overrides both, and an empty company value removes the
//! server's. Commands: a command the company turned off is off for all its agents (an
//! admin's switch); otherwise the agent's own state decides, and a command the agent never
//! set follows the company (off when neither set it). The layer applies while the agent's
//! owner is a member of its company. It is held per company and invalidated by every write
//! to it, here and on the other instances (`Invalidation::CompanyExtensions`).

use std::collections::BTreeMap;
use std::sync::Arc;

use agentry_domain::CompanyId;
use agentry_domain::agent::{
    self, COMPANY_ID, SHARED, WALLET_ADDRESS, WALLET_PASSPHRASE, WALLET_SECRET,
};
use agentry_domain::events::DomainEvent;
use agentry_store::Uow;
use agentry_store::company_extensions::{self as store, CompanyCommandRow, CompanySettingRow};
use serde_json::Value;

use agentry_api::agents::SettingsAndCommands;
use agentry_api::extensions::Switched;

use crate::AppError;
use crate::extensions::ConfiguredExtensions;
use crate::extensions::Extensions;
use crate::forms::settings_of_body;
use crate::read_models::Through;
use crate::session::Caller;

/// One company's layer, settings opened (secrets in clear, in memory only).
#[derive(Debug, Clone, Default)]
pub struct CompanyExtensions {
    pub settings: BTreeMap<String, String>,
    pub commands: BTreeMap<String, bool>,
}

/// Roughly what settings and command states hold in memory (a read model's weight).
pub(crate) fn weight_of(
    settings: &BTreeMap<String, String>,
    commands: &BTreeMap<String, bool>,
) -> usize {
    let settings = settings
        .iter()
        .map(|(name, value)| name.len().saturating_add(value.len()).saturating_add(64));
    let commands = commands.keys().map(|name| name.len().saturating_add(64));
    settings.chain(commands).fold(256, usize::saturating_add)
}

impl CompanyExtensions {
    /// Roughly what the layer holds in memory.
    pub(crate) fn weight(&self) -> usize {
        weight_of(&self.settings, &self.commands)
    }
}

/// Settings that describe one agent and mean nothing for a company.
const AGENT_ONLY: [&str; 5] = [
    SHARED,
    COMPANY_ID,
    WALLET_SECRET,
    WALLET_PASSPHRASE,
    WALLET_ADDRESS,
];

impl Extensions<'_> {
    /// The company's layer, from memory when held (two statements to fill); empty for none.
    pub(crate) fn company_layer(
        &self,
        uow: &mut Uow<'_>,
        company: Option<CompanyId>,
    ) -> Result<Arc<CompanyExtensions>, AppError> {
        let Some(company) = company else {
            return Ok(Arc::default());
        };
        if let Some(held) = self.app.company_extensions.held(uow, &company) {
            return Ok(held);
        }
        let ticket = self.app.company_extensions.ticket();
        let conn = uow.conn()?;
        let settings = store::settings_of(conn, company.into())?
            .into_iter()
            .map(|row| {
                let value = if agent::is_secret(&row.name) {
                    // A value that no longer opens (the server key changed) reads as unset.
                    self.app.secrets.open(&row.value).unwrap_or_default()
                } else {
                    row.value
                };
                (row.name, value)
            })
            .collect();
        let commands = store::commands_of(conn, company.into())?
            .into_iter()
            .map(|row| (row.command, row.enabled))
            .collect();
        let layer = CompanyExtensions { settings, commands };
        Ok(self
            .app
            .company_extensions
            .keep(uow, company, ticket, layer))
    }

    /// Server settings under the company's (an empty company value removes the server's).
    pub(crate) fn server_and_company(&self, layer: &CompanyExtensions) -> BTreeMap<String, String> {
        let mut merged = self.app.settings.provider_settings.clone();
        for (name, value) in &layer.settings {
            if value.is_empty() {
                merged.remove(name);
            } else {
                merged.insert(name.clone(), value.clone());
            }
        }
        merged
    }

    /// The caller may read the company's layer (a member; a super admin, of a company that
    /// exists; 404 otherwise).
    /// A personal access token needs `scope` too.
    fn readable_company(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        company: &str,
        scope: &str,
    ) -> Result<CompanyId, AppError> {
        let company: CompanyId = crate::forms::parse_id(company, "Company")?;
        caller.require(scope)?;
        let access = self.app.sessions().caller_access(uow, caller)?;
        self.app.companies().require_company(&access, company)?;
        if !access.is_member(company) {
            let conn = uow.conn()?;
            agentry_store::companies::find_company(conn, company)?
                .ok_or_else(|| AppError::NotFound("Company not found".into()))?;
        }
        Ok(company)
    }

    /// The caller may change the company's layer (`company:write` there). A super admin
    /// reaches any company, so its existence is checked (an unknown one is 404, not a
    /// foreign-key failure).
    fn writable_company(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        company: &str,
    ) -> Result<CompanyId, AppError> {
        let company: CompanyId = crate::forms::parse_id(company, "Company")?;
        let access = self.app.sessions().caller_access(uow, caller)?;
        self.app
            .companies()
            .require_scope(&access, company, "company:write")?;
        if !access.is_member(company) {
            let conn = uow.conn()?;
            agentry_store::companies::find_company(conn, company)?
                .ok_or_else(|| AppError::NotFound("Company not found".into()))?;
        }
        Ok(company)
    }

    /// `GET /v1/companies/{id}/settings`: `{"settings", "commands"}`, secrets `"HIDDEN"`;
    /// `commands` lists every command with the company's state (off when never set).
    pub fn company_settings(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        company: &str,
    ) -> Result<SettingsAndCommands, AppError> {
        let company = self.readable_company(uow, caller, company, "company:read")?;
        let layer = self.company_layer(uow, Some(company))?;
        let settings = layer
            .settings
            .iter()
            .map(|(name, value)| (name.clone(), agent::mask_hidden(name, value)))
            .collect();
        let commands = self
            .app
            .registry
            .command_names()
            .into_iter()
            .map(|name| {
                let on = layer.commands.get(name).copied().unwrap_or(false);
                (name.to_owned(), on)
            })
            .collect();
        Ok(SettingsAndCommands { settings, commands })
    }

    /// `PUT /v1/companies/{id}/settings {settings}`: merge into the company's layer. A value
    /// of `""` is kept (it removes the server's value for the company's agents); `null`
    /// removes the company's own value. Agent-only names (`shared`, `company_id`, wallet
    /// keys) are refused.
    pub fn update_company_settings(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        company: &str,
        settings: &Option<Value>,
    ) -> Result<(), AppError> {
        let company = self.writable_company(uow, caller, company)?;
        let removals: Vec<String> = match settings {
            Some(Value::Object(map)) => map
                .iter()
                .filter(|(_, value)| value.is_null())
                // As `settings_from_json` reads names: trimmed.
                .map(|(name, _)| name.trim().to_owned())
                .collect(),
            _ => Vec::new(),
        };
        let given = settings_of_body(settings)?;
        if let Some(name) = given
            .keys()
            .find(|name| AGENT_ONLY.contains(&name.as_str()))
        {
            return Err(AppError::Invalid {
                field: "settings".into(),
                message: format!("`{name}` is a setting of an agent, not of a company"),
            });
        }
        // What the company would hold after the change, within the limits.
        let layer = self.company_layer(uow, Some(company))?;
        let written: BTreeMap<String, String> = given
            .iter()
            .filter(|(name, _)| !removals.contains(name))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        self.app
            .settings
            .limits
            .check_update("settings", &layer.settings, &removals, &written)?;
        let rows: Vec<CompanySettingRow> = given
            .into_iter()
            .filter(|(name, _)| !removals.contains(name))
            .map(|(name, value)| CompanySettingRow {
                company_id: company.into(),
                value: if agent::is_secret(&name) {
                    self.app.secrets.seal(&value)
                } else {
                    value
                },
                name,
            })
            .collect();
        self.app.write(uow, |work| {
            let conn = work.conn();
            store::upsert_settings(conn, &rows)?;
            store::delete_settings(conn, company.into(), &removals)?;
            work.record(DomainEvent::CompanyExtensionsChanged { company });
            Ok(())
        })?;
        Ok(())
    }

    /// `PATCH /v1/companies/{id}/command {command_name, enable}`: 404 for an unknown command.
    pub fn toggle_company_command(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        company: &str,
        command: &str,
        enable: bool,
    ) -> Result<&'static str, AppError> {
        let company = self.writable_company(uow, caller, company)?;
        let spec = self.known_command(command)?;
        self.company_commands_changed(
            uow,
            company,
            &[CompanyCommandRow {
                company_id: company.into(),
                command: spec.name.to_owned(),
                enabled: enable,
            }],
        )?;
        Ok(spec.name)
    }

    /// `PATCH /v1/companies/{id}/extension/commands {extension_name, enable}`.
    pub fn toggle_company_extension(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        company: &str,
        extension: &str,
        enable: bool,
    ) -> Result<Switched, AppError> {
        let company = self.writable_company(uow, caller, company)?;
        let (display, commands) = self.known_extension(extension)?;
        let rows: Vec<CompanyCommandRow> = commands
            .iter()
            .map(|command| CompanyCommandRow {
                company_id: company.into(),
                command: (*command).to_owned(),
                enabled: enable,
            })
            .collect();
        self.company_commands_changed(uow, company, &rows)?;
        Ok(Switched {
            enable,
            count: rows.len(),
            extension: display,
        })
    }

    /// `GET /v1/companies/{id}/extensions`: the agent extension view's shape for the
    /// company's layer (server settings under the company's, the company's command states).
    pub fn company_extensions(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        company: &str,
    ) -> Result<ConfiguredExtensions, AppError> {
        let company = self.readable_company(uow, caller, company, "extensions:read")?;
        let layer = self.company_layer(uow, Some(company))?;
        let settings = self.server_and_company(&layer);
        let listed = self.extension_listing(&settings, |command| {
            layer.commands.get(command).copied().unwrap_or(false)
        });
        Ok(ConfiguredExtensions { extensions: listed })
    }

    /// Write command states of one company (one statement and its event).
    fn company_commands_changed(
        &self,
        uow: &mut Uow<'_>,
        company: CompanyId,
        rows: &[CompanyCommandRow],
    ) -> Result<(), AppError> {
        self.app.write(uow, |work| {
            store::upsert_commands(work.conn(), rows)?;
            work.record(DomainEvent::CompanyExtensionsChanged { company });
            Ok(())
        })
    }
}
