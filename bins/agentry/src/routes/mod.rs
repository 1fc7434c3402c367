//! Routes, one `configure` per resource.

pub mod agents;
pub mod billing;
pub mod companies;
pub mod conversations;
pub mod health;
pub mod roles;
pub mod table;
pub mod tokens;
pub mod user;
