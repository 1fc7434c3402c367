//! Writing agents: create, clone, settings, commands, rename, delete; each a unit of work
//! recording `agent.changed`.

use agentry_store::Uow;

use super::*;

/// The company whose shared list shows `row` (none unless shared).
fn sharing_of(row: &AgentRow) -> Vec<CompanyId> {
    row.company_id
        .filter(|_| row.shared)
        .map(CompanyId::from)
        .into_iter()
        .collect()
}

impl Agents<'_> {
    /// Write command states of one agent (one statement and its event).
    pub(super) fn commands_changed(
        &self,
        uow: &mut Uow<'_>,
        view: &AgentView,
        rows: &[CommandRow],
    ) -> Result<(), AppError> {
        self.app.write(uow, |work| {
            store::upsert_commands(work.conn(), rows)?;
            // The lists show no commands; the owner's is named anyway (an event without an
            // owner reaches every list) and costs one re-read.
            work.record(DomainEvent::AgentChanged {
                agent: view.id,
                change: AgentChange::Updated,
                owner: Some(view.owner),
                sharing: Vec::new(),
            });
            Ok(())
        })
    }

    /// `POST /v1/agent`: 409 when the caller already has an agent of that name.
    pub fn create_agent(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        body: NewAgentBody,
    ) -> Result<AgentId, AppError> {
        let name = name_of(&body.agent_name, "agent_name")?;
        let given = settings_of_body(&body.settings)?;
        let commands = commands_of_body(&body.commands)?;
        if body
            .training_urls
            .as_ref()
            .is_some_and(|u| u.as_array().is_some_and(|a| !a.is_empty()))
        {
            return Err(AppError::BadRequest(
                "training_urls are not supported yet; create the agent, then add memories".into(),
            ));
        }
        let mut settings = agent::default_settings(None);
        settings.extend(given);
        let after: BTreeMap<&str, &str> = settings
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        self.app
            .settings
            .limits
            .check("settings", &BTreeMap::new(), &after)?;
        let company = self.agent_company(uow, caller, settings.get(COMPANY_ID))?;
        self.insert_new_agent(uow, caller.user, &name, settings, company, &commands)
    }

    /// Insert an agent with `settings` (plus `company_id` and a new wallet) and the core
    /// commands enabled, then `commands` applied; one transaction.
    pub(crate) fn insert_new_agent(
        &self,
        uow: &mut Uow<'_>,
        owner: UserId,
        name: &str,
        mut settings: BTreeMap<String, String>,
        company: Option<CompanyId>,
        commands: &BTreeMap<String, bool>,
    ) -> Result<AgentId, AppError> {
        self.app.write(uow, |work| {
            let conn = work.conn();
            // Counted in the write's transaction, so concurrent creations (on any
            // instance) cannot pass the limit together.
            let limit = self.app.settings.limits.max_agents_per_user;
            // PostgreSQL: the owner's row is locked first, so concurrent creations count
            // one after another (SQLite's IMMEDIATE transaction already queues them).
            agentry_store::account::lock_user(conn, owner)?;
            if store::count_owned(conn, owner)? >= limit as i64 {
                return Err(AppError::Invalid {
                    field: "agent_name".into(),
                    message: format!("a user owns at most {limit} agents"),
                });
            }
            self.insert_agent_in(work, owner, name, &mut settings, company, commands)
        })
    }

    /// [`Agents::insert_new_agent`] in the caller's unit of work (registration's too); records
    /// the new agent with who sees it.
    pub(crate) fn insert_agent_in(
        &self,
        work: &mut Work<'_>,
        owner: UserId,
        name: &str,
        settings: &mut BTreeMap<String, String>,
        company: Option<CompanyId>,
        commands: &BTreeMap<String, bool>,
    ) -> Result<AgentId, AppError> {
        let id = AgentId::new();
        let at = now();
        settings.insert(
            COMPANY_ID.into(),
            company.map(|c| c.to_string()).unwrap_or_default(),
        );
        let wallet = Wallet::generate();
        settings.insert(WALLET_SECRET.into(), wallet.secret_hex);
        settings.insert(WALLET_PASSPHRASE.into(), wallet.passphrase_hex);
        settings.insert(WALLET_ADDRESS.into(), wallet.address);
        let shared = settings.get(SHARED).is_some_and(|s| agent::truthy(s));
        let row = AgentRow {
            id: id.into(),
            name: name.to_owned(),
            user_id: owner.into(),
            company_id: company.map(Into::into),
            shared,
            created_at: at,
            updated_at: at,
        };
        let mut states: BTreeMap<String, bool> = self
            .app
            .registry
            .core_commands()
            .into_iter()
            .map(|c| (c.to_owned(), true))
            .collect();
        for (command, on) in commands {
            if let Some((_, spec)) = self.app.registry.command(command) {
                states.insert(spec.name.to_owned(), *on);
            }
        }
        let command_rows: Vec<CommandRow> = states
            .into_iter()
            .map(|(command, enabled)| CommandRow {
                agent_id: id.into(),
                command,
                enabled,
            })
            .collect();
        let setting_rows = self.sealed_rows(id.into(), settings);
        let conn = work.conn();
        store::insert_agent(conn, &row, &setting_rows, &command_rows).map_err(|error| {
            if error.is_conflict() {
                AppError::Conflict(format!("Agent {name} already exists."))
            } else {
                error.into()
            }
        })?;
        let sharing: Vec<CompanyId> = if shared {
            company.into_iter().collect()
        } else {
            Vec::new()
        };
        work.record(DomainEvent::AgentChanged {
            agent: id,
            change: AgentChange::Created,
            owner: Some(owner),
            sharing,
        });
        Ok(id)
    }

    /// `PUT /v1/agent/{id}`: merge settings (the owner, or a member the agent is shared
    /// with who holds `agents:write` in its company). `""` removes a setting, except
    /// secrets, where it records an explicit disconnect. Moving the agent to another company
    /// (`company_id`) or unsharing it is for its owner or an admin of its company, and a
    /// move needs `agents:write` in both companies.
    pub fn update_agent_settings(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        id: &str,
        settings: &Option<Value>,
    ) -> Result<AgentChanged, AppError> {
        let view = self.agent_for(uow, caller, id, "agents:write")?;
        let given = settings_of_body(settings)?;
        // The wallet is made with the agent and is its owner's: never written through settings.
        if let Some(name) = given.keys().find(|name| {
            [WALLET_SECRET, WALLET_PASSPHRASE, WALLET_ADDRESS].contains(&name.as_str())
        }) {
            return Err(invalid("settings", format!("`{name}` cannot be changed")));
        }
        let (mut upserts, mut removals) = (BTreeMap::new(), Vec::new());
        for (name, value) in given {
            if value.is_empty() && !agent::is_secret(&name) {
                removals.push(name);
            } else {
                upserts.insert(name, value);
            }
        }
        // Sharing follows the settings of the same names: what the body says, else what the
        // row holds when the write runs (the view may be older than another instance's move).
        let shared_given = match (upserts.get(SHARED), removals.iter().any(|r| r == SHARED)) {
            (Some(value), _) => Some(agent::truthy(value)),
            (None, true) => Some(false),
            (None, false) => None,
        };
        let company_given = if upserts.contains_key(COMPANY_ID) {
            Some(self.agent_company(uow, caller, upserts.get(COMPANY_ID))?)
        } else if removals.iter().any(|r| r == COMPANY_ID) {
            Some(None)
        } else {
            None
        };
        let moving = company_given.is_some_and(|company| company != view.company);
        if moving || (view.shared && shared_given == Some(false)) {
            let access = self.app.sessions().caller_access(uow, caller)?;
            let admin_of_its_company = access.is_super_admin()
                || view
                    .company
                    .and_then(|c| access.in_company(c))
                    .is_some_and(|m| m.role.is_admin() && !access.limited);
            if view.owner != caller.user && !admin_of_its_company {
                return Err(AppError::Forbidden(
                    "Only the agent's owner or an admin of its company can move or unshare it"
                        .into(),
                ));
            }
        }
        if let Some(Some(company)) = company_given {
            upserts.insert(COMPANY_ID.into(), company.to_string());
        }
        // What the agent would hold after the change, within the limits.
        self.app
            .settings
            .limits
            .check_update("settings", &view.settings, &removals, &upserts)?;
        let rows = self.sealed_rows(view.id.into(), &upserts);
        self.app.write(uow, |work| {
            let conn = work.conn();
            let current = store::lock_agent(conn, view.id.into())?.ok_or_else(not_found)?;
            let was = (current.shared, current.company_id.map(CompanyId::from));
            let shared = shared_given.unwrap_or(was.0);
            let company = company_given.unwrap_or(was.1);
            store::upsert_settings(conn, &rows)?;
            store::delete_settings(conn, view.id.into(), &removals)?;
            let mut touched: Vec<CompanyId> = Vec::new();
            if (shared, company) != was {
                store::set_sharing(conn, view.id.into(), shared, company.map(Into::into), now())?;
                if was.0 {
                    touched.extend(was.1);
                }
                if shared {
                    touched.extend(company);
                }
                touched.dedup();
            }
            work.record(DomainEvent::AgentChanged {
                agent: view.id,
                change: AgentChange::Updated,
                owner: Some(view.owner),
                sharing: touched,
            });
            Ok(())
        })?;
        Ok(AgentChanged {
            id: view.id,
            name: view.name.clone(),
        })
    }

    /// `PUT /v1/agent/{id}/commands {commands: {name: bool}}`: names that exist (by friendly
    /// or function name); any unknown name is 404 and nothing changes.
    pub fn update_agent_commands(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        id: &str,
        commands: &Option<Value>,
    ) -> Result<AgentChanged, AppError> {
        let view = self.agent_for(uow, caller, id, "agents:write")?;
        let given = commands_of_body(commands)?;
        let unknown: Vec<&str> = given
            .keys()
            .filter(|name| self.app.registry.command(name).is_none())
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            return Err(AppError::NotFound(format!(
                "Commands not found: {}",
                unknown.join(", ")
            )));
        }
        let rows: Vec<CommandRow> = given
            .iter()
            .filter_map(|(name, on)| {
                self.app.registry.command(name).map(|(_, spec)| CommandRow {
                    agent_id: view.id.into(),
                    command: spec.name.to_owned(),
                    enabled: *on,
                })
            })
            .collect();
        self.commands_changed(uow, &view, &rows)?;
        Ok(AgentChanged {
            id: view.id,
            name: view.name.clone(),
        })
    }

    /// `PATCH /v1/agent/{id}/command {command_name, enable}`: 404 for an unknown command.
    pub fn toggle_command(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        id: &str,
        command: &str,
        enable: bool,
    ) -> Result<AgentChanged, AppError> {
        let view = self.agent_for(uow, caller, id, "agents:write")?;
        let spec = self.app.extensions().known_command(command)?;
        self.commands_changed(
            uow,
            &view,
            &[CommandRow {
                agent_id: view.id.into(),
                command: spec.name.to_owned(),
                enabled: enable,
            }],
        )?;
        Ok(AgentChanged {
            id: view.id,
            name: view.name.clone(),
        })
    }

    /// `PATCH /v1/agent/{id}/extension/commands {extension_name, enable}`.
    pub fn toggle_extension(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        id: &str,
        extension: &str,
        enable: bool,
    ) -> Result<Switched, AppError> {
        let view = self.agent_for(uow, caller, id, "agents:write")?;
        let (display, commands) = self.app.extensions().known_extension(extension)?;
        let rows: Vec<CommandRow> = commands
            .iter()
            .map(|command| CommandRow {
                agent_id: view.id.into(),
                command: (*command).to_owned(),
                enabled: enable,
            })
            .collect();
        self.commands_changed(uow, &view, &rows)?;
        Ok(Switched {
            enable,
            count: rows.len(),
            extension: display,
        })
    }

    /// `PATCH /v1/agent/{id} {new_name}`: the owner only (404 otherwise); 409 for a name the
    /// owner already uses.
    pub fn rename_agent(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        id: &str,
        new_name: &Value,
    ) -> Result<(), AppError> {
        let view = self.owned_agent(uow, caller, id, "agents:write")?;
        let name = name_of(new_name, "new_name")?;
        self.app.write(uow, |work| {
            let conn = work.conn();
            // Its sharing as the write finds it (the view may be older than a move).
            let current = store::lock_agent(conn, view.id.into())?.ok_or_else(not_found)?;
            match store::rename_agent(conn, view.id.into(), &name, now()) {
                Ok(true) => {}
                Ok(false) => return Err(not_found()),
                Err(error) if error.is_conflict() => {
                    return Err(AppError::Conflict(format!("Agent {name} already exists.")));
                }
                Err(error) => return Err(error.into()),
            }
            work.record(DomainEvent::AgentChanged {
                agent: view.id,
                change: AgentChange::Renamed,
                owner: Some(current.user_id.into()),
                sharing: sharing_of(&current),
            });
            Ok(())
        })
    }

    /// `DELETE /v1/agent/{id}`: the owner only; settings and commands go with it, its
    /// conversations stay (without an agent). One transaction.
    pub fn delete_agent(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        id: &str,
    ) -> Result<AgentChanged, AppError> {
        let view = self.owned_agent(uow, caller, id, "agents:delete")?;
        self.app.write(uow, |work| {
            let conn = work.conn();
            // Its sharing as the write finds it (the view may be older than a move).
            let current = store::lock_agent(conn, view.id.into())?.ok_or_else(not_found)?;
            if !store::delete_agent(conn, view.id.into())? {
                return Err(not_found());
            }
            work.record(DomainEvent::AgentChanged {
                agent: view.id,
                change: AgentChange::Deleted,
                owner: Some(current.user_id.into()),
                sharing: sharing_of(&current),
            });
            Ok(())
        })?;
        Ok(AgentChanged {
            id: view.id,
            name: view.name.clone(),
        })
    }

    /// `POST /v1/agent/{id}/clone {new_name}`: a new agent of the caller with the source's
    /// settings (not shared, a new wallet) and commands. The copy carries the source's
    /// secrets, so it needs `agents:write` in the source's company as well as in the
    /// caller's current company, where the copy goes.
    pub fn clone_agent(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        id: &str,
        new_name: &Value,
    ) -> Result<AgentId, AppError> {
        let view = self.agent_for(uow, caller, id, "agents:write")?;
        let name = name_of(new_name, "new_name")?;
        let mut settings = view.settings.clone();
        for dropped in [
            SHARED,
            WALLET_SECRET,
            WALLET_PASSPHRASE,
            WALLET_ADDRESS,
            COMPANY_ID,
        ] {
            settings.remove(dropped);
        }
        let company = self.agent_company(uow, caller, None)?;
        self.insert_new_agent(uow, caller.user, &name, settings, company, &view.commands)
    }

    /// `PUT /v1/agent/{id}/persona {persona}`.
    pub fn set_persona(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        id: &str,
        persona: &Value,
    ) -> Result<AgentChanged, AppError> {
        let Some(text) = persona.as_str() else {
            return Err(invalid("persona", "expected a string"));
        };
        self.update_agent_settings(uow, caller, id, &Some(json!({ "persona": text })))
    }

    /// `DELETE /v1/agent/{id}/provider/{provider}`: an explicit disconnect. Each of the
    /// provider's secret settings is set to `""` on the agent, which hides the company's and
    /// the server's values from it; other settings (`*_MAX_TOKENS`, models) stay. 404 for an
    /// unknown provider.
    pub fn disconnect_provider(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        id: &str,
        provider: &str,
    ) -> Result<AgentChanged, AppError> {
        let spec = agentry_extensions::providers::provider(provider.trim())
            .ok_or_else(|| AppError::NotFound(format!("Provider '{provider}' not found")))?;
        let cleared: Map<String, Value> = spec
            .settings
            .iter()
            .filter(|(name, _)| agent::is_secret(name))
            .map(|(name, _)| ((*name).to_owned(), Value::String(String::new())))
            .collect();
        self.update_agent_settings(uow, caller, id, &Some(Value::Object(cleared)))
    }
}
