//! The built-in "Essential Abilities" extension (reference agents-memory.md 4.4, 4.5): file
//! commands on the conversation's workspace, the current date and time, and a custom API call.
//!
//! Everything runs offline except "Custom API Endpoint", which goes through the context's
//! `SafeClient`. Every path goes through `Workspace::resolve`, so nothing is ever read or
//! written outside the workspace.

mod files;

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::args::{coerce, optional_dict, optional_str, required_str};
use crate::http::{HttpError, header_map, parse_method};
use crate::registry::{
    ArgKind, ArgSpec, CORE_ABILITIES, CommandContext, CommandError, CommandSpec, Extension,
};

/// The "Essential Abilities" extension.
#[derive(Debug, Clone, Copy, Default)]
pub struct EssentialAbilities;

const fn arg(name: &'static str, kind: ArgKind, default: &'static str) -> ArgSpec {
    ArgSpec {
        name,
        kind,
        default,
    }
}

const fn text(name: &'static str) -> ArgSpec {
    arg(name, ArgKind::Str, "")
}

static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "Write to File",
        function: "write_to_file",
        description: "Create or overwrite a text file in the conversation's workspace and return the link where the user can open it.",
        args: &[text("filename"), text("text")],
    },
    CommandSpec {
        name: "Read File",
        function: "read_file",
        description: "Read a text file from the workspace, at most 500 lines per call, starting at line_start (1-based) and ending at line_end (inclusive, optional).",
        args: &[
            text("filename"),
            arg("line_start", ArgKind::Int, "1"),
            arg("line_end", ArgKind::Int, ""),
        ],
    },
    CommandSpec {
        name: "Modify File",
        function: "modify_file",
        description: "Replace every occurrence of old_text with new_text in a workspace file.",
        args: &[text("filename"), text("old_text"), text("new_text")],
    },
    CommandSpec {
        name: "Delete File",
        function: "delete_file",
        description: "Delete a file (not a directory) from the workspace.",
        args: &[text("filename")],
    },
    CommandSpec {
        name: "List Directory",
        function: "list_directory",
        description: "List a workspace directory (empty path for the workspace itself); directories end with '/'.",
        args: &[text("path")],
    },
    CommandSpec {
        name: "Search Files",
        function: "search_files",
        description: "Find workspace files by path: a glob pattern if the query contains * ? or [, otherwise a case-insensitive substring.",
        args: &[text("query")],
    },
    CommandSpec {
        name: "Search File Content",
        function: "search_file_content",
        description: "Case-insensitive text search inside one workspace file, or in all of them when filename is empty; answers path:line: text.",
        args: &[text("query"), text("filename")],
    },
    CommandSpec {
        name: "Insert in File",
        function: "insert_in_file",
        description: "Insert content into a workspace file so that it starts at line_number (1-based); a line number past the end appends.",
        args: &[
            text("file_path"),
            arg("line_number", ArgKind::Int, ""),
            text("content"),
        ],
    },
    CommandSpec {
        name: "Get Datetime",
        function: "get_datetime",
        description: "Get the current date and time in UTC.",
        args: &[],
    },
    CommandSpec {
        name: "Custom API Endpoint",
        function: "custom_api_endpoint",
        description: "Call an HTTP(S) API on a public address and return its status and body (at most 1 MiB).",
        args: &[
            arg("method", ArgKind::Str, "GET"),
            text("url"),
            arg("headers", ArgKind::Dict, "{}"),
            text("body"),
        ],
    },
];

#[async_trait::async_trait]
impl Extension for EssentialAbilities {
    fn name(&self) -> &'static str {
        "essential_abilities"
    }

    fn display_name(&self) -> &'static str {
        "Essential Abilities"
    }

    fn description(&self) -> &'static str {
        "The agent's everyday tools: files in the conversation's workspace, the current date and time, and calls to web APIs."
    }

    fn category(&self) -> &'static str {
        CORE_ABILITIES
    }

    fn commands(&self) -> &'static [CommandSpec] {
        COMMANDS
    }

    async fn execute(
        &self,
        command: &str,
        args: &Map<String, Value>,
        ctx: &CommandContext,
    ) -> Result<String, CommandError> {
        let spec = COMMANDS
            .iter()
            .find(|spec| spec.name == command || spec.function == command)
            .ok_or_else(|| CommandError::Failed(format!("Command '{command}' not found")))?;
        // Coercion is idempotent, so a caller that already coerced loses nothing.
        let args = coerce(spec, args)?;
        match spec.function {
            "get_datetime" => Ok(now()),
            "custom_api_endpoint" => custom_api_endpoint(&args, ctx).await,
            function => run_file_command(function, args, ctx).await,
        }
    }
}

/// File commands touch the disk synchronously, so they run on tokio's blocking pool.
async fn run_file_command(
    function: &'static str,
    args: Map<String, Value>,
    ctx: &CommandContext,
) -> Result<String, CommandError> {
    let workspace = ctx.workspace.clone();
    let output_url = ctx.output_url.clone();
    tokio::task::spawn_blocking(move || files::run(function, &args, &workspace, &output_url))
        .await
        .map_err(|_| CommandError::Failed(format!("Error executing command `{function}`.")))?
}

fn now() -> String {
    let now = chrono::Utc::now().format("%Y-%m-%d %H:%M:%S UTC");
    format!("Current date and time: {now}")
}

async fn custom_api_endpoint(
    args: &Map<String, Value>,
    ctx: &CommandContext,
) -> Result<String, CommandError> {
    let method = optional_str(args, "method")?.unwrap_or("GET");
    let url = required_str(args, "url")?;
    let headers = header_strings(optional_dict(args, "headers")?)?;
    let body = optional_str(args, "body")?
        .filter(|body| !body.is_empty())
        .map(str::to_owned);
    // Checked here too, so a bad method or header is blamed on its own argument.
    parse_method(method)
        .map_err(|error| CommandError::bad_argument("method", error.to_string()))?;
    header_map(&headers)
        .map_err(|error| CommandError::bad_argument("headers", error.to_string()))?;
    match ctx.http.request(method, url, &headers, body).await {
        Ok(response) => Ok(format!("Status: {}\n\n{}", response.status, response.body)),
        Err(HttpError::Forbidden(reason) | HttpError::BadRequest(reason)) => {
            Err(CommandError::bad_argument("url", reason))
        }
        Err(HttpError::Failed(reason)) => Err(CommandError::Failed(format!(
            "Error calling API endpoint: {reason}"
        ))),
    }
}

/// Header values as strings: numbers and booleans are written out, `null` drops the header.
fn header_strings(
    headers: Option<&Map<String, Value>>,
) -> Result<BTreeMap<String, String>, CommandError> {
    let mut strings = BTreeMap::new();
    for (name, value) in headers.into_iter().flatten() {
        let value = match value {
            Value::Null => continue,
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Array(_) | Value::Object(_) => {
                return Err(CommandError::bad_argument(
                    "headers",
                    format!("the value of {name} must be a string"),
                ));
            }
        };
        strings.insert(name.clone(), value);
    }
    Ok(strings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_coerces() {
        for spec in COMMANDS {
            let coerced = coerce(spec, &Map::new()).unwrap();
            assert_eq!(coerced.len(), spec.args.len(), "{}", spec.name);
        }
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<&str> = COMMANDS.iter().map(|spec| spec.name).collect();
        let mut functions: Vec<&str> = COMMANDS.iter().map(|spec| spec.function).collect();
        names.sort_unstable();
        names.dedup();
        functions.sort_unstable();
        functions.dedup();
        assert_eq!(names.len(), COMMANDS.len());
        assert_eq!(functions.len(), COMMANDS.len());
    }
}
