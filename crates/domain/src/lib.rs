#![doc = include_str!("../README.md")]

pub mod access;
pub mod agent;
pub mod catalog;
pub mod events;
pub mod ids;
pub mod invalidation;
pub mod role;
pub mod scope;

pub use ids::{AgentId, CompanyId, ConversationId, MembershipId, MessageId, UserId};
pub use role::{Role, RoleId};
pub use scope::{ScopeDef, ScopeSet};
