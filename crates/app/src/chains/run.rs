//! Running a chain (reference agents-memory.md 5.5): its steps from `from_step` on, in order,
//! each with `{user_input}`, `{agent_name}` and `{STEPn}` filled and the run's non-empty
//! `chain_args` over its own arguments: a prompt step through the chat pipeline (written to
//! `conversation_name` when given, else to no conversation), a command step through the
//! command executor, a chain step as a run of that chain (at most [`MAX_DEPTH`] deep). What
//! each step answered is recorded for the run, in one write at its end.

use std::collections::BTreeMap;

use agentry_api::chat::ChatCompletionRequest;
use agentry_store::DbUuid;
use agentry_store::chains::{self as store, ResponseRow, StepRow};
use futures_util::future::BoxFuture;
use serde_json::{Map, Value, json};

use super::*;
use crate::commands::Place;

/// How deep chains may call chains in one run, and how many steps one run executes in all
/// (chains calling chains fan out).
const MAX_DEPTH: usize = 8;
const MAX_RUN_STEPS: usize = 200;

/// The step keys that name its target: `chain_args` never replace them.
const TARGET_KEYS: [&str; 5] = [
    "prompt_name",
    "prompt_category",
    "command_name",
    "chain_name",
    "chain",
];

/// A run in progress.
struct Run<'r> {
    caller: &'r Caller,
    user_input: String,
    agent_override: Option<String>,
    chain_args: Map<String, Value>,
    conversation: Option<String>,
    run_id: DbUuid,
    responses: Vec<ResponseRow>,
    /// Steps executed so far.
    executed: usize,
}

impl Chains<'_> {
    /// `POST /v1/chain/{id}/run`: the last step's answer, or with `all_responses` every
    /// step's, as the reference writes them. A chain of no steps, or `from_step` out of
    /// range, is 400.
    pub async fn run(&self, caller: &Caller, id: &str, body: RunChain) -> Result<String, AppError> {
        self.start(caller, id, body, None).await
    }

    /// `POST /v1/chain/{id}/run/step/{n}`: step `n` alone.
    pub async fn run_step(
        &self,
        caller: &Caller,
        id: &str,
        number: i64,
        body: RunChain,
    ) -> Result<String, AppError> {
        self.start(caller, id, body, Some(number)).await
    }

    async fn start(
        &self,
        caller: &Caller,
        id: &str,
        body: RunChain,
        only: Option<i64>,
    ) -> Result<String, AppError> {
        let (caller_, wanted) = (caller.clone(), id.to_owned());
        let chain = self
            .app
            .run(move |app, uow| {
                app.sessions()
                    .authorize(uow, &caller_, None, "chains:execute")?;
                let own = app.chains().own(uow, caller_.user)?;
                own.find(&wanted).cloned().ok_or_else(not_found)
            })
            .await?;
        if chain.steps.is_empty() {
            return Err(AppError::BadRequest(format!(
                "Chain `{}` has no steps.",
                chain.row.name
            )));
        }
        let first = only.or(body.from_step).unwrap_or(1);
        let from = position(first, chain.steps.len())?;
        let until = if only.is_some() {
            from.saturating_add(1)
        } else {
            chain.steps.len()
        };
        let mut run = Run {
            caller,
            user_input: body.prompt.unwrap_or_default(),
            agent_override: body
                .agent_override
                .map(|a| a.trim().to_owned())
                .filter(|a| !a.is_empty()),
            chain_args: body.chain_args.unwrap_or_default(),
            conversation: body.conversation_name.filter(|c| !c.trim().is_empty()),
            run_id: DbUuid(uuid::Uuid::new_v4()),
            responses: Vec::new(),
            executed: 0,
        };
        let steps = chain.steps[from..until].to_vec();
        let outcome = self.steps(&mut run, chain.row.id, steps, 0).await;
        // What the steps answered is kept, even when a later one failed.
        let rows = std::mem::take(&mut run.responses);
        self.app
            .run(move |app, uow| {
                app.write(uow, |work| {
                    store::insert_responses(work.conn(), &rows)?;
                    Ok(())
                })
            })
            .await?;
        let answers = outcome?;
        if body.all_responses.unwrap_or(false) && answers.len() > 1 {
            return Ok(answers
                .iter()
                .map(|(label, text)| format!("{label} Output:\n{text}"))
                .collect::<Vec<_>>()
                .join("\n\n"));
        }
        Ok(answers
            .last()
            .map(|(_, text)| text.clone())
            .unwrap_or_default())
    }

    /// Run `steps` of the chain `chain`: each answer with its label.
    fn steps<'a>(
        &'a self,
        run: &'a mut Run<'_>,
        chain: DbUuid,
        steps: Vec<StepRow>,
        depth: usize,
    ) -> BoxFuture<'a, Result<Vec<(String, String)>, AppError>> {
        Box::pin(async move {
            if depth >= MAX_DEPTH {
                return Err(AppError::BadRequest(format!(
                    "Chains call chains more than {MAX_DEPTH} deep"
                )));
            }
            let mut answers: Vec<(String, String)> = Vec::new();
            let mut by_step: BTreeMap<String, String> = BTreeMap::new();
            for step in steps {
                run.executed = run.executed.saturating_add(1);
                if run.executed > MAX_RUN_STEPS {
                    return Err(AppError::BadRequest(format!(
                        "A run executes at most {MAX_RUN_STEPS} steps"
                    )));
                }
                let agent = run
                    .agent_override
                    .clone()
                    .unwrap_or_else(|| step.agent_name.clone());
                let mut values = by_step.clone();
                values.insert("user_input".into(), run.user_input.clone());
                values.insert("agent_name".into(), agent.clone());
                let prompt: Map<String, Value> = match serde_json::from_str(&step.prompt) {
                    Ok(Value::Object(prompt)) => prompt,
                    _ => Map::new(),
                };
                let mut prompt = fill(&prompt, &values);
                for (key, value) in &run.chain_args {
                    let empty = value.is_null() || value.as_str().is_some_and(str::is_empty);
                    if !empty && !TARGET_KEYS.contains(&key.as_str()) {
                        prompt.insert(key.clone(), value.clone());
                    }
                }
                let done = match step.prompt_type.as_str() {
                    "Prompt" => self.prompt_step(run, &agent, prompt).await,
                    "Command" => self.command_step(run, &agent, prompt).await,
                    _ => self.chain_step(run, &prompt, depth).await,
                };
                let (label, answer) = match done {
                    Ok(done) => done,
                    Err(error) => {
                        // The run's record says where it stopped and why.
                        run.responses.push(ResponseRow {
                            id: DbUuid(uuid::Uuid::new_v4()),
                            chain_id: chain,
                            run_id: run.run_id,
                            step_number: step.step_number,
                            content: format!("Error: {error}"),
                            created_at: crate::now_naive(),
                        });
                        return Err(error);
                    }
                };
                let label = format!("Step {} ({label})", step.step_number);
                by_step.insert(format!("STEP{}", step.step_number), answer.clone());
                if !answer.is_empty() {
                    run.responses.push(ResponseRow {
                        id: DbUuid(uuid::Uuid::new_v4()),
                        chain_id: chain,
                        run_id: run.run_id,
                        step_number: step.step_number,
                        content: answer.clone(),
                        created_at: crate::now_naive(),
                    });
                }
                answers.push((label, answer));
            }
            Ok(answers)
        })
    }

    /// A chain step: the chain it names run with this run's state (its `user_input`, when
    /// it gives one, for its own steps); its last answer.
    async fn chain_step(
        &self,
        run: &mut Run<'_>,
        prompt: &Map<String, Value>,
        depth: usize,
    ) -> Result<(String, String), AppError> {
        let name = prompt
            .get("chain_name")
            .or_else(|| prompt.get("chain"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let (caller_, wanted) = (run.caller.clone(), name.clone());
        let inner = self
            .app
            .run(move |app, uow| {
                let own = app.chains().own(uow, caller_.user)?;
                own.find(&wanted)
                    .cloned()
                    .ok_or_else(|| AppError::NotFound(format!("Chain `{wanted}` not found")))
            })
            .await?;
        let input = prompt
            .get("user_input")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let saved = input.map(|i| std::mem::replace(&mut run.user_input, i));
        let answers = self
            .steps(
                run,
                inner.row.id,
                inner.steps.clone(),
                depth.saturating_add(1),
            )
            .await;
        if let Some(saved) = saved {
            run.user_input = saved;
        }
        let text = answers?
            .last()
            .map(|(_, text)| text.clone())
            .unwrap_or_default();
        Ok((format!("Chain - {name}"), text))
    }

    /// A prompt step: the chat pipeline with the step's arguments as the message's keys.
    async fn prompt_step(
        &self,
        run: &Run<'_>,
        agent: &str,
        mut prompt: Map<String, Value>,
    ) -> Result<(String, String), AppError> {
        let name = prompt
            .get("prompt_name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let content = match prompt.remove("user_input") {
            Some(Value::String(text)) => text,
            _ => run.user_input.clone(),
        };
        prompt.insert("role".into(), json!("user"));
        prompt.insert("content".into(), json!(content));
        let log = run.conversation.is_some();
        if !log {
            prompt.insert("disable_commands".into(), json!(true));
        }
        let request = ChatCompletionRequest {
            model: Some(agent.to_owned()),
            messages: Some(vec![Value::Object(prompt)]),
            user: Some(
                run.conversation
                    .clone()
                    .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            ),
            ..ChatCompletionRequest::default()
        };
        let completion = self
            .app
            .chat()
            .complete_logged(run.caller, request, log)
            .await?;
        let text = completion
            .choices
            .into_iter()
            .next()
            .and_then(|c| c.message.content)
            .unwrap_or_default();
        Ok((format!("Prompt - {name}"), text))
    }

    /// A command step: the agent's command with the step's arguments (`extensions:execute`
    /// in the agent's company, as `POST /v1/agent/{id}/command`).
    async fn command_step(
        &self,
        run: &Run<'_>,
        agent: &str,
        mut prompt: Map<String, Value>,
    ) -> Result<(String, String), AppError> {
        let name = match prompt.remove("command_name") {
            Some(Value::String(name)) => name,
            _ => {
                return Err(AppError::BadRequest(
                    "A command step needs its `command_name`".into(),
                ));
            }
        };
        let (caller_, agent_) = (run.caller.clone(), agent.to_owned());
        let (view, layer) = self
            .app
            .run(move |app, uow| {
                app.agents().visible_agent_with_company(
                    uow,
                    &caller_,
                    &agent_,
                    "extensions:execute",
                )
            })
            .await?;
        let commands = self.app.commands();
        let call = commands.command_call(&view, &layer, &name, &prompt)?;
        let place = Place {
            view,
            layer,
            conversation: agentry_domain::ConversationId::from(run.run_id),
            conversation_name: format!("chain run {}", run.run_id.0),
            user_email: run.caller.email.clone(),
        };
        let output = commands.run_command(&place, call).await?.output;
        Ok((format!("Command - {name}"), output))
    }
}
