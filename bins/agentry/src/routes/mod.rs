//! Routes, one `configure` per resource.

pub mod health;
pub mod table;
pub mod user;
