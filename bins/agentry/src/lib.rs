//! The Agentry server: configuration, CLI, routes, error mapping, startup and shutdown.
//! Handlers extract, call one `agentry-app` function and map its result: no SQL and no
//! business rule lives here.

pub mod bus;
pub mod config;
pub mod error;
pub mod extract;
pub mod guard;
pub mod limits;
pub mod reply;
pub mod request_id;
pub mod routes;
pub mod startup;
pub mod telemetry;

pub use config::{Cli, Command, Config, Settings};
pub use startup::{Application, StartupError, StartupReport};
