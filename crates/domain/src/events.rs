//! Domain events: what a write changed, recorded by the write's unit of work and inserted into
//! the `events` table in the write's own transaction. Read models are invalidated from them
//! (one mapping, `agentry_app::events`); later consumers (other instances, webhooks) read the
//! same log.
//!
//! Each event names the ids it concerns. Where a read model is still keyed per user, the event
//! also carries the users whose views it makes stale, computed in the write's transaction.

use serde::{Deserialize, Serialize};

use crate::ids::{AgentId, CompanyId, ConversationId, UserId};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum DomainEvent {
    /// An account was created.
    #[serde(rename = "user.registered")]
    UserRegistered { user: UserId },
    /// A profile, a preference, a password, MFA or the login state changed.
    #[serde(rename = "user.updated")]
    UserUpdated { user: UserId },
    /// The user signed in: their last-seen instant moved (and failed attempts were cleared),
    /// which only member lists and the view's `last_seen` show.
    #[serde(rename = "user.seen")]
    UserSeen { user: UserId },
    /// Every token issued to `user` before `at` (epoch seconds) is refused from now on
    /// (logout, password change, deletion).
    #[serde(rename = "user.tokens_revoked")]
    TokensRevoked { user: UserId, at: f64 },
    /// A user's memberships or roles changed (joined, left, promoted; a deleted company is
    /// `CompanyChanged`).
    #[serde(rename = "access.changed")]
    AccessChanged {
        user: UserId,
        company: Option<CompanyId>,
    },
    /// A company was created, renamed or changed, or deleted; `members` are the users whose
    /// views show it (all of its members before the change); `parent` is the company whose
    /// children it is among, on a creation or deletion (its list of children changed).
    #[serde(rename = "company.changed")]
    CompanyChanged {
        company: CompanyId,
        change: CompanyChange,
        members: Vec<UserId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        parent: Option<CompanyId>,
    },
    /// A company's billing changed: its token balance (a charge, a credit, a settled
    /// payment) or its subscription. Keyed by the company alone: views and the paywall read
    /// balances from a read model keyed by company, so a charge reaches no user's access or
    /// view. (Events written before carry a `users` list too, which is ignored.)
    #[serde(rename = "company.billing_changed")]
    BillingChanged { company: CompanyId },
    /// A company's extension settings or command states changed (or the company is gone).
    #[serde(rename = "company.extensions_changed")]
    CompanyExtensionsChanged { company: CompanyId },
    /// A personal access token was created (`token_hash` as for a revocation: a lookup of that
    /// value before it existed is forgotten).
    #[serde(rename = "token.created")]
    PersonalTokenCreated {
        user: UserId,
        token: String,
        token_hash: String,
    },
    /// An invitation to a company was sent or withdrawn (its acceptance is `AccessChanged`).
    #[serde(rename = "invitation.changed")]
    InvitationChanged {
        company: CompanyId,
        invitation: String,
        change: InvitationChange,
    },
    /// A personal access token was revoked or replaced (`token_hash`: the hex SHA-256 of its
    /// value, which is how the read model finds it).
    #[serde(rename = "token.revoked")]
    PersonalTokenRevoked { user: UserId, token_hash: String },
    /// An agent was created, changed (settings, commands, name, sharing) or deleted;
    /// `owner` is whose own list shows it, `sharing` the companies whose shared lists showed
    /// or show it. An event written before the lists were keyed so (with `viewers` instead)
    /// reads with no owner, which reaches every list.
    #[serde(rename = "agent.changed")]
    AgentChanged {
        agent: AgentId,
        change: AgentChange,
        #[serde(default)]
        owner: Option<UserId>,
        #[serde(default)]
        sharing: Vec<CompanyId>,
    },
    /// A conversation was created, renamed, forked or deleted.
    #[serde(rename = "conversation.changed")]
    ConversationChanged {
        conversation: ConversationId,
        user: UserId,
        change: ConversationChange,
    },
    /// Messages were added to, changed in or deleted from a conversation.
    #[serde(rename = "conversation.messages_changed")]
    MessagesChanged {
        conversation: ConversationId,
        user: UserId,
        change: MessagesChange,
    },
    /// One of a user's prompts was created, changed or deleted.
    #[serde(rename = "prompt.changed")]
    PromptChanged { user: UserId, prompt: String },
    /// One of a user's chains (or its steps) was created, changed or deleted.
    #[serde(rename = "chain.changed")]
    ChainChanged { user: UserId, chain: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentChange {
    Created,
    Updated,
    Renamed,
    Deleted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompanyChange {
    Created,
    Updated,
    Deleted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvitationChange {
    Sent,
    Withdrawn,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversationChange {
    Created,
    Renamed,
    Deleted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessagesChange {
    Added,
    Updated,
    Deleted,
}

impl DomainEvent {
    /// The kind stored in the `events` table (the serde tag).
    pub fn kind(&self) -> &'static str {
        match self {
            DomainEvent::UserRegistered { .. } => "user.registered",
            DomainEvent::UserUpdated { .. } => "user.updated",
            DomainEvent::UserSeen { .. } => "user.seen",
            DomainEvent::TokensRevoked { .. } => "user.tokens_revoked",
            DomainEvent::AccessChanged { .. } => "access.changed",
            DomainEvent::CompanyChanged { .. } => "company.changed",
            DomainEvent::BillingChanged { .. } => "company.billing_changed",
            DomainEvent::CompanyExtensionsChanged { .. } => "company.extensions_changed",
            DomainEvent::PersonalTokenCreated { .. } => "token.created",
            DomainEvent::InvitationChanged { .. } => "invitation.changed",
            DomainEvent::PersonalTokenRevoked { .. } => "token.revoked",
            DomainEvent::AgentChanged { .. } => "agent.changed",
            DomainEvent::ConversationChanged { .. } => "conversation.changed",
            DomainEvent::MessagesChanged { .. } => "conversation.messages_changed",
            DomainEvent::PromptChanged { .. } => "prompt.changed",
            DomainEvent::ChainChanged { .. } => "chain.changed",
        }
    }

    /// The id of the aggregate the event is about (the `events.subject` column).
    pub fn subject(&self) -> String {
        match self {
            DomainEvent::UserRegistered { user }
            | DomainEvent::UserUpdated { user }
            | DomainEvent::UserSeen { user }
            | DomainEvent::TokensRevoked { user, .. }
            | DomainEvent::AccessChanged { user, .. }
            | DomainEvent::PersonalTokenCreated { user, .. }
            | DomainEvent::PersonalTokenRevoked { user, .. } => user.to_string(),
            DomainEvent::InvitationChanged { invitation, .. } => invitation.clone(),
            DomainEvent::BillingChanged { company }
            | DomainEvent::CompanyChanged { company, .. }
            | DomainEvent::CompanyExtensionsChanged { company } => company.to_string(),
            DomainEvent::AgentChanged { agent, .. } => agent.to_string(),
            DomainEvent::ConversationChanged { conversation, .. }
            | DomainEvent::MessagesChanged { conversation, .. } => conversation.to_string(),
            DomainEvent::PromptChanged { prompt, .. } => prompt.clone(),
            DomainEvent::ChainChanged { chain, .. } => chain.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_kind_is_the_serde_tag_and_events_round_trip() {
        let user = UserId::new();
        let events = [
            DomainEvent::UserRegistered { user },
            DomainEvent::UserUpdated { user },
            DomainEvent::UserSeen { user },
            DomainEvent::TokensRevoked { user, at: 1.5 },
            DomainEvent::AccessChanged {
                user,
                company: Some(CompanyId::new()),
            },
            DomainEvent::BillingChanged {
                company: CompanyId::new(),
            },
            DomainEvent::CompanyExtensionsChanged {
                company: CompanyId::new(),
            },
            DomainEvent::CompanyChanged {
                company: CompanyId::new(),
                change: CompanyChange::Deleted,
                members: vec![user],
                parent: Some(CompanyId::new()),
            },
            DomainEvent::PersonalTokenRevoked {
                user,
                token_hash: "ab".repeat(32),
            },
            DomainEvent::PersonalTokenCreated {
                user,
                token: "t".into(),
                token_hash: "cd".repeat(32),
            },
            DomainEvent::InvitationChanged {
                company: CompanyId::new(),
                invitation: "i".into(),
                change: InvitationChange::Sent,
            },
            DomainEvent::AgentChanged {
                agent: AgentId::new(),
                change: AgentChange::Renamed,
                owner: Some(user),
                sharing: vec![CompanyId::new()],
            },
            DomainEvent::ConversationChanged {
                conversation: ConversationId::new(),
                user,
                change: ConversationChange::Created,
            },
            DomainEvent::MessagesChanged {
                conversation: ConversationId::new(),
                user,
                change: MessagesChange::Added,
            },
            DomainEvent::PromptChanged {
                user,
                prompt: "p".into(),
            },
            DomainEvent::ChainChanged {
                user,
                chain: "c".into(),
            },
        ];
        for event in events {
            let json = serde_json::to_value(&event).expect("serialises");
            assert_eq!(json["kind"], event.kind(), "{json}");
            let back: DomainEvent = serde_json::from_value(json).expect("deserialises");
            assert_eq!(back, event);
        }
    }

    #[test]
    fn a_billing_change_written_with_its_old_users_list_still_reads() {
        let company = CompanyId::new();
        let old = serde_json::json!({
            "kind": "company.billing_changed",
            "company": company,
            "users": [UserId::new()],
        });
        let event: DomainEvent = serde_json::from_value(old).expect("deserialises");
        assert_eq!(event, DomainEvent::BillingChanged { company });
    }
}
