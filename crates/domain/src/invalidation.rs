//! Cache invalidations shared between instances, and the port their transports implement.

use crate::ids::{AgentId, CompanyId, UserId};

/// What a write made stale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalidation {
    /// Anything read about a user: memberships, roles, scopes, profile, preferences.
    User(UserId),
    /// A user's own view, their agent list (its default follows a preference) and what
    /// member lists show of them (profile, preferences, last seen): not their access.
    Profile(UserId),
    /// What member lists show of a user (and the view its `last_seen`): a sign-in.
    Seen(UserId),
    /// A company's balance, usage and subscription state (one company's billing).
    Balance(CompanyId),
    /// A company's row, memberships and children (what its lists show, profiles aside).
    Roster(CompanyId),
    /// A user's list of conversations.
    Conversations(UserId),
    /// A user's prompts.
    Prompts(UserId),
    /// A user's chains and their steps.
    Chains(UserId),
    /// A user's token revocation instant (logout, password change, deactivation).
    Tokens(UserId),
    /// A personal access token (by the hex SHA-256 of its value): revoked or replaced.
    PersonalToken(String),
    /// An agent: its settings, commands, name or sharing.
    Agent(AgentId),
    /// The agents a user owns (one came, went, was renamed, moved or shared).
    OwnAgents(UserId),
    /// The agents shared with a company's members (one came, went, was renamed or moved).
    SharedAgents(CompanyId),
    /// Every agent list (an event that does not say which).
    AgentLists,
    /// A company's extension settings and command states (the layer between the server's
    /// and each agent's).
    CompanyExtensions(CompanyId),
    /// Everything (a transport reconnected and may have missed messages).
    All,
}

impl Invalidation {
    /// `<origin> <kind>[:<user>]`; the origin lets an instance skip its own messages.
    pub fn encode(&self, origin: &str) -> String {
        match self {
            Invalidation::User(user) => format!("{origin} user:{user}"),
            Invalidation::Profile(user) => format!("{origin} profile:{user}"),
            Invalidation::Seen(user) => format!("{origin} seen:{user}"),
            Invalidation::Balance(company) => format!("{origin} balance:{company}"),
            Invalidation::Roster(company) => format!("{origin} roster:{company}"),
            Invalidation::Conversations(user) => format!("{origin} conversations:{user}"),
            Invalidation::Prompts(user) => format!("{origin} prompts:{user}"),
            Invalidation::Chains(user) => format!("{origin} chains:{user}"),
            Invalidation::Tokens(user) => format!("{origin} tokens:{user}"),
            Invalidation::PersonalToken(hash) => format!("{origin} pat:{hash}"),
            Invalidation::Agent(agent) => format!("{origin} agent:{agent}"),
            Invalidation::OwnAgents(user) => format!("{origin} agents:{user}"),
            Invalidation::SharedAgents(company) => format!("{origin} shared_agents:{company}"),
            Invalidation::AgentLists => format!("{origin} agent_lists"),
            Invalidation::CompanyExtensions(company) => format!("{origin} company_ext:{company}"),
            Invalidation::All => format!("{origin} all"),
        }
    }

    /// The origin and the event; `None` for anything malformed.
    pub fn decode(message: &str) -> Option<(&str, Invalidation)> {
        let (origin, event) = message.split_once(' ')?;
        let event = match event.split_once(':') {
            Some(("user", user)) => Invalidation::User(user.parse().ok()?),
            Some(("profile", user)) => Invalidation::Profile(user.parse().ok()?),
            Some(("seen", user)) => Invalidation::Seen(user.parse().ok()?),
            Some(("balance", company)) => Invalidation::Balance(company.parse().ok()?),
            Some(("roster", company)) => Invalidation::Roster(company.parse().ok()?),
            Some(("conversations", user)) => Invalidation::Conversations(user.parse().ok()?),
            Some(("prompts", user)) => Invalidation::Prompts(user.parse().ok()?),
            Some(("chains", user)) => Invalidation::Chains(user.parse().ok()?),
            Some(("tokens", user)) => Invalidation::Tokens(user.parse().ok()?),
            Some(("agent", agent)) => Invalidation::Agent(agent.parse().ok()?),
            Some(("agents", user)) => Invalidation::OwnAgents(user.parse().ok()?),
            Some(("shared_agents", company)) => Invalidation::SharedAgents(company.parse().ok()?),
            Some(("company_ext", company)) => {
                Invalidation::CompanyExtensions(company.parse().ok()?)
            }
            Some(("pat", hash))
                if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) =>
            {
                Invalidation::PersonalToken(hash.to_owned())
            }
            None if event == "all" => Invalidation::All,
            None if event == "agent_lists" => Invalidation::AgentLists,
            _ => return None,
        };
        Some((origin, event))
    }
}

/// Carries invalidations to the other instances (the local caches are invalidated by the
/// writer itself). Implementations must not block: a transport queues and sends in the
/// background.
pub trait InvalidationBus: Send + Sync {
    fn publish(&self, event: &Invalidation);

    /// Whether the transport is connected now (a bus that is not still converges, by the
    /// dispatcher's poll; `/ready` reports it as degraded).
    fn connected(&self) -> bool {
        true
    }
}

/// A single instance (SQLite, or tests): nothing to tell anyone.
#[derive(Debug, Default, Clone, Copy)]
pub struct LocalOnly;

impl InvalidationBus for LocalOnly {
    fn publish(&self, _event: &Invalidation) {}
}

/// The delays between a bus transport's reconnect attempts: 100 ms, doubling to 5 s while
/// attempts keep failing, and 100 ms again after a connection that was up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff(std::time::Duration);

impl Backoff {
    pub const FIRST: std::time::Duration = std::time::Duration::from_millis(100);
    pub const MAX: std::time::Duration = std::time::Duration::from_secs(5);

    pub fn new() -> Self {
        Backoff(Self::FIRST)
    }

    /// The wait before the next attempt, after a connection that `was_up` (or not) failed.
    pub fn next(&mut self, was_up: bool) -> std::time::Duration {
        if was_up {
            self.0 = Self::FIRST;
        }
        let wait = self.0;
        self.0 = self.0.saturating_mul(2).min(Self::MAX);
        wait
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_and_garbage_is_ignored() {
        let user = UserId::new();
        for event in [
            Invalidation::User(user),
            Invalidation::Profile(user),
            Invalidation::Seen(user),
            Invalidation::Balance(CompanyId::new()),
            Invalidation::Roster(CompanyId::new()),
            Invalidation::Conversations(user),
            Invalidation::Prompts(user),
            Invalidation::Chains(user),
            Invalidation::Tokens(user),
            Invalidation::Agent(AgentId::new()),
            Invalidation::OwnAgents(user),
            Invalidation::SharedAgents(CompanyId::new()),
            Invalidation::AgentLists,
            Invalidation::CompanyExtensions(CompanyId::new()),
            Invalidation::All,
        ] {
            let message = event.encode("instance-1");
            assert_eq!(Invalidation::decode(&message), Some(("instance-1", event)));
        }
        for garbage in ["", "x", "a user:nope", "a what:ever", "a all:1", "a pat:zz"] {
            assert_eq!(Invalidation::decode(garbage), None, "{garbage}");
        }
    }

    #[test]
    fn reconnects_back_off_while_failing_and_start_over_after_a_success() {
        let mut backoff = super::Backoff::new();
        let waits: Vec<u128> = (0..8).map(|_| backoff.next(false).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        assert_eq!(
            backoff.next(true).as_millis(),
            100,
            "a connection that was up starts over"
        );
        assert_eq!(backoff.next(false).as_millis(), 200);
    }
}
