//! The model loop of a turn, collected or streamed: the provider chosen (up to three tried
//! before the first byte), the model's text read through [`tags::Filter`], each
//! `<execute>` run through the command executor (at most [`MAX_STEPS`] model calls), the
//! client's tools handed back as `tool_calls`.

use agentry_api::chat::{Activity, ChatChunk, ChunkChoice, Delta, FunctionCall, ToolCall};
use agentry_inference::{ChatMessage, ChatModel, Chunk, ChunkStream, ProviderError, tokens};
use futures_util::{FutureExt, StreamExt};
use tokio::sync::mpsc;

use super::tags::{self, Piece};
use super::*;

/// A streamed completion: its events in order, until the channel closes (the edge then
/// writes `[DONE]`).
pub struct ChatStream {
    pub events: mpsc::Receiver<StreamEvent>,
}

/// The most text of chunks that arrived together sent as one delta.
const COALESCE_BYTES: usize = 16 * 1024;

/// Events a stream buffers before the model waits for the client.
pub(super) const STREAM_BUFFER: usize = 64;
/// Bytes of a command's output a stored activity keeps.
const ACTIVITY_OUTPUT_BYTES: usize = 4096;

/// A provider to try: its client, or why it cannot be called.
type Attempt = Result<Box<dyn ChatModel>, ProviderError>;

/// One model call's text, as it is read.
#[derive(Default)]
struct Step {
    filter: tags::Filter,
    /// The model's text as it came.
    raw: String,
    /// Its thoughts.
    thought: String,
}

/// Where a turn's text goes as it is produced.
pub(super) enum Sink<'s> {
    /// Nowhere: the answer is returned whole.
    Collect,
    /// To the client, as chunks.
    Stream {
        tx: &'s mpsc::Sender<StreamEvent>,
        header: &'s Header,
        activities: bool,
    },
}

/// What every chunk of a stream repeats.
pub(super) struct Header {
    pub(super) id: String,
    pub(super) created: i64,
    pub(super) model: String,
}

impl Header {
    pub(super) fn chunk(&self, delta: Delta, finish: Option<&str>) -> StreamEvent {
        StreamEvent::Chunk(ChatChunk {
            id: self.id.clone(),
            object: "chat.completion.chunk".into(),
            created: self.created,
            model: self.model.clone(),
            choices: vec![ChunkChoice {
                index: 0,
                delta,
                finish_reason: finish.map(str::to_owned),
            }],
            usage: None,
        })
    }

    fn content(&self, text: &str) -> StreamEvent {
        self.chunk(
            Delta {
                content: Some(text.to_owned()),
                ..Delta::default()
            },
            None,
        )
    }
}

/// The client went away.
pub(super) struct Gone;

impl Sink<'_> {
    pub(super) async fn content(&self, text: &str) -> Result<(), Gone> {
        match self {
            Sink::Collect => Ok(()),
            Sink::Stream { tx, header, .. } => {
                tx.send(header.content(text)).await.map_err(|_| Gone)
            }
        }
    }

    async fn activity(&self, kind: &str, text: &str, complete: bool) -> Result<(), Gone> {
        match self {
            Sink::Stream {
                tx,
                activities: true,
                ..
            } => tx
                .send(StreamEvent::Activity(Activity {
                    object: "activity.stream".into(),
                    kind: kind.into(),
                    content: text.into(),
                    complete,
                }))
                .await
                .map_err(|_| Gone),
            _ => Ok(()),
        }
    }

    /// Whether the client went away (never, when collecting).
    async fn closed(&self) {
        match self {
            Sink::Collect => std::future::pending().await,
            Sink::Stream { tx, .. } => tx.closed().await,
        }
    }
}

/// Text counted on the async worker itself; more is counted on the blocking pool (the
/// encoder's regex takes tens of milliseconds over a megabyte).
const INLINE_COUNT_BYTES: usize = 16 * 1024;

/// The tokens of `texts`, off the async workers when they are long.
pub(super) async fn tokens_of(texts: &[&str]) -> u64 {
    let count = |texts: &[&str]| {
        texts
            .iter()
            .map(|text| tokens::count(text))
            .fold(0, u64::saturating_add)
    };
    let bytes = texts.iter().map(|t| t.len()).fold(0, usize::saturating_add);
    if bytes <= INLINE_COUNT_BYTES {
        return count(texts);
    }
    let owned: Vec<String> = texts.iter().map(|t| (*t).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let texts: Vec<&str> = owned.iter().map(String::as_str).collect();
        count(&texts)
    })
    .await
    .unwrap_or_default()
}

/// The tokens of a model's messages.
pub(super) async fn message_tokens(messages: &[ChatMessage]) -> u64 {
    let texts: Vec<&str> = messages.iter().map(|m| m.content.as_str()).collect();
    tokens_of(&texts).await
}

/// 502 naming the provider (its error never holds a key).
fn provider_failed(error: Option<ProviderError>) -> AppError {
    match error {
        Some(error) => AppError::BadGateway(format!("The model provider failed: {error}")),
        None => AppError::BadGateway("The model provider failed".into()),
    }
}

/// Cut `text` to at most `max` bytes, on a character boundary.
fn cut(text: &str, max: usize) -> &str {
    &text[..text.floor_char_boundary(max)]
}

impl Chat<'_> {
    /// The providers to try, each as a client (a refused base URL is an error in its turn).
    fn models_for(&self, prepared: &Prepared, input: u64) -> Result<Vec<Attempt>, AppError> {
        let choices = select::choose(&prepared.settings, input)
            .map_err(|error| AppError::ServiceUnavailable(error.to_string()))?;
        let Some(clients) = self.app.models.as_ref() else {
            return Err(AppError::ServiceUnavailable(
                "The model providers' HTTP client could not start".into(),
            ));
        };
        let timeouts = self.app.settings.model_timeouts;
        Ok(choices
            .iter()
            .map(|choice| choice.model(clients, timeouts))
            .collect())
    }

    fn request(
        &self,
        prepared: &Prepared,
        messages: &[ChatMessage],
    ) -> agentry_inference::ChatRequest {
        agentry_inference::ChatRequest {
            messages: messages.to_vec(),
            ..prepared.request.clone()
        }
    }

    /// The whole answer of the first provider that gives one.
    async fn complete_once(
        &self,
        prepared: &Prepared,
        messages: &[ChatMessage],
        input: u64,
    ) -> Result<agentry_inference::Completion, AppError> {
        let request = self.request(prepared, messages);
        let mut last = None;
        for model in self.models_for(prepared, input)? {
            let attempt = match model {
                Ok(model) => model.complete(&request).await,
                Err(error) => Err(error),
            };
            match attempt {
                Ok(completion) => return Ok(completion),
                Err(error) => {
                    tracing::warn!(%error, "a model provider failed");
                    last = Some(error);
                }
            }
        }
        Err(provider_failed(last))
    }

    /// A stream from the first provider that starts one.
    pub(super) async fn open_stream(
        &self,
        prepared: &Prepared,
        messages: &[ChatMessage],
        input: u64,
    ) -> Result<ChunkStream, AppError> {
        let request = self.request(prepared, messages);
        let mut last = None;
        for model in self.models_for(prepared, input)? {
            let attempt = match model {
                Ok(model) => model.stream(&request).await,
                Err(error) => Err(error),
            };
            match attempt {
                Ok(stream) => return Ok(stream),
                Err(error) => {
                    tracing::warn!(%error, "a model provider failed");
                    last = Some(error);
                }
            }
        }
        Err(provider_failed(last))
    }

    /// Forward `pieces` of the model's text: the answer to the client, thoughts as
    /// activities (and into `thought`).
    async fn forward(
        pieces: Vec<Piece>,
        out: &mut Outcome,
        thought: &mut String,
        sink: &Sink<'_>,
    ) -> Result<(), Gone> {
        for piece in pieces {
            match piece {
                Piece::Visible(text) => {
                    let text = if out.separate && !out.answer.is_empty() {
                        format!("\n\n{text}")
                    } else {
                        text
                    };
                    out.separate = false;
                    out.answer.push_str(&text);
                    sink.content(&text).await?;
                }
                Piece::Thought(text) => {
                    thought.push_str(&text);
                    sink.activity("thinking", &text, false).await?;
                }
            }
        }
        Ok(())
    }

    /// Read one streamed model answer into `step`, forwarding as it comes. Sets
    /// `out.incomplete` when the stream breaks or the client goes away.
    async fn read_stream(
        &self,
        mut stream: ChunkStream,
        step: &mut Step,
        out: &mut Outcome,
        sink: &Sink<'_>,
    ) {
        // An item read early (while gathering what had already arrived) and not yet handled.
        let mut early = None;
        loop {
            let next = match early.take() {
                Some(item) => Some(item),
                None => tokio::select! {
                    biased;
                    () = sink.closed() => None,
                    next = stream.next() => Some(next),
                },
            };
            let gone = match next {
                None => true,
                Some(None) => break,
                Some(Some(Ok(Chunk::Content(mut text)))) => {
                    // After the first piece (sent at once), what has already arrived goes out
                    // as one delta; nothing waits for more: a provider that trickles tokens
                    // gets an event per token.
                    let first = step.raw.is_empty();
                    while !first && text.len() < COALESCE_BYTES {
                        match stream.next().now_or_never() {
                            Some(Some(Ok(Chunk::Content(more)))) => text.push_str(&more),
                            Some(item) => {
                                early = Some(item);
                                break;
                            }
                            None => break,
                        }
                    }
                    if step.raw.len().saturating_add(text.len()) > MAX_ANSWER_BYTES
                        || out.answer.len() > MAX_ANSWER_BYTES
                    {
                        // Enough: the provider's stream is dropped here.
                        out.finish = "length".into();
                        break;
                    }
                    step.raw.push_str(&text);
                    let pieces = step.filter.push(&text);
                    let gone = Self::forward(pieces, out, &mut step.thought, sink)
                        .await
                        .is_err();
                    if first {
                        // Let the response's task write the first token now, before this one
                        // reads on through whatever else has arrived.
                        tokio::task::yield_now().await;
                    }
                    gone
                }
                Some(Some(Ok(Chunk::Finished { reason }))) => {
                    if reason != "stop" {
                        out.finish = reason;
                    }
                    false
                }
                Some(Some(Ok(Chunk::Usage(_)))) => false,
                Some(Some(Err(error))) => {
                    out.incomplete = Some(error.to_string());
                    break;
                }
            };
            if gone {
                out.incomplete = Some("the client disconnected".into());
                return;
            }
        }
        let rest = step.filter.finish();
        if Self::forward(rest, out, &mut step.thought, sink)
            .await
            .is_err()
        {
            out.incomplete = Some("the client disconnected".into());
        }
    }

    /// Run a call the model made: its output, or the error text it gets instead.
    async fn run_call(&self, prepared: &Prepared, call: &tags::Call, out: &mut Outcome) -> String {
        if !prepared.commands {
            return "Commands are disabled for this message.".into();
        }
        let commands = self.app.commands();
        let ran = match commands.command_call(
            &prepared.place.view,
            &prepared.place.layer,
            &call.name,
            &call.args,
        ) {
            Ok(command) => commands.run_command(&prepared.place, command).await,
            Err(error) => Err(error),
        };
        match ran {
            Ok(run) => {
                out.activities.push(format!(
                    "{}\n\nOutput:\n{}",
                    run.activity.trim_start_matches("[ACTIVITY] "),
                    cut(&run.output, ACTIVITY_OUTPUT_BYTES)
                ));
                run.output
            }
            Err(error) => {
                let text = format!("Error: {error}");
                out.activities
                    .push(format!("Command `{}` failed: {error}", call.name));
                text
            }
        }
    }

    /// Command mode: the command runs once with the user's text; its output is the answer.
    pub(super) async fn command_mode(&self, prepared: &Prepared) -> Result<Outcome, AppError> {
        let Mode::Command {
            name,
            args,
            variable,
        } = &prepared.mode
        else {
            return Ok(Outcome::default());
        };
        let mut args = args.clone();
        args.insert(variable.clone(), Value::String(prepared.user_text.clone()));
        let commands = self.app.commands();
        let call =
            commands.command_call(&prepared.place.view, &prepared.place.layer, name, &args)?;
        let run = commands.run_command(&prepared.place, call).await?;
        Ok(Outcome {
            answer: run.output,
            activities: vec![run.activity.trim_start_matches("[ACTIVITY] ").to_owned()],
            finish: "stop".into(),
            ..Outcome::default()
        })
    }

    /// The model loop. Collecting, any provider failure is the turn's error (nothing is
    /// recorded); streaming, the first stream is already open and a later failure leaves the
    /// answer incomplete.
    pub(super) async fn converse(
        &self,
        prepared: &Prepared,
        sink: &Sink<'_>,
        mut first: Option<(ChunkStream, u64)>,
    ) -> Result<Outcome, AppError> {
        let mut out = Outcome {
            finish: "stop".into(),
            ..Outcome::default()
        };
        let mut messages = vec![ChatMessage::user(prepared.prompt.clone())];
        for step_number in 1..=MAX_STEPS {
            let mut step = Step::default();
            if let Sink::Collect = sink {
                let input = message_tokens(&messages).await;
                let mut completion = self.complete_once(prepared, &messages, input).await?;
                out.input_tokens = out.input_tokens.saturating_add(input);
                if completion.finish_reason != "stop" {
                    out.finish.clone_from(&completion.finish_reason);
                }
                if completion.content.len() > MAX_ANSWER_BYTES {
                    let end = completion.content.floor_char_boundary(MAX_ANSWER_BYTES);
                    completion.content.truncate(end);
                    out.finish = "length".into();
                }
                let mut pieces = step.filter.push(&completion.content);
                pieces.extend(step.filter.finish());
                step.raw = completion.content;
                // Collecting never fails to forward.
                let _ = Self::forward(pieces, &mut out, &mut step.thought, sink).await;
            } else {
                let (stream, input) = match first.take() {
                    Some(opened) => opened,
                    None => {
                        let input = message_tokens(&messages).await;
                        // The client may leave while the next call connects.
                        let opened = tokio::select! {
                            biased;
                            () = sink.closed() => None,
                            opened = self.open_stream(prepared, &messages, input) => Some(opened),
                        };
                        match opened {
                            Some(Ok(stream)) => (stream, input),
                            Some(Err(error)) => {
                                out.incomplete = Some(error.to_string());
                                break;
                            }
                            None => {
                                out.incomplete = Some("the client disconnected".into());
                                break;
                            }
                        }
                    }
                };
                out.input_tokens = out.input_tokens.saturating_add(input);
                self.read_stream(stream, &mut step, &mut out, sink).await;
            }
            let output = tokens_of(&[step.raw.as_str()]).await;
            out.output_tokens = out.output_tokens.saturating_add(output);
            if !step.thought.trim().is_empty() {
                out.activities
                    .push(format!("Thinking: {}", step.thought.trim()));
            }
            if out.incomplete.is_some() {
                break;
            }
            let calls: Vec<tags::Call> = step
                .filter
                .take_calls()
                .iter()
                .filter_map(|inner| tags::parse_call(inner))
                .collect();
            if calls.is_empty() || out.finish == "length" {
                break;
            }
            if step_number == MAX_STEPS {
                out.activities.push(format!(
                    "Stopped: the model asked for more commands after {MAX_STEPS} steps."
                ));
                break;
            }
            let mut outputs = String::new();
            for call in &calls {
                if prepared.tools.iter().any(|tool| tool.name == call.name) {
                    out.tool_calls.push(ToolCall {
                        id: format!("call_{}", uuid::Uuid::new_v4().simple()),
                        kind: "function".into(),
                        function: FunctionCall {
                            name: call.name.clone(),
                            arguments: Value::Object(call.args.clone()).to_string(),
                        },
                    });
                    continue;
                }
                let _ = sink
                    .activity("command", &format!("Running `{}`", call.name), false)
                    .await;
                // The client may leave while a command runs: the command is dropped.
                let output = tokio::select! {
                    biased;
                    () = sink.closed() => None,
                    output = self.run_call(prepared, call, &mut out) => Some(output),
                };
                let Some(output) = output else {
                    out.incomplete = Some("the client disconnected".into());
                    return Ok(out);
                };
                outputs.push_str(&format!("<output>\n{output}\n</output>\n"));
            }
            if !out.tool_calls.is_empty() {
                out.finish = "tool_calls".into();
                out.activities.push(format!(
                    "Asked the client to run: {}",
                    out.tool_calls
                        .iter()
                        .map(|c| c.function.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                break;
            }
            messages.push(ChatMessage {
                role: agentry_inference::Role::Assistant,
                content: step.raw,
            });
            messages.push(ChatMessage::user(format!(
                "{outputs}\nContinue from the output of the commands above."
            )));
            out.separate = true;
        }
        Ok(out)
    }
}
