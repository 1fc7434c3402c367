//! Chat completions (reference agents-memory.md 8): `POST /v1/chat/completions`, streaming or
//! not, `POST /v1/agent/{id}/prompt` and `GET /v1/models`.
//!
//! A turn is read in one unit of work before any model runs ([`Chat::prepare`]: the agent,
//! the conversation, the billing pre-check, the rendered prompt); the model loop runs with
//! no connection held ([`run`]); the turn is written in one transaction after it (the
//! conversation if it is new, the user's message, the activities, the answer and the
//! charge). A turn whose provider fails writes nothing.

mod endpoints;
mod run;
mod tags;
mod turn;

use std::collections::BTreeMap;
use std::sync::Arc;

use agentry_domain::{AgentId, CompanyId, MessageId, UserId};
use agentry_inference::select;
use agentry_store::Uow;
use serde_json::{Map, Value};

use crate::commands::Place;
use crate::conversations::TurnTarget;
use crate::prompts::builtin;
use crate::session::Caller;
use crate::{App, AppError};

pub use agentry_api::chat::{
    ChatCompletion, ChatCompletionRequest, ModelEntry, ModelList, PromptAnswer, PromptBody,
    StreamEvent,
};
pub use run::ChatStream;

/// The most model calls one turn makes (each `<execute>` round is one).
const MAX_STEPS: usize = 5;
/// The largest answer a turn keeps (a stored message's limit); a model that writes more is
/// cut there, with `finish_reason: "length"`.
const MAX_ANSWER_BYTES: usize = 1024 * 1024;
/// The messages of history a prompt shows unless the agent or request says otherwise.
const DEFAULT_HISTORY: u32 = 6;

/// Chat completions. A view of the application's [`Context`](crate::Context), taken with
/// [`App::chat`](crate::App::chat).
#[derive(Clone, Copy)]
pub struct Chat<'a> {
    pub(crate) app: &'a App,
}

/// What a turn does.
#[derive(Debug, Clone, PartialEq)]
enum Mode {
    /// Render a prompt and run the model (with its command loop).
    Prompt,
    /// Run one command with the user's text as one of its arguments; no model.
    Command {
        name: String,
        args: Map<String, Value>,
        variable: String,
    },
}

/// One of the client's tools (OpenAI function tools).
#[derive(Debug, Clone, PartialEq)]
struct ClientTool {
    name: String,
    description: String,
    params: Vec<String>,
}

/// A turn, read before any model runs.
struct Prepared {
    place: Place,
    target: TurnTarget,
    user: UserId,
    /// What the user said, as stored.
    user_text: String,
    /// The rendered prompt (the model's first user message).
    prompt: String,
    settings: select::Settings,
    /// The company the tokens are charged in (`None`: a caller of no company).
    charge_to: Option<CompanyId>,
    mode: Mode,
    tools: Vec<ClientTool>,
    /// Whether the model may run the agent's commands.
    commands: bool,
    request: agentry_inference::ChatRequest,
    created: i64,
    /// Whether the turn's messages are written to the conversation (the prompt endpoint
    /// without a conversation writes none; its tokens are charged all the same).
    log: bool,
}

/// What a turn produced.
#[derive(Debug, Default)]
struct Outcome {
    answer: String,
    /// What the agent did (commands run, thoughts), as stored under its activity.
    activities: Vec<String>,
    tool_calls: Vec<agentry_api::chat::ToolCall>,
    /// Why the answer is incomplete (a stream that broke), if it is.
    incomplete: Option<String>,
    /// `stop`, `length` or `tool_calls`.
    finish: String,
    input_tokens: u64,
    output_tokens: u64,
    /// The next visible text starts a new paragraph (a model call after commands ran).
    separate: bool,
}

/// The agent a request's `model` names: an agent id or the name of an agent the caller
/// sees, else (no model) the caller's first agent; else 404.
fn model_of(model: Option<&str>) -> Option<String> {
    model
        .map(|m| m.trim().trim_matches('"').trim().to_owned())
        .filter(|m| !m.is_empty())
}

/// The client's tools: OpenAI's `[{type: "function", function: {name, description,
/// parameters: {properties}}}]`; anything else is 422.
fn client_tools(tools: Option<&[Value]>) -> Result<Vec<ClientTool>, AppError> {
    let invalid = |message: &str| AppError::Invalid {
        field: "tools".into(),
        message: message.into(),
    };
    tools
        .unwrap_or_default()
        .iter()
        .map(|tool| {
            let function = tool
                .get("function")
                .ok_or_else(|| invalid("each tool is {type: \"function\", function: {...}}"))?;
            let name = function
                .get("name")
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|n| !n.is_empty() && n.len() <= 128)
                .ok_or_else(|| invalid("each function has a name"))?;
            let params = function
                .pointer("/parameters/properties")
                .and_then(Value::as_object)
                .map(|p| p.keys().cloned().collect())
                .unwrap_or_default();
            Ok(ClientTool {
                name: name.to_owned(),
                description: function
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                params,
            })
        })
        .collect()
}

/// A setting's text, the request's override first, then the agent's.
fn setting(turn: &turn::Turn, view: &crate::agents::AgentView, key: &str) -> Option<String> {
    turn.text_override(key)
        .or_else(|| view.settings.get(key).cloned())
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

impl Chat<'_> {
    /// The settings providers are chosen by: the server's (trusted), under the company's,
    /// under the agent's; an empty value removes the one below (reference 1.4).
    fn provider_settings(
        &self,
        view: &crate::agents::AgentView,
        layer: &crate::company_extensions::CompanyExtensions,
    ) -> select::Settings {
        let mut merged: select::Settings = self
            .app
            .settings
            .provider_settings
            .iter()
            .map(|(name, value)| {
                let setting = select::Setting {
                    value: value.clone(),
                    layer: select::Layer::Server,
                };
                (name.clone(), setting)
            })
            .collect();
        let layers = [
            (select::Layer::Company, &layer.settings),
            (select::Layer::Agent, &view.settings),
        ];
        for (from, settings) in layers {
            for (name, value) in settings {
                if value.is_empty() {
                    merged.remove(name);
                } else {
                    let setting = select::Setting {
                        value: value.clone(),
                        layer: from,
                    };
                    merged.insert(name.clone(), setting);
                }
            }
        }
        merged
    }

    /// The commands block of a prompt: the agent's enabled commands and the client's tools.
    fn commands_block(&self, place: &Place, tools: &[ClientTool], enabled: bool) -> String {
        let mut lines = Vec::new();
        if enabled {
            for extension in self.app.registry.extensions() {
                for spec in extension.commands() {
                    if crate::agents::Agents::command_enabled(&place.view, &place.layer, spec.name)
                    {
                        let args: Vec<String> =
                            spec.args.iter().map(|a| format!("<{}>", a.name)).collect();
                        lines.push(format!(
                            "- `{}`: {} Arguments: {}",
                            spec.name,
                            spec.description,
                            args.join(", ")
                        ));
                    }
                }
            }
        }
        for tool in tools {
            let args: Vec<String> = tool.params.iter().map(|p| format!("<{p}>")).collect();
            lines.push(format!(
                "- `{}`: {} Arguments: {}",
                tool.name,
                tool.description,
                args.join(", ")
            ));
        }
        if lines.is_empty() {
            "No commands are available.".to_owned()
        } else {
            lines.join("\n")
        }
    }

    /// Read a turn: the agent (`agents:execute` in its company), the conversation, the
    /// billing pre-check (402 before any model runs), the mode and the rendered prompt.
    fn prepare(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        model: Option<&str>,
        conversation: Option<&str>,
        turn: &turn::Turn,
        tools: Vec<ClientTool>,
    ) -> Result<Prepared, AppError> {
        caller.require("agents:execute")?;
        let agents = self.app.agents();
        let wanted = match model_of(model) {
            Some(wanted) => wanted,
            None => {
                let entries = agents.visible_entries(uow, caller)?;
                entries
                    .iter()
                    .find(|entry| entry.default)
                    .or(entries.first())
                    .map(|entry| entry.id.to_string())
                    .ok_or_else(crate::agents::not_found)?
            }
        };
        let (view, layer) =
            agents.visible_agent_with_company(uow, caller, &wanted, "agents:execute")?;
        let target = self
            .app
            .conversations()
            .turn_conversation(uow, caller, conversation)?;
        let access = self.app.sessions().caller_access(uow, caller)?;
        let charge_to = view
            .company
            .filter(|company| access.is_member(*company))
            .or_else(|| access.primary().map(|c| c.company));
        // The company charged after is the one whose balance is checked before.
        self.app
            .billing()
            .require_tokens_for(uow, caller, charge_to)?;
        let mode = match setting(turn, &view, "mode").as_deref().unwrap_or("prompt") {
            "prompt" => Mode::Prompt,
            "command" => {
                // Running a command directly needs what `POST /v1/agent/{id}/command` needs.
                agents.authorize_agent(uow, caller, &view, "extensions:execute")?;
                let name = setting(turn, &view, "command_name").ok_or_else(|| {
                    AppError::BadRequest("Mode `command` needs a `command_name`".into())
                })?;
                let args = match turn.overrides.get("command_args").cloned().or_else(|| {
                    view.settings
                        .get("command_args")
                        .map(|s| Value::String(s.clone()))
                }) {
                    None | Some(Value::Null) => Map::new(),
                    Some(Value::Object(map)) => map,
                    Some(Value::String(text)) if text.trim().is_empty() => Map::new(),
                    Some(Value::String(text)) => {
                        serde_json::from_str(&text).map_err(|_| AppError::Invalid {
                            field: "command_args".into(),
                            message: "expected a JSON object".into(),
                        })?
                    }
                    Some(_) => {
                        return Err(AppError::Invalid {
                            field: "command_args".into(),
                            message: "expected a JSON object".into(),
                        });
                    }
                };
                let variable =
                    setting(turn, &view, "command_variable").unwrap_or_else(|| "text".into());
                Mode::Command {
                    name,
                    args,
                    variable,
                }
            }
            "chain" => {
                return Err(AppError::BadRequest(
                    "Mode `chain` is not built yet: run the chain with `POST /v1/chain/{id}/run`"
                        .into(),
                ));
            }
            other => {
                return Err(AppError::Invalid {
                    field: "mode".into(),
                    message: format!("`{other}` is not one of prompt, command"),
                });
            }
        };
        let prompt_name =
            setting(turn, &view, "prompt_name").unwrap_or_else(|| builtin::DEFAULT_PROMPT.into());
        let prompt_category =
            setting(turn, &view, "prompt_category").unwrap_or_else(|| builtin::CATEGORY.into());
        let template = self
            .app
            .prompts()
            .resolve(uow, caller.user, &prompt_category, &prompt_name)?
            .ok_or_else(|| AppError::NotFound(format!("Prompt `{prompt_name}` not found")))?;
        let history_limit = turn
            .number_override(&["conversation_results"])
            .or_else(|| {
                view.settings
                    .get("conversation_results")
                    .and_then(|v| v.trim().parse().ok())
            })
            .unwrap_or(DEFAULT_HISTORY)
            .min(100);
        let history = if target.exists {
            self.app
                .conversations()
                .recent_messages(uow, target.id, history_limit)?
        } else {
            Vec::new()
        };
        let place = Place {
            view: Arc::clone(&view),
            layer: Arc::clone(&layer),
            conversation: target.id,
            conversation_name: target.name.clone(),
            user_email: caller.email.clone(),
        };
        let commands = !turn.flag_override("disable_commands").unwrap_or(false);
        let mut values: BTreeMap<String, String> = BTreeMap::new();
        if let Some(Value::Object(args)) = turn.overrides.get("prompt_args") {
            for (key, value) in args {
                let text = match value {
                    Value::String(text) => text.clone(),
                    Value::Null => String::new(),
                    other => other.to_string(),
                };
                values.insert(key.clone(), text);
            }
        }
        for key in turn.overrides.keys() {
            if let Some(text) = turn.text_override(key) {
                values.entry(key.clone()).or_insert(text);
            }
        }
        let persona = view
            .settings
            .get("persona")
            .or_else(|| view.settings.get("PERSONA"))
            .cloned()
            .unwrap_or_default();
        let history_text: Vec<String> = history
            .iter()
            .map(|(role, text)| format!("{role}: {text}"))
            .collect();
        let built_in = [
            ("user_input", turn.text.clone()),
            ("agent_name", view.name.clone()),
            ("PERSONA", persona.clone()),
            ("persona", persona),
            (
                "date",
                chrono::Utc::now()
                    .format("%A, %B %-d, %Y, %H:%M UTC")
                    .to_string(),
            ),
            ("context", String::new()),
            ("conversation_history", history_text.join("\n")),
            ("COMMANDS", self.commands_block(&place, &tools, commands)),
        ];
        for (key, value) in built_in {
            values.insert(key.to_owned(), value);
        }
        let prompt = builtin::render(&template, &values);
        let settings = self.provider_settings(&view, &layer);
        Ok(Prepared {
            place,
            target,
            user: caller.user,
            user_text: turn.text.clone(),
            prompt,
            settings,
            charge_to,
            mode,
            tools,
            commands,
            request: agentry_inference::ChatRequest::default(),
            created: chrono::Utc::now().timestamp(),
            log: true,
        })
    }

    /// Write a turn: the conversation if new, the user's message, the activity with what the
    /// agent did under it, the answer (marked when incomplete), and the charge. One
    /// transaction.
    fn record(
        &self,
        uow: &mut Uow<'_>,
        prepared: &Prepared,
        outcome: &Outcome,
    ) -> Result<(), AppError> {
        let agent_name = prepared.place.view.name.clone();
        let mut messages: Vec<(MessageId, String, String)> =
            vec![(MessageId::new(), "USER".into(), prepared.user_text.clone())];
        if !outcome.activities.is_empty() {
            let activity = MessageId::new();
            messages.push((
                activity,
                agent_name.clone(),
                "[ACTIVITY] Completed activities.".into(),
            ));
            for text in &outcome.activities {
                messages.push((
                    MessageId::new(),
                    agent_name.clone(),
                    format!("[SUBACTIVITY][{activity}] {text}"),
                ));
            }
        }
        // With tool calls, the text the model wrote before them (streamed already) is kept.
        if outcome.tool_calls.is_empty() || !outcome.answer.trim().is_empty() {
            let mut answer = outcome.answer.trim().to_owned();
            if let Some(reason) = &outcome.incomplete {
                answer.push_str(&format!("\n\n[Incomplete answer: {reason}]"));
            }
            messages.push((MessageId::new(), agent_name, answer));
        }
        let agent: AgentId = prepared.place.view.id;
        let tokens = (
            i64::try_from(outcome.input_tokens).unwrap_or(i64::MAX),
            i64::try_from(outcome.output_tokens).unwrap_or(i64::MAX),
        );
        // One write: the messages and the charge commit together, their events with them.
        self.app.write(uow, |work| {
            if prepared.log {
                self.app.conversations().record_turn_in(
                    work,
                    prepared.user,
                    &prepared.target,
                    agent,
                    &messages,
                )?;
            }
            if let Some(company) = prepared.charge_to
                && (tokens.0 > 0 || tokens.1 > 0)
            {
                self.app.billing().settle_tokens_in(
                    work,
                    prepared.user,
                    company,
                    tokens.0,
                    tokens.1,
                )?;
            }
            Ok(())
        })
    }

    /// `GET /v1/models`: the agents the caller can use, as OpenAI lists models (`id` is the
    /// agent's name, or its id when two of them share the name).
    pub fn models(&self, uow: &mut Uow<'_>, caller: &Caller) -> Result<ModelList, AppError> {
        caller.require("agents:read")?;
        let entries = self.app.agents().visible_entries(uow, caller)?;
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for entry in &entries {
            let count = seen.entry(entry.name.as_str()).or_default();
            *count = count.saturating_add(1);
        }
        let data = entries
            .iter()
            .map(|entry| ModelEntry {
                id: if seen.get(entry.name.as_str()).copied().unwrap_or_default() > 1 {
                    entry.id.to_string()
                } else {
                    entry.name.clone()
                },
                object: "model".into(),
                created: 0,
                owned_by: "agentry".into(),
            })
            .collect();
        Ok(ModelList {
            object: "list".into(),
            data,
        })
    }
}
