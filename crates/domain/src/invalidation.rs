//! Cache invalidations shared between instances, and the port their transports implement.

use crate::ids::{AgentId, CompanyId, UserId};

/// What a write made stale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalidation {
    /// Anything read about a user: memberships, roles, scopes, profile, preferences.
    User(UserId),
    /// A user's token revocation instant (logout, password change, deactivation).
    Tokens(UserId),
    /// A personal access token (by the hex SHA-256 of its value): revoked or replaced.
    PersonalToken(String),
    /// An agent: its settings, commands, name or sharing.
    Agent(AgentId),
    /// The agents a user sees (an agent of theirs, or one shared with them, came, went or
    /// was renamed).
    VisibleAgents(UserId),
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
            Invalidation::Tokens(user) => format!("{origin} tokens:{user}"),
            Invalidation::PersonalToken(hash) => format!("{origin} pat:{hash}"),
            Invalidation::Agent(agent) => format!("{origin} agent:{agent}"),
            Invalidation::VisibleAgents(user) => format!("{origin} agents:{user}"),
            Invalidation::CompanyExtensions(company) => format!("{origin} company_ext:{company}"),
            Invalidation::All => format!("{origin} all"),
        }
    }

    /// The origin and the event; `None` for anything malformed.
    pub fn decode(message: &str) -> Option<(&str, Invalidation)> {
        let (origin, event) = message.split_once(' ')?;
        let event = match event.split_once(':') {
            Some(("user", user)) => Invalidation::User(user.parse().ok()?),
            Some(("tokens", user)) => Invalidation::Tokens(user.parse().ok()?),
            Some(("agent", agent)) => Invalidation::Agent(agent.parse().ok()?),
            Some(("agents", user)) => Invalidation::VisibleAgents(user.parse().ok()?),
            Some(("company_ext", company)) => {
                Invalidation::CompanyExtensions(company.parse().ok()?)
            }
            Some(("pat", hash))
                if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) =>
            {
                Invalidation::PersonalToken(hash.to_owned())
            }
            None if event == "all" => Invalidation::All,
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
}

/// A single instance (SQLite, or tests): nothing to tell anyone.
#[derive(Debug, Default, Clone, Copy)]
pub struct LocalOnly;

impl InvalidationBus for LocalOnly {
    fn publish(&self, _event: &Invalidation) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_and_garbage_is_ignored() {
        let user = UserId::new();
        for event in [
            Invalidation::User(user),
            Invalidation::Tokens(user),
            Invalidation::Agent(AgentId::new()),
            Invalidation::VisibleAgents(user),
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
}
