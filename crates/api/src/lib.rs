#![doc = include_str!("../README.md")]

pub mod accounts;
pub mod agents;
pub mod billing;
pub mod catalog;
pub mod companies;
pub mod conversations;
pub mod payments;
pub mod tokens;
