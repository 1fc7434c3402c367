//! The agent lists (`GET /v1/agent`, the agents `GET /v1/user` shows per company), assembled at
//! each request from read models keyed by what changes: each user's own agents, with their
//! `agent_id` preference (the list's default), and each company's shared agents. Which
//! companies' shared agents a user sees follows their access, read with them; so a membership
//! change reaches no list, and an agent change reaches its owner's list and its company's.

use agentry_store::Uow;

use super::*;

/// An agent as the lists show it.
#[derive(Debug, Clone)]
pub struct Listed {
    pub id: AgentId,
    pub name: String,
    pub owner: UserId,
    pub company: Option<CompanyId>,
    pub shared: bool,
    pub created_at: NaiveDateTime,
}

impl Listed {
    fn of(row: AgentRow) -> Self {
        Listed {
            id: row.id.into(),
            name: row.name,
            owner: row.user_id.into(),
            company: row.company_id.map(Into::into),
            shared: row.shared,
            created_at: row.created_at,
        }
    }
}

/// The agents a user owns, oldest first, and their `agent_id` preference. Invalidated by an
/// agent change naming them as owner and by their profile (the preference).
#[derive(Debug)]
pub struct OwnAgents {
    pub agents: Vec<Listed>,
    pub preferred: Option<AgentId>,
}

/// The agents shared with a company's members, oldest first (none for a company that is
/// gone). Invalidated by an agent change naming the company.
#[derive(Debug, Default)]
pub struct SharedAgents {
    pub agents: Vec<Listed>,
}

fn listed_weight(agents: &[Listed]) -> usize {
    agents
        .iter()
        .map(|agent| agent.name.len().saturating_add(96))
        .fold(64, usize::saturating_add)
}

impl OwnAgents {
    /// Roughly what it holds in memory.
    pub(crate) fn weight(&self) -> usize {
        listed_weight(&self.agents)
    }
}

impl SharedAgents {
    /// Roughly what it holds in memory.
    pub(crate) fn weight(&self) -> usize {
        listed_weight(&self.agents)
    }
}

/// What a user's list is made of, as the read models hand it out: a rendering made of the
/// same parts (the same values, by address) is current.
#[derive(Debug, Clone)]
pub(crate) struct ListParts {
    user: UserId,
    own: Arc<OwnAgents>,
    /// In the order of the user's companies.
    shared: Vec<Arc<SharedAgents>>,
}

impl ListParts {
    /// Whether both were assembled from the same values.
    pub(crate) fn same(&self, other: &ListParts) -> bool {
        self.user == other.user
            && Arc::ptr_eq(&self.own, &other.own)
            && self.shared.len() == other.shared.len()
            && self
                .shared
                .iter()
                .zip(&other.shared)
                .all(|(a, b)| Arc::ptr_eq(a, b))
    }

    /// The list: the user's own agents, then those shared with them by others, each oldest
    /// first; the default is the preferred agent when listed, else the first.
    pub(crate) fn visible(&self) -> VisibleList {
        let mut shared: Vec<&Listed> = self
            .shared
            .iter()
            .flat_map(|list| &list.agents)
            .filter(|agent| agent.owner != self.user)
            .collect();
        shared.sort_by_key(|agent| (agent.created_at, agent.id));
        shared.dedup_by_key(|agent| agent.id);
        let rows: Vec<&Listed> = self.own.agents.iter().chain(shared).collect();
        let chosen = self
            .own
            .preferred
            .filter(|p| rows.iter().any(|agent| agent.id == *p))
            .or_else(|| rows.first().map(|agent| agent.id));
        let entries = rows
            .into_iter()
            .map(|agent| {
                let owner = agent.owner == self.user;
                AgentEntry {
                    name: agent.name.clone(),
                    id: agent.id,
                    status: false,
                    company_id: agent.company,
                    default: Some(agent.id) == chosen,
                    is_owner: owner,
                    is_shared: agent.shared,
                    access_level: if owner { "owner" } else { "viewer" },
                }
            })
            .collect();
        VisibleList { entries }
    }

    /// The agents `GET /v1/user` lists in each company: the visible ones of that company.
    pub(crate) fn by_company(&self) -> BTreeMap<CompanyId, Vec<Value>> {
        let mut by_company: BTreeMap<CompanyId, Vec<Value>> = BTreeMap::new();
        for entry in self.visible().entries {
            let Some(company) = entry.company_id else {
                continue;
            };
            by_company.entry(company).or_default().push(json!({
                "id": entry.id, "name": entry.name, "status": false, "companyId": company,
                "default": entry.default,
            }));
        }
        by_company
    }
}

impl Agents<'_> {
    /// The parts of `user`'s list for `companies` (theirs): those held, the others read
    /// (two statements for the own agents, one for all missing companies).
    pub(crate) fn list_parts(
        &self,
        uow: &mut Uow<'_>,
        user: UserId,
        companies_: &[CompanyId],
    ) -> Result<ListParts, AppError> {
        let own = self.app.own_agents.load(uow, &user, |uow| {
            let conn = uow.conn()?;
            let agents = store::owned_agents(conn, user)?;
            let preferred = agentry_store::account::preferences_for(conn, user)?
                .into_iter()
                .find(|(name, _)| name == "agent_id")
                .and_then(|(_, value)| value)
                .and_then(|id| id.parse().ok());
            Ok::<_, AppError>(OwnAgents {
                agents: agents.into_iter().map(Listed::of).collect(),
                preferred,
            })
        })?;
        let mut shared = self
            .app
            .shared_agents
            .load_many(uow, companies_, |uow, missing| {
                let mut lists: HashMap<CompanyId, SharedAgents> = missing
                    .iter()
                    .map(|company| (*company, SharedAgents::default()))
                    .collect();
                for row in store::shared_agents(uow.conn()?, missing)? {
                    let agent = Listed::of(row);
                    if let Some(list) = agent.company.and_then(|c| lists.get_mut(&c)) {
                        list.agents.push(agent);
                    }
                }
                Ok::<_, AppError>(lists.into_iter().collect())
            })?;
        Ok(ListParts {
            user,
            own,
            shared: companies_
                .iter()
                .filter_map(|company| shared.remove(company))
                .collect(),
        })
    }

    /// [`Agents::list_parts`] when this process holds them all (no I/O).
    pub(crate) fn held_parts(&self, user: UserId, companies_: &[CompanyId]) -> Option<ListParts> {
        Some(ListParts {
            user,
            own: self.app.own_agents.get(&user)?,
            shared: companies_
                .iter()
                .map(|company| self.app.shared_agents.get(company))
                .collect::<Option<_>>()?,
        })
    }

    /// The agents the caller sees (their whole list; a token's limits apply later).
    pub(super) fn visible_list(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
    ) -> Result<VisibleList, AppError> {
        let companies_ = self.member_companies(uow, caller.user)?;
        Ok(self.list_parts(uow, caller.user, &companies_)?.visible())
    }

    /// `GET /v1/agent`: the caller's own agents, then those shared with them. Every one is
    /// listed, even when names repeat (the reference keeps the first of each name, which
    /// hides a team's shared "AGiXT" behind each member's own).
    pub fn list_agents(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
    ) -> Result<Rendered<AgentList>, AppError> {
        caller.require("agents:read")?;
        self.visible_list(uow, caller)?
            .body_for(caller.token.as_deref())
    }

    /// The entries of `GET /v1/agent` (limited as the caller's token is).
    pub fn visible_entries(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
    ) -> Result<Vec<AgentEntry>, AppError> {
        Ok(self
            .visible_list(uow, caller)?
            .entries_for(caller.token.as_deref()))
    }

    /// `GET /v1/agent` from memory, when this process holds the caller's access and the
    /// parts of their list.
    pub fn cached_agent_list(
        &self,
        caller: &Caller,
    ) -> Option<Result<Rendered<AgentList>, AppError>> {
        if !caller.may("agents:read") {
            return None;
        }
        let access = self.app.sessions().cached_access(caller.user)?;
        let companies_: Vec<CompanyId> = access.companies.iter().map(|c| c.company).collect();
        let parts = self.held_parts(caller.user, &companies_)?;
        Some(parts.visible().body_for(caller.token.as_deref()))
    }
}
