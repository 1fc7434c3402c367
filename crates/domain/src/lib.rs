#![doc = include_str!("../README.md")]

pub mod access;
pub mod catalog;
pub mod ids;
pub mod invalidation;
pub mod role;
pub mod scope;

pub use ids::{CompanyId, MembershipId, UserId};
pub use role::{Role, RoleId};
pub use scope::{ScopeDef, ScopeSet};
