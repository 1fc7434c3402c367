//! Running an agent's command (reference agents-memory.md section 3.3), and the files commands
//! leave in the workspace (`/outputs/...`, section 0).
//!
//! A run is written to its conversation: an `[ACTIVITY]` message with the arguments (secrets
//! left out), then the output as the agent's message. Unknown command: 404; not enabled for
//! the agent: 403; arguments of the wrong type: 422; a path outside the workspace: 400; a
//! command that runs and fails: 200 with its error text, as the reference answers.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use agentry_domain::agent;
use agentry_extensions::{CommandContext, CommandError, CommandSpec, Extension, Workspace};
use agentry_store::Uow;
use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::Sha256;

use crate::agents::AgentView;
use crate::company_extensions::CompanyExtensions;
use crate::session::Caller;
use crate::{App, AppError};

/// How long a file link's token lets a browser fetch the file without a header.
const LINK_TTL_SECS: u64 = 7 * 24 * 3600;

pub use agentry_api::agents::ExecuteBody;

/// Running an agent's commands, and the files they leave. A view of the application's
/// [`Context`](crate::Context), taken with [`App::commands`](crate::App::commands).
#[derive(Clone, Copy)]
pub struct Commands<'a> {
    pub(crate) app: &'a App,
}

/// Where a command runs: the agent (with its company's layer), the conversation whose
/// workspace holds its files, and who runs it.
pub(crate) struct Place {
    pub view: Arc<AgentView>,
    pub layer: Arc<CompanyExtensions>,
    pub conversation: agentry_domain::ConversationId,
    pub conversation_name: String,
    pub user_email: String,
}

/// A command about to run: found, on for the agent, its arguments checked.
pub(crate) struct CommandCall {
    extension: Arc<dyn Extension>,
    spec: &'static CommandSpec,
    args: Map<String, Value>,
}

/// A command that ran: the activity line that shows the call, and its output.
pub(crate) struct CommandRun {
    pub activity: String,
    pub output: String,
}

/// A file of a conversation's workspace, ready to send.
#[derive(Debug)]
pub struct OutputFile {
    pub bytes: Vec<u8>,
    pub file_name: String,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

fn command_error(error: CommandError) -> Result<String, AppError> {
    match error {
        CommandError::Failed(text) => Ok(text),
        CommandError::BadPath(message) => Err(AppError::BadRequest(message)),
        CommandError::BadArgument(field, message) => Err(AppError::Invalid { field, message }),
    }
}

impl Commands<'_> {
    /// The token of a link to a conversation's files: `<expiry>.<hex HMAC>` over the agent,
    /// the conversation and the expiry, with the server's key.
    fn link_token(&self, agent: &str, conversation: &str, expires: u64) -> String {
        let message = format!("outputs/{agent}/{conversation}/{expires}");
        let mac = match Hmac::<Sha256>::new_from_slice(&self.app.settings.token_secret) {
            Ok(mut mac) => {
                mac.update(message.as_bytes());
                hex::encode(mac.finalize().into_bytes())
            }
            // HMAC takes keys of any length; an empty mac never verifies.
            Err(_) => String::new(),
        };
        format!("{expires}.{mac}")
    }

    fn link_token_valid(&self, agent: &str, conversation: &str, token: &str) -> bool {
        let Some((expires, _)) = token.split_once('.') else {
            return false;
        };
        let Ok(expires) = expires.parse::<u64>() else {
            return false;
        };
        expires >= unix_now()
            && agentry_auth::constant_time_eq(
                self.link_token(agent, conversation, expires).as_bytes(),
                token.as_bytes(),
            )
    }

    /// Append a fresh link token to every URL of the conversation's files in `text`.
    fn sign_links(&self, text: &str, output_url: &str, agent: &str, conversation: &str) -> String {
        if !text.contains(output_url) {
            return text.to_owned();
        }
        let token = self.link_token(
            agent,
            conversation,
            unix_now().saturating_add(LINK_TTL_SECS),
        );
        let mut signed = String::with_capacity(text.len().saturating_add(64));
        let mut rest = text;
        while let Some(at) = rest.find(output_url) {
            let (before, from) = rest.split_at(at);
            signed.push_str(before);
            let end = from
                .find(|c: char| c.is_whitespace() || c == ')' || c == '"')
                .unwrap_or(from.len());
            let (url, after) = from.split_at(end);
            signed.push_str(url);
            signed.push_str(if url.contains('?') {
                "&token="
            } else {
                "?token="
            });
            signed.push_str(&token);
            rest = after;
        }
        signed.push_str(rest);
        signed
    }

    /// `POST /v1/agent/{id}/command`: run a command of a visible agent; its output.
    pub async fn execute_command(
        &self,
        caller: &Caller,
        agent_id: &str,
        body: ExecuteBody,
    ) -> Result<String, AppError> {
        let (caller_, id) = (caller.clone(), agent_id.to_owned());
        let (view, layer) = self
            .app
            .run(move |app, uow| {
                app.agents()
                    .visible_agent_with_company(uow, &caller_, &id, "extensions:execute")
            })
            .await?;
        let given: Map<String, Value> = match body.command_args {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(map)) => map,
            Some(_) => {
                return Err(AppError::Invalid {
                    field: "command_args".into(),
                    message: "expected a JSON object".into(),
                });
            }
        };
        // Refused before the conversation is found or made.
        let call = self.command_call(&view, &layer, &body.command_name, &given)?;
        let (caller_, agent, named) = (caller.clone(), view.id, body.conversation_name.clone());
        let conversation = self
            .app
            .run(move |app, uow| {
                app.conversations()
                    .command_conversation(uow, &caller_, agent, named.as_deref())
            })
            .await?;
        let place = Place {
            view: Arc::clone(&view),
            layer,
            conversation: conversation.id.into(),
            conversation_name: conversation.name.clone(),
            user_email: caller.email.clone(),
        };
        let run = self.run_command(&place, call).await?;
        let (logged, role, conversation_row) =
            (run.output.clone(), view.name.clone(), conversation.id);
        let caller_user = caller.user;
        self.app
            .run(move |app, uow| {
                app.conversations().log_messages(
                    uow,
                    caller_user,
                    conversation_row,
                    &[(role.clone(), run.activity), (role, logged)],
                )
            })
            .await?;
        Ok(run.output)
    }

    /// A call of the command `name` names with the `given` arguments, if it is on for the
    /// agent: unknown 404, off 403, arguments of the wrong type 422.
    pub(crate) fn command_call(
        &self,
        view: &AgentView,
        layer: &CompanyExtensions,
        name: &str,
        given: &Map<String, Value>,
    ) -> Result<CommandCall, AppError> {
        let (extension, spec) = self
            .app
            .registry
            .command(name)
            .ok_or_else(|| AppError::NotFound(format!("Command `{name}` not found")))?;
        if !crate::agents::Agents::command_enabled(view, layer, spec.name) {
            return Err(AppError::Forbidden(format!(
                "Command `{}` is not enabled for agent {}",
                spec.name, view.name
            )));
        }
        let args = agentry_extensions::args::coerce(spec, given).map_err(|error| match error {
            CommandError::BadArgument(field, message) => AppError::Invalid { field, message },
            other => AppError::BadRequest(other.to_string()),
        })?;
        Ok(CommandCall {
            extension: Arc::clone(extension),
            spec,
            args,
        })
    }

    /// Run a [`CommandCall`] in `place`'s conversation workspace: its output with the links
    /// to its files signed, and the activity line that shows the call (the arguments, never
    /// a secret). A command that runs and fails gives its error text; a path outside the
    /// workspace is 400.
    pub(crate) async fn run_command(
        &self,
        place: &Place,
        call: CommandCall,
    ) -> Result<CommandRun, AppError> {
        let CommandCall {
            extension,
            spec,
            args,
        } = call;
        let (agent_id, conversation_id) =
            (place.view.id.to_string(), place.conversation.to_string());
        let output_url = format!(
            "{}/outputs/{agent_id}/{conversation_id}/",
            self.app.settings.public_uri.trim_end_matches('/')
        );
        let context = CommandContext {
            agent_id: agent_id.clone(),
            agent_name: place.view.name.clone(),
            conversation_id: conversation_id.clone(),
            conversation_name: place.conversation_name.clone(),
            user_email: place.user_email.clone(),
            settings: self.app.agents().merged_settings(&place.view, &place.layer),
            workspace: Workspace::for_conversation(
                &self.app.settings.data_dir,
                &agent_id,
                &conversation_id,
            ),
            output_url: output_url.clone(),
            http: self.app.http.clone(),
        };
        // The activity shows the arguments, never a secret.
        let shown: Map<String, Value> = args
            .iter()
            .filter(|(name, _)| !agent::is_secret(name))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        let activity = format!(
            "[ACTIVITY] Executing command `{}` with args:\n```json\n{}\n```",
            spec.name,
            serde_json::to_string_pretty(&shown).unwrap_or_default()
        );
        let output = match extension.execute(spec.name, &args, &context).await {
            Ok(text) => text,
            Err(error) => command_error(error)?,
        };
        let output = self.sign_links(&output, &output_url, &agent_id, &conversation_id);
        Ok(CommandRun { activity, output })
    }

    /// `GET /outputs/{agent_id}/{conversation_id}/{file}`: a file a command left, to the
    /// conversation's owner while they see the agent (by header; a personal access token
    /// needs `conversations:read`), or to anyone holding the link's unexpired token.
    pub fn output_file(
        &self,
        uow: &mut Uow<'_>,
        caller: Option<&Caller>,
        agent_id: &str,
        conversation_id: &str,
        file: &str,
        token: Option<&str>,
    ) -> Result<OutputFile, AppError> {
        let hidden = || AppError::NotFound("File not found".into());
        let agent: agentry_domain::AgentId = agent_id.parse().map_err(|_| hidden())?;
        let conversation: agentry_domain::ConversationId =
            conversation_id.parse().map_err(|_| hidden())?;
        let allowed = match (caller, token) {
            (_, Some(token))
                if self.link_token_valid(&agent.to_string(), &conversation.to_string(), token) =>
            {
                true
            }
            (Some(caller), _) => {
                caller.may("conversations:read")
                    && self
                        .app
                        .agents()
                        .visible_agent(uow, caller, &agent.to_string())
                        .is_ok()
                    && self
                        .app
                        .conversations()
                        .owns_conversation(uow, caller, conversation)?
            }
            _ => false,
        };
        if !allowed {
            return Err(match caller {
                None if token.is_none() => {
                    AppError::Unauthorized("Authorization header is missing".into())
                }
                _ => hidden(),
            });
        }
        let workspace = Workspace::for_conversation(
            &self.app.settings.data_dir,
            &agent.to_string(),
            &conversation.to_string(),
        );
        let path = workspace.resolve(file).map_err(|error| match error {
            CommandError::BadPath(message) => AppError::BadRequest(message),
            _ => hidden(),
        })?;
        let meta = std::fs::symlink_metadata(&path).map_err(|_| hidden())?;
        if !meta.is_file() {
            return Err(hidden());
        }
        let bytes = std::fs::read(&path).map_err(|_| hidden())?;
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(OutputFile { bytes, file_name })
    }
}
