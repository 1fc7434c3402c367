#![doc = include_str!("../README.md")]

pub mod args;
pub mod essential;
pub mod http;
pub mod providers;
pub mod registry;
pub mod workspace;

pub use essential::EssentialAbilities;
pub use http::{HttpError, HttpResponse, SafeClient};
pub use registry::{
    ArgKind, ArgSpec, CommandContext, CommandError, CommandSpec, Extension, Registry, SettingSpec,
};
pub use workspace::Workspace;
