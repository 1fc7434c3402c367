//! Writes as units of work, and the one mapping from domain events to the read-model keys
//! they make stale.
//!
//! A use case writes through [`App::write`]: its statements and the events it records commit
//! together (`agentry_store::events::unit_of_work`); once committed, each event invalidates
//! what [`stale`] says, here and, through the bus, on the other instances. No use case
//! invalidates a read model by hand.

use agentry_domain::events::{CompanyChange, ConversationChange, DomainEvent};
use agentry_domain::invalidation::Invalidation;
use agentry_store::Uow;
use agentry_store::events::Work;

use crate::{App, AppError};

/// The read-model keys `event` makes stale. The only place that decides it.
pub fn stale(event: &DomainEvent) -> Vec<Invalidation> {
    match event {
        DomainEvent::UserRegistered { user } => vec![Invalidation::User(*user)],
        // A membership or a role: the user's access and views, and the company's roster.
        DomainEvent::AccessChanged { user, company } => std::iter::once(Invalidation::User(*user))
            .chain(company.map(Invalidation::Roster))
            .collect(),
        // A profile, a preference or the last login: the user's own view and what member
        // lists show of them, not their access.
        DomainEvent::UserUpdated { user } => vec![Invalidation::Profile(*user)],
        // A sign-in moves only the last-seen instant: what member lists show of the user,
        // from which the view takes it too. No view, access or agent list.
        DomainEvent::UserSeen { user } => vec![Invalidation::Seen(*user)],
        DomainEvent::TokensRevoked { user, .. } => vec![Invalidation::Tokens(*user)],
        DomainEvent::BillingChanged { company } => vec![Invalidation::Balance(*company)],
        DomainEvent::CompanyChanged {
            company,
            change,
            members,
            parent,
        } => {
            let mut keys: Vec<Invalidation> =
                members.iter().copied().map(Invalidation::User).collect();
            keys.push(Invalidation::Roster(*company));
            // A creation or deletion changes the parent's list of children.
            keys.extend(parent.map(Invalidation::Roster));
            if *change == CompanyChange::Deleted {
                keys.push(Invalidation::CompanyExtensions(*company));
                keys.push(Invalidation::SharedAgents(*company));
                // A view still naming it reads it again (and finds none).
                keys.push(Invalidation::Balance(*company));
            }
            keys
        }
        DomainEvent::CompanyExtensionsChanged { company } => {
            vec![Invalidation::CompanyExtensions(*company)]
        }
        DomainEvent::PersonalTokenRevoked { token_hash, .. }
        | DomainEvent::PersonalTokenCreated { token_hash, .. } => {
            vec![Invalidation::PersonalToken(token_hash.clone())]
        }
        DomainEvent::AgentChanged {
            agent,
            owner,
            sharing,
            ..
        } => {
            let mut keys = vec![Invalidation::Agent(*agent)];
            match owner {
                Some(owner) => keys.push(Invalidation::OwnAgents(*owner)),
                // Written before events named the lists: every list.
                None => keys.push(Invalidation::AgentLists),
            }
            keys.extend(sharing.iter().copied().map(Invalidation::SharedAgents));
            keys
        }
        // The user's list; a message moves its conversation to the top.
        DomainEvent::ConversationChanged { user, .. }
        | DomainEvent::MessagesChanged { user, .. } => {
            vec![Invalidation::Conversations(*user)]
        }
        // Invitations are read from the database on every request: no read model.
        DomainEvent::PromptChanged { user, .. } => vec![Invalidation::Prompts(*user)],
        DomainEvent::ChainChanged { user, .. } => vec![Invalidation::Chains(*user)],
        DomainEvent::InvitationChanged { .. } => Vec::new(),
    }
}

impl App {
    /// Run `f` as one unit of work on `conn` (one transaction with its events), then bring
    /// the read models up to date with what it recorded.
    pub(crate) fn write<T>(
        &self,
        uow: &mut Uow<'_>,
        f: impl FnOnce(&mut Work<'_>) -> Result<T, AppError>,
    ) -> Result<T, AppError> {
        let stamp = agentry_store::events::Stamp {
            at: crate::now_naive(),
            origin: &self.origin,
        };
        let (value, events) = uow.write(stamp, f)?;
        self.committed(&events);
        Ok(value)
    }

    /// Compose use cases in one transaction: each gets `f`'s handle, whose writes join this
    /// unit of work; the events of all of them commit together and then reach the read
    /// models. Nothing is written if `f` fails.
    pub fn transaction<T>(
        &self,
        uow: &mut Uow<'_>,
        f: impl FnOnce(&mut Uow<'_>) -> Result<T, AppError>,
    ) -> Result<T, AppError> {
        self.write(uow, |work| f(&mut work.uow()))
    }

    /// The async facade: run use cases on the blocking pool with one handle (at most one
    /// pooled connection, taken when first needed). Every handler of the server calls the
    /// use cases through it; so can another Rust service.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&App, &mut Uow<'static>) -> Result<T, AppError> + Send + 'static,
    ) -> Result<T, AppError> {
        let app = self.clone();
        tokio::task::spawn_blocking(move || f(&app, &mut Uow::new(&app.pool)))
            .await
            .map_err(|error| AppError::Internal(error.to_string()))?
    }

    /// Apply committed `events` to this instance's read models and tell the other
    /// instances.
    pub(crate) fn committed(&self, events: &[DomainEvent]) {
        for event in events {
            if let DomainEvent::ConversationChanged {
                conversation,
                change: ConversationChange::Deleted,
                ..
            } = event
            {
                // Its files go once its deletion has committed: a deletion rolled back with
                // an enclosing transaction keeps them.
                crate::conversations::remove_workspaces(&self.settings.data_dir, *conversation);
            }
            if let DomainEvent::TokensRevoked { user, at } = event {
                // This instance holds the new instant at once (a fill racing it is dropped
                // by the invalidation).
                self.revocations.invalidate(user);
                let ticket = self.revocations.ticket();
                self.revocations.fill(*user, ticket, *at);
                self.bus.publish(&Invalidation::Tokens(*user));
                continue;
            }
            for key in stale(event) {
                self.apply_invalidation(&key);
                self.bus.publish(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use agentry_domain::events::AgentChange;
    use agentry_domain::{AgentId, CompanyId, UserId};

    use super::*;

    #[test]
    fn an_agent_change_reaches_the_agent_its_owners_list_and_its_companies_lists() {
        let (agent, owner, company) = (AgentId::new(), UserId::new(), CompanyId::new());
        let keys = stale(&DomainEvent::AgentChanged {
            agent,
            change: AgentChange::Updated,
            owner: Some(owner),
            sharing: vec![company],
        });
        assert_eq!(
            keys,
            vec![
                Invalidation::Agent(agent),
                Invalidation::OwnAgents(owner),
                Invalidation::SharedAgents(company)
            ]
        );
        // An event of an older version (its `viewers` unknown now) reaches every list.
        let old: DomainEvent = serde_json::from_value(serde_json::json!({
            "kind": "agent.changed", "agent": agent, "change": "updated", "viewers": [owner]
        }))
        .expect("an older event reads");
        assert_eq!(
            stale(&old),
            vec![Invalidation::Agent(agent), Invalidation::AgentLists]
        );
    }

    #[test]
    fn a_balance_change_reaches_its_company_alone_and_a_profile_change_no_access() {
        let (company, user) = (CompanyId::new(), UserId::new());
        assert_eq!(
            stale(&DomainEvent::BillingChanged { company }),
            vec![Invalidation::Balance(company)]
        );
        assert_eq!(
            stale(&DomainEvent::UserUpdated { user }),
            vec![Invalidation::Profile(user)]
        );
    }

    #[test]
    fn company_lists_are_reached_by_the_company_its_parent_and_the_membership() {
        use agentry_domain::events::CompanyChange;
        let (company, parent, user) = (CompanyId::new(), CompanyId::new(), UserId::new());
        assert_eq!(
            stale(&DomainEvent::CompanyChanged {
                company,
                change: CompanyChange::Created,
                members: vec![user],
                parent: Some(parent),
            }),
            vec![
                Invalidation::User(user),
                Invalidation::Roster(company),
                Invalidation::Roster(parent)
            ]
        );
        assert_eq!(
            stale(&DomainEvent::AccessChanged {
                user,
                company: Some(company)
            }),
            vec![Invalidation::User(user), Invalidation::Roster(company)]
        );
    }
}
