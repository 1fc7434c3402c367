//! The routes' use cases: a completion collected or streamed, and the prompt endpoint,
//! each a turn prepared, run ([`super::run`]) and recorded.

use agentry_api::chat::{
    AssistantMessage, ChatChunk, CompletionChoice, Delta, TokenUsage, ToolCallDelta,
};
use agentry_inference::{ChatMessage, ChunkStream};
use tokio::sync::mpsc;

use super::run::{ChatStream, Header, STREAM_BUFFER, Sink, message_tokens};
use super::*;

impl Chat<'_> {
    /// Read a request's turn (400 for empty messages before any I/O), then prepare it.
    async fn prepare_request(
        &self,
        caller: &Caller,
        body: &ChatCompletionRequest,
        log: bool,
    ) -> Result<Prepared, AppError> {
        let turn = turn::read(body.messages.as_deref())?;
        let tools = client_tools(body.tools.as_deref())?;
        let (caller_, model, user) = (caller.clone(), body.model.clone(), body.user.clone());
        let mut prepared = self
            .app
            .run(move |app, uow| {
                app.chat().prepare(
                    uow,
                    &caller_,
                    model.as_deref(),
                    user.as_deref(),
                    &turn,
                    tools,
                )
            })
            .await?;
        prepared.request.temperature = body.temperature;
        prepared.request.top_p = body.top_p;
        prepared.request.max_tokens = body.max_tokens;
        prepared.log = log;
        Ok(prepared)
    }

    /// Record a turn (on the blocking pool); the prepared turn and outcome come back.
    async fn record_async(
        &self,
        prepared: Prepared,
        outcome: Outcome,
    ) -> Result<(Prepared, Outcome), AppError> {
        self.app
            .run(move |app, uow| {
                app.chat().record(uow, &prepared, &outcome)?;
                Ok((prepared, outcome))
            })
            .await
    }

    /// `POST /v1/chat/completions` without `stream`.
    pub async fn complete(
        &self,
        caller: &Caller,
        body: ChatCompletionRequest,
    ) -> Result<ChatCompletion, AppError> {
        self.complete_logged(caller, body, true).await
    }

    /// [`Chat::complete`], writing the turn to its conversation only when `log`.
    pub(crate) async fn complete_logged(
        &self,
        caller: &Caller,
        body: ChatCompletionRequest,
        log: bool,
    ) -> Result<ChatCompletion, AppError> {
        let prepared = self.prepare_request(caller, &body, log).await?;
        let outcome = match prepared.mode {
            Mode::Prompt => self.converse(&prepared, &Sink::Collect, None).await?,
            Mode::Command { .. } => self.command_mode(&prepared).await?,
        };
        let (prepared, outcome) = self.record_async(prepared, outcome).await?;
        let tool_calls = Some(outcome.tool_calls.clone()).filter(|c| !c.is_empty());
        Ok(ChatCompletion {
            id: prepared.target.id.to_string(),
            object: "chat.completion".into(),
            created: prepared.created,
            model: prepared.place.view.name.clone(),
            choices: vec![CompletionChoice {
                index: 0,
                message: AssistantMessage {
                    role: "assistant".into(),
                    content: tool_calls
                        .is_none()
                        .then(|| outcome.answer.trim().to_owned()),
                    tool_calls,
                },
                finish_reason: outcome.finish.clone(),
                logprobs: None,
            }],
            usage: TokenUsage::new(outcome.input_tokens, outcome.output_tokens),
        })
    }

    /// `POST /v1/chat/completions` with `stream`: refusals and a provider that cannot start
    /// are errors before any byte (404, 402, 502...); then the events, from a task that ends
    /// the provider's call when the client goes away. `activities`: send `activity.stream`
    /// objects too.
    pub async fn stream(
        &self,
        caller: &Caller,
        body: ChatCompletionRequest,
        activities: bool,
    ) -> Result<ChatStream, AppError> {
        let include_usage = body.stream_options.is_some_and(|o| o.include_usage);
        let prepared = self.prepare_request(caller, &body, true).await?;
        let start = match prepared.mode {
            Mode::Prompt => {
                let messages = [ChatMessage::user(prepared.prompt.clone())];
                let input = message_tokens(&messages).await;
                Err((self.open_stream(&prepared, &messages, input).await?, input))
            }
            Mode::Command { .. } => Ok(self.command_mode(&prepared).await?),
        };
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        let app = self.app.clone();
        tokio::spawn(async move {
            app.chat()
                .drive(prepared, start, tx, activities, include_usage)
                .await;
        });
        Ok(ChatStream { events: rx })
    }

    /// A stream's task: the role delta, the answer as it comes, the turn recorded, the
    /// final chunk (and the usage when asked).
    async fn drive(
        &self,
        prepared: Prepared,
        start: Result<Outcome, (ChunkStream, u64)>,
        tx: mpsc::Sender<StreamEvent>,
        activities: bool,
        include_usage: bool,
    ) {
        let header = Header {
            id: prepared.target.id.to_string(),
            created: prepared.created,
            model: prepared.place.view.name.clone(),
        };
        let role = Delta {
            role: Some("assistant".into()),
            content: Some(String::new()),
            ..Delta::default()
        };
        // A client already gone leaves nothing to record: the model has not answered.
        if tx.send(header.chunk(role, None)).await.is_err() {
            return;
        }
        let sink = Sink::Stream {
            tx: &tx,
            header: &header,
            activities,
        };
        let outcome = match start {
            Ok(outcome) => {
                let _ = sink.content(&outcome.answer).await;
                Ok(outcome)
            }
            Err(stream) => self.converse(&prepared, &sink, Some(stream)).await,
        };
        let mut outcome = match outcome {
            Ok(outcome) => outcome,
            Err(error) => Outcome {
                incomplete: Some(error.to_string()),
                finish: "stop".into(),
                ..Outcome::default()
            },
        };
        if let Some(reason) = &outcome.incomplete {
            tracing::warn!(reason, "a streamed answer is incomplete");
            let _ = sink.content(&format!("\n\nError: {reason}")).await;
        }
        let tool_calls = std::mem::take(&mut outcome.tool_calls);
        let (input, output, finish) = (
            outcome.input_tokens,
            outcome.output_tokens,
            outcome.finish.clone(),
        );
        outcome.tool_calls.clone_from(&tool_calls);
        if let Err(error) = self.record_async(prepared, outcome).await {
            tracing::error!(%error, "a streamed turn could not be recorded");
            let _ = sink
                .content("\n\nError: the answer could not be saved to the conversation.")
                .await;
        }
        if !tool_calls.is_empty() {
            let calls = tool_calls
                .into_iter()
                .zip(0u32..)
                .map(|(call, index)| ToolCallDelta {
                    index,
                    id: call.id,
                    kind: call.kind,
                    function: call.function,
                })
                .collect();
            let delta = Delta {
                tool_calls: Some(calls),
                ..Delta::default()
            };
            let _ = tx.send(header.chunk(delta, None)).await;
        }
        let _ = tx.send(header.chunk(Delta::default(), Some(&finish))).await;
        if include_usage {
            let _ = tx
                .send(StreamEvent::Chunk(ChatChunk {
                    id: header.id.clone(),
                    object: "chat.completion.chunk".into(),
                    created: header.created,
                    model: header.model.clone(),
                    choices: Vec::new(),
                    usage: Some(TokenUsage::new(input, output)),
                }))
                .await;
        }
    }

    /// `POST /v1/agent/{id}/prompt` (reference 8.4): the chat pipeline with one user message
    /// whose keys are the prompt's arguments; `prompt_args.conversation_name` (a name, an
    /// id, or `{id}`/`{name}`) names the conversation, and without it nothing is written to
    /// any conversation (the tokens are still charged).
    pub async fn prompt(
        &self,
        caller: &Caller,
        agent: &str,
        body: PromptBody,
    ) -> Result<PromptAnswer, AppError> {
        let mut message = body.prompt_args;
        let user_input = match message.remove("user_input") {
            Some(Value::String(text)) => text,
            None | Some(Value::Null) => String::new(),
            Some(other) => other.to_string(),
        };
        let conversation = match message.remove("conversation_name") {
            Some(Value::String(name)) => Some(name),
            Some(Value::Object(named)) => named
                .get("id")
                .or_else(|| named.get("name"))
                .and_then(Value::as_str)
                .map(str::to_owned),
            _ => None,
        };
        if let Some(results) = message.remove("context_results") {
            message.entry("injected_memories").or_insert(results);
        }
        message.insert("role".into(), Value::String("user".into()));
        message.insert("content".into(), Value::String(user_input));
        message.insert("prompt_name".into(), Value::String(body.prompt_name));
        let log = conversation.is_some();
        if !log {
            // No conversation: none is read or written, and no command runs (it would leave
            // files in a workspace no conversation shows).
            message.insert("disable_commands".into(), Value::Bool(true));
        }
        let request = ChatCompletionRequest {
            model: Some(agent.to_owned()),
            messages: Some(vec![Value::Object(message)]),
            // A fresh id names a conversation that does not exist (no history); it is never
            // made, since nothing is logged.
            user: Some(conversation.unwrap_or_else(|| uuid::Uuid::new_v4().to_string())),
            ..ChatCompletionRequest::default()
        };
        let completion = self.complete_logged(caller, request, log).await?;
        let response = completion
            .choices
            .into_iter()
            .next()
            .and_then(|choice| choice.message.content)
            .unwrap_or_default();
        Ok(PromptAnswer { response })
    }
}
