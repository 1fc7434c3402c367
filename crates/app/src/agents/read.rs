//! Reading agents: each agent's view, who sees an agent and in which company its scopes are
//! checked, the configuration, persona and wallet.

use agentry_store::Uow;

use super::*;

impl Agents<'_> {
    pub(super) fn secret_box(&self) -> &SecretBox {
        &self.app.secrets
    }

    /// Settings rows to store: secrets sealed.
    pub(super) fn sealed_rows(
        &self,
        agent: DbUuid,
        settings: &BTreeMap<String, String>,
    ) -> Vec<SettingRow> {
        settings
            .iter()
            .map(|(name, value)| SettingRow {
                agent_id: agent,
                name: name.clone(),
                value: if agent::is_secret(name) {
                    self.secret_box().seal(value)
                } else {
                    value.clone()
                },
            })
            .collect()
    }

    /// Views of `rows` with their settings and commands (two statements whatever their
    /// number).
    pub(super) fn agent_views(
        &self,
        conn: &mut AnyConnection,
        rows: Vec<AgentRow>,
    ) -> Result<Vec<Arc<AgentView>>, AppError> {
        let ids: Vec<DbUuid> = rows.iter().map(|r| r.id).collect();
        let mut settings: BTreeMap<DbUuid, BTreeMap<String, String>> = BTreeMap::new();
        for row in store::settings_of(conn, &ids)? {
            let value = if agent::is_secret(&row.name) {
                // A value that no longer opens (the server key changed) reads as unset.
                self.secret_box().open(&row.value).unwrap_or_default()
            } else {
                row.value
            };
            settings
                .entry(row.agent_id)
                .or_default()
                .insert(row.name, value);
        }
        let mut commands: BTreeMap<DbUuid, BTreeMap<String, bool>> = BTreeMap::new();
        for row in store::commands_of(conn, &ids)? {
            commands
                .entry(row.agent_id)
                .or_default()
                .insert(row.command, row.enabled);
        }
        Ok(rows
            .into_iter()
            .map(|row| {
                Arc::new(AgentView {
                    id: row.id.into(),
                    name: row.name,
                    owner: row.user_id.into(),
                    company: row.company_id.map(Into::into),
                    shared: row.shared,
                    settings: settings.remove(&row.id).unwrap_or_default(),
                    commands: commands.remove(&row.id).unwrap_or_default(),
                    created_at: row.created_at,
                })
            })
            .collect())
    }

    /// One agent's view, from memory when held (`None`: no such agent, held as such);
    /// concurrent misses read it once (3 statements).
    pub(super) fn agent_view(
        &self,
        uow: &mut Uow<'_>,
        id: AgentId,
    ) -> Result<Option<Arc<AgentView>>, AppError> {
        let held = self.app.agent_views.load(uow, &id, |uow| {
            let conn = uow.conn()?;
            match store::find_agent(conn, id.into())? {
                Some(row) => Ok::<_, AppError>(self.agent_views(conn, vec![row])?.pop()),
                None => Ok(None),
            }
        })?;
        Ok(held.as_ref().clone())
    }

    /// The companies `user` belongs to (from the held access; not limited by a token).
    pub(super) fn member_companies(
        &self,
        uow: &mut Uow<'_>,
        user: UserId,
    ) -> Result<Vec<CompanyId>, AppError> {
        Ok(self
            .app
            .sessions()
            .access(uow, user)?
            .companies
            .iter()
            .map(|c| c.company)
            .collect())
    }

    /// Whether the caller sees `view`: they own it, or it is shared with a company of theirs
    /// (of the token's, for a token limited to some), and a token limited to some agents
    /// names it.
    pub(super) fn sees(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        view: &AgentView,
    ) -> Result<bool, AppError> {
        if caller
            .token
            .as_ref()
            .is_some_and(|grant| !grant.agents.is_empty() && !grant.agents.contains(&view.id))
        {
            return Ok(false);
        }
        if view.owner == caller.user {
            return Ok(true);
        }
        match view.company {
            // A failure to read the caller's access is the server's, not a refusal.
            Some(company) if view.shared => Ok(self
                .app
                .sessions()
                .caller_access(uow, caller)?
                .is_member(company)),
            _ => Ok(false),
        }
    }

    /// The agent a path names, by id or by name among the caller's visible agents; an
    /// unknown, foreign or unshared agent is 404.
    pub(crate) fn visible_agent(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        id_or_name: &str,
    ) -> Result<Arc<AgentView>, AppError> {
        let wanted = id_or_name.trim();
        if let Ok(id) = wanted.parse::<AgentId>() {
            let view = self.agent_view(uow, id)?.ok_or_else(not_found)?;
            return if self.sees(uow, caller, &view)? {
                Ok(view)
            } else {
                Err(not_found())
            };
        }
        let list = self.visible_list(uow, caller)?;
        for entry in &list.entries {
            if entry.name == wanted
                && let Some(view) = self.agent_view(uow, entry.id)?
                && self.sees(uow, caller, &view)?
            {
                return Ok(view);
            }
        }
        Err(not_found())
    }

    /// The company whose roles decide what `access` may do to `view`: the agent's company
    /// when the user belongs to it, else (an agent of no company, or whose owner left it)
    /// the user's current one. Decided on the user's whole access, not a token's part of
    /// it: a token limited to other companies must not move the check to one of those.
    pub(super) fn deciding_company(user_access: &Access, view: &AgentView) -> Option<CompanyId> {
        view.company
            .filter(|company| user_access.is_member(*company))
    }

    /// 403 unless the caller holds `scope` in the company that owns `view` (not in their own
    /// current company: a read-only member of the agent's company may not write to it
    /// because they administer another).
    pub(crate) fn authorize_agent(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        view: &AgentView,
        scope: &str,
    ) -> Result<(), AppError> {
        let company =
            Self::deciding_company(self.app.sessions().access(uow, caller.user)?.as_ref(), view);
        // Through a token, its grant and its companies limit this further (a token that
        // does not reach the agent's company holds nothing there).
        if self
            .app
            .sessions()
            .caller_access(uow, caller)?
            .allows(company, scope)
        {
            Ok(())
        } else {
            Err(AppError::insufficient(scope))
        }
    }

    /// The agent a path names, if the caller sees it (404 otherwise) and holds `scope` in
    /// its company (403 otherwise).
    pub(crate) fn agent_for(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        id_or_name: &str,
        scope: &str,
    ) -> Result<Arc<AgentView>, AppError> {
        let view = self.visible_agent(uow, caller, id_or_name)?;
        self.authorize_agent(uow, caller, &view, scope)?;
        Ok(view)
    }

    /// [`Agents::agent_for`] with its company's layer of settings and command states.
    pub(crate) fn visible_agent_with_company(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        id_or_name: &str,
        scope: &str,
    ) -> Result<(Arc<AgentView>, Arc<CompanyExtensions>), AppError> {
        let view = self.agent_for(uow, caller, id_or_name, scope)?;
        // The company's layer applies while the owner belongs to it: an agent whose owner
        // left keeps no company settings (keys included).
        let company = match view.company {
            Some(company)
                if self
                    .app
                    .sessions()
                    .access(uow, view.owner)?
                    .is_member(company) =>
            {
                Some(company)
            }
            _ => None,
        };
        let layer = self.app.extensions().company_layer(uow, company)?;
        Ok((view, layer))
    }

    /// The agent, if the caller owns it (rename, delete, wallet; others get 404) and holds
    /// `scope` in its company.
    pub(super) fn owned_agent(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        id_or_name: &str,
        scope: &str,
    ) -> Result<Arc<AgentView>, AppError> {
        let view = self.agent_for(uow, caller, id_or_name, scope)?;
        if view.owner != caller.user {
            return Err(not_found());
        }
        Ok(view)
    }

    /// The company a new, cloned or moved agent goes to: the one named, which the caller
    /// belongs to (404 otherwise), else the caller's current company; the caller must hold
    /// `agents:write` there (403 otherwise).
    pub(super) fn agent_company(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        named: Option<&String>,
    ) -> Result<Option<CompanyId>, AppError> {
        let access = self.app.sessions().caller_access(uow, caller)?;
        let company = match named.map(|c| c.trim()).filter(|c| !c.is_empty()) {
            Some(text) => {
                let company: CompanyId = text
                    .parse()
                    .map_err(|_| AppError::NotFound("Company not found".into()))?;
                if !access.is_member(company) {
                    return Err(AppError::NotFound("Company not found".into()));
                }
                Some(company)
            }
            None => access.primary().map(|c| c.company),
        };
        if !access.allows(company, "agents:write") {
            return Err(AppError::insufficient("agents:write"));
        }
        Ok(company)
    }

    /// `GET /v1/agent/{id}`: `{"agent": {"settings", "commands"}}`, secrets masked. The
    /// company's settings fill the names the agent does not set (reference 2.7: the company
    /// agent's values never override the agent's); commands show their effective state.
    pub fn agent_config(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        id: &str,
    ) -> Result<AgentConfig, AppError> {
        let (view, layer) = self.visible_agent_with_company(uow, caller, id, "agents:read")?;
        let mut settings: BTreeMap<String, String> = layer
            .settings
            .iter()
            .filter(|(name, value)| !value.is_empty() && !view.settings.contains_key(*name))
            .map(|(name, value)| (name.clone(), agent::mask_hidden(name, value)))
            .collect();
        settings.extend(
            view.settings
                .iter()
                .filter(|(name, value)| !value.is_empty() || agent::is_secret(name))
                .map(|(name, value)| (name.clone(), agent::mask_hidden(name, value))),
        );
        Ok(AgentConfig {
            agent: SettingsAndCommands {
                settings,
                commands: self.command_states(&view, &layer),
            },
        })
    }

    /// `GET /v1/agent/{id}/command`: every command with the agent's effective state.
    pub fn agent_commands(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        id: &str,
    ) -> Result<AgentCommands, AppError> {
        let (view, layer) = self.visible_agent_with_company(uow, caller, id, "agents:read")?;
        Ok(AgentCommands {
            commands: self.command_states(&view, &layer),
        })
    }

    /// Every command that exists, with this agent's effective state (off when neither the
    /// agent nor its company set it).
    pub(crate) fn command_states(
        &self,
        view: &AgentView,
        layer: &CompanyExtensions,
    ) -> BTreeMap<String, bool> {
        self.app
            .registry
            .command_names()
            .into_iter()
            .map(|name| (name.to_owned(), Self::command_enabled(view, layer, name)))
            .collect()
    }

    /// `GET /v1/agent/{id}/persona`.
    pub fn persona(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        id: &str,
    ) -> Result<String, AppError> {
        let view = self.agent_for(uow, caller, id, "agents:read")?;
        Ok(view
            .settings
            .get("persona")
            .or_else(|| view.settings.get("PERSONA"))
            .cloned()
            .unwrap_or_default())
    }

    /// `GET /v1/agent/{id}/wallet`: the owner only, and through a personal access token only
    /// one granted `wallets:read` by name.
    pub fn wallet(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        id: &str,
    ) -> Result<WalletKeys, AppError> {
        caller.require("wallets:read")?;
        let view = self.visible_agent(uow, caller, id)?;
        if view.owner != caller.user {
            return Err(not_found());
        }
        let secret = view.settings.get(WALLET_SECRET).filter(|s| !s.is_empty());
        let (Some(secret), Some(passphrase)) = (secret, view.settings.get(WALLET_PASSPHRASE))
        else {
            return Err(AppError::NotFound("Wallet not found".into()));
        };
        Ok(WalletKeys {
            private_key: secret.clone(),
            passphrase: passphrase.clone(),
            address: view.settings.get(WALLET_ADDRESS).cloned(),
        })
    }
}
