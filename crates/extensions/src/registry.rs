//! The extension registry: what an extension declares (static specs), what a command runs
//! with, and the table of every extension, built once at startup.
//!
//! AGiXT discovers extensions by AST-parsing Python files and caching the result (reference
//! agents-memory.md 4.1). Agentry's extensions are compiled in, so discovery is a table and
//! the specs are `&'static` data that listings can hand out without copying.

use std::collections::BTreeMap;
use std::sync::Arc;

use agentry_domain::catalog::CatalogScope;

use crate::http::SafeClient;
use crate::workspace::Workspace;

/// How an argument's string is coerced (reference 3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgKind {
    Str,
    Int,
    Float,
    Bool,
    List,
    Dict,
}

/// One argument of a command.
#[derive(Debug, Clone, Copy)]
pub struct ArgSpec {
    pub name: &'static str,
    pub kind: ArgKind,
    /// The default as a string, `""` when there is none. Listings show it as is (Agentry
    /// lists defaults where the reference lists annotation strings; see docs/compat.md).
    pub default: &'static str,
}

/// One command of an extension.
#[derive(Debug, Clone, Copy)]
pub struct CommandSpec {
    /// The friendly name, e.g. "Write to File": what clients enable and execute.
    pub name: &'static str,
    /// The function name, e.g. "write_to_file": accepted wherever a friendly name is.
    pub function: &'static str,
    pub description: &'static str,
    pub args: &'static [ArgSpec],
}

/// One setting an extension reads from the agent's settings.
#[derive(Debug, Clone, Copy)]
pub struct SettingSpec {
    pub name: &'static str,
    pub default: &'static str,
    pub sensitive: bool,
}

/// What a command runs with. The app layer builds it; extensions never look anything up.
pub struct CommandContext {
    pub agent_id: String,
    pub agent_name: String,
    pub conversation_id: String,
    pub conversation_name: String,
    pub user_email: String,
    /// The agent's merged settings (plain strings; secrets already decrypted).
    pub settings: BTreeMap<String, String>,
    /// The conversation's workspace directory (see `workspace`).
    pub workspace: Workspace,
    /// `{public base}/outputs/{agent_id}/{conversation_id}/`: files the user may open. The app
    /// appends a signed `?token=` to such URLs itself, so commands just join this and a
    /// workspace-relative path.
    pub output_url: String,
    pub http: SafeClient,
}

/// Why a command did not produce its output.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// 400 at the edge: a path outside the workspace, a symlink, an over-long name...
    #[error("{0}")]
    BadPath(String),
    /// 422: an argument of the wrong type or a missing required one: (argument name, message).
    #[error("{0}: {1}")]
    BadArgument(String, String),
    /// The command ran and failed: answered 200 with this text (as the reference does), e.g.
    /// "Error writing file: ...".
    #[error("{0}")]
    Failed(String),
}

impl CommandError {
    /// A `BadArgument` for `name`.
    pub fn bad_argument(name: &str, message: impl Into<String>) -> CommandError {
        CommandError::BadArgument(name.to_owned(), message.into())
    }
}

/// One extension: its static description and the code that runs its commands.
#[async_trait::async_trait]
pub trait Extension: Send + Sync {
    /// File-style name, e.g. "essential_abilities".
    fn name(&self) -> &'static str;
    /// Display name, e.g. "Essential Abilities" (reference 4.1 rule: `_` -> space, title case).
    fn display_name(&self) -> &'static str;
    fn friendly_name(&self) -> Option<&'static str> {
        None
    }
    fn description(&self) -> &'static str;
    /// e.g. "Core Abilities".
    fn category(&self) -> &'static str;
    fn settings(&self) -> &'static [SettingSpec] {
        &[]
    }
    fn commands(&self) -> &'static [CommandSpec];
    /// Run `command` (a friendly name of this extension) with coerced args.
    async fn execute(
        &self,
        command: &str,
        args: &serde_json::Map<String, serde_json::Value>,
        ctx: &CommandContext,
    ) -> Result<String, CommandError>;
}

/// The category whose commands a new agent gets enabled (reference 3.4).
pub const CORE_ABILITIES: &str = "Core Abilities";

/// Every extension, built once at startup (a table, no file scanning).
pub struct Registry {
    /// Sorted by `name()`, so listings come out in the reference's order without sorting.
    extensions: Vec<Arc<dyn Extension>>,
}

impl Registry {
    /// The built-in extensions.
    pub fn builtin() -> Registry {
        Registry::from_extensions(vec![Arc::new(crate::essential::EssentialAbilities)])
    }

    /// A registry of the given extensions (tests and future configuration use this).
    pub fn from_extensions(mut extensions: Vec<Arc<dyn Extension>>) -> Registry {
        extensions.sort_by_key(|extension| extension.name());
        Registry { extensions }
    }

    /// Every extension, sorted by `name()`.
    pub fn extensions(&self) -> &[Arc<dyn Extension>] {
        &self.extensions
    }

    /// Look a command up by friendly name, else by function name: (extension, spec).
    /// Friendly names win across all extensions first, as the reference's toggle does (3.2).
    pub fn command(&self, name: &str) -> Option<(&Arc<dyn Extension>, &'static CommandSpec)> {
        self.find_command(|spec| spec.name == name)
            .or_else(|| self.find_command(|spec| spec.function == name))
    }

    fn find_command(
        &self,
        matches: impl Fn(&CommandSpec) -> bool,
    ) -> Option<(&Arc<dyn Extension>, &'static CommandSpec)> {
        self.extensions.iter().find_map(|extension| {
            extension
                .commands()
                .iter()
                .find(|spec| matches(spec))
                .map(|spec| (extension, spec))
        })
    }

    /// The extension by name, matching case-insensitively with spaces, `_` and `-` alike
    /// (reference 3.2 PATCH extension/commands). The file name, the display name and the
    /// friendly name all match.
    pub fn extension(&self, name: &str) -> Option<&Arc<dyn Extension>> {
        let wanted = normalize_extension_name(name);
        self.extensions.iter().find(|extension| {
            [
                Some(extension.name()),
                Some(extension.display_name()),
                extension.friendly_name(),
            ]
            .into_iter()
            .flatten()
            .any(|candidate| normalize_extension_name(candidate) == wanted)
        })
    }

    /// Friendly names of the commands of "Core Abilities" extensions (enabled at agent
    /// creation).
    pub fn core_commands(&self) -> Vec<&'static str> {
        self.extensions
            .iter()
            .filter(|extension| extension.category() == CORE_ABILITIES)
            .flat_map(|extension| extension.commands().iter().map(|spec| spec.name))
            .collect()
    }

    /// All friendly command names, sorted (a name two extensions share appears once, as the
    /// reference's `command` table holds it once).
    pub fn command_names(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = self
            .extensions
            .iter()
            .flat_map(|extension| extension.commands().iter().map(|spec| spec.name))
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// The per-extension scopes of the catalog (reference auth-billing.md 4.3): for each
    /// extension `ext:<name>:read`, `ext:<name>:execute` and `ext:<name>:configure`. The
    /// reference's keyword-classified feature scopes (`ext:<name>:<feature>:<action>`) are
    /// not generated.
    pub fn scopes(&self) -> Vec<CatalogScope> {
        self.extensions
            .iter()
            .flat_map(|extension| {
                let title = extension.display_name();
                [
                    (
                        "read",
                        format!("View {title} extension and its configuration"),
                    ),
                    ("execute", format!("Execute all {title} extension commands")),
                    ("configure", format!("Configure {title} extension settings")),
                ]
                .into_iter()
                .map(move |(action, description)| CatalogScope {
                    name: format!("ext:{}:{action}", extension.name()),
                    resource: "ext".into(),
                    action: format!("{}:{action}", extension.name()),
                    description,
                    category: "Extensions".into(),
                })
            })
            .collect()
    }
}

/// Lower case, with spaces and `-` read as `_`.
fn normalize_extension_name(name: &str) -> String {
    name.trim()
        .chars()
        .map(|c| match c {
            ' ' | '-' => '_',
            other => other.to_ascii_lowercase(),
        })
        .collect()
}

/// The reference's display name rule (4.1): `_` -> space, then each word capitalised.
pub fn display_name_for(file_name: &str) -> String {
    file_name
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            match chars.next() {
                Some(first) => first
                    .to_uppercase()
                    .chain(chars.flat_map(char::to_lowercase))
                    .collect(),
                None => String::new(),
            }
        })
        .collect::<Vec<String>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_follow_the_reference_rule() {
        assert_eq!(
            display_name_for("essential_abilities"),
            "Essential Abilities"
        );
        assert_eq!(display_name_for("openai"), "Openai");
        assert_eq!(display_name_for("github_sso"), "Github Sso");
        let registry = Registry::builtin();
        for extension in registry.extensions() {
            assert_eq!(extension.display_name(), display_name_for(extension.name()));
        }
    }

    #[test]
    fn extensions_are_sorted_and_found_by_any_spelling() {
        let registry = Registry::builtin();
        let names: Vec<&str> = registry.extensions().iter().map(|e| e.name()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
        for spelling in [
            "essential_abilities",
            "Essential Abilities",
            "essential-abilities",
            "ESSENTIAL ABILITIES",
        ] {
            let found = registry.extension(spelling).map(|e| e.name());
            assert_eq!(found, Some("essential_abilities"), "{spelling}");
        }
        assert!(registry.extension("essential").is_none());
    }

    #[test]
    fn commands_are_found_by_friendly_then_function_name() {
        let registry = Registry::builtin();
        let (extension, spec) = registry.command("Write to File").unwrap();
        assert_eq!(extension.name(), "essential_abilities");
        assert_eq!(spec.function, "write_to_file");
        let (_, spec) = registry.command("read_file").unwrap();
        assert_eq!(spec.name, "Read File");
        assert!(registry.command("write to file").is_none());
        assert!(registry.command("").is_none());
    }

    #[test]
    fn names_are_unique_within_the_registry() {
        let registry = Registry::builtin();
        let all: Vec<&str> = registry
            .extensions()
            .iter()
            .flat_map(|e| e.commands().iter().map(|c| c.name))
            .collect();
        assert_eq!(all.len(), registry.command_names().len());
        let names = registry.command_names();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
        assert!(names.iter().all(|name| !name.is_empty()));
    }

    #[test]
    fn core_commands_and_scopes() {
        let registry = Registry::builtin();
        let core = registry.core_commands();
        assert!(core.contains(&"Write to File"));
        assert!(core.contains(&"Get Datetime"));
        let scopes: Vec<String> = registry.scopes().into_iter().map(|s| s.name).collect();
        assert_eq!(
            scopes,
            [
                "ext:essential_abilities:read",
                "ext:essential_abilities:execute",
                "ext:essential_abilities:configure"
            ]
        );
    }
}
