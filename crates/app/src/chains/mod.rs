//! Chains (reference agents-memory.md section 5): each user's named lists of steps, each a
//! prompt, a command or another chain, run by an agent ([`run`]). A user's chains with
//! their steps are one read model keyed by the user, fed by `chain.changed`. A chain's steps
//! are rewritten together when one changes, so they stay numbered 1..n. A chain that would
//! call itself, directly or through others, is refused when its step is saved (and runs are
//! bounded anyway).
//!
//! Not built yet: the company and server tiers, clone and revert.

mod run;
mod steps;

use std::collections::BTreeMap;
use std::sync::Arc;

use agentry_domain::UserId;
use agentry_domain::events::DomainEvent;
use agentry_store::chains::{self as store, ChainRow, StepRow};
use agentry_store::{DbUuid, Uow};
use serde_json::{Map, Value};

use crate::read_models::Through;
use crate::session::Caller;
use crate::{App, AppError};

pub use agentry_api::chains::{
    ChainCreated, ChainDetail, ChainEntry, ChainResponses, ImportChain, MoveStep, NewChain,
    RunChain, RunResponses, StepBody, StepView, UpdateChain,
};

/// The longest chain name.
const MAX_NAME: usize = 256;
/// The most steps a chain holds, and chains a user keeps.
const MAX_STEPS: usize = 100;
const MAX_CHAINS: usize = 1000;
/// The largest step (its JSON), and description.
const MAX_STEP_BYTES: usize = 64 * 1024;
const MAX_DESCRIPTION: usize = 4 * 1024;

fn checked_description(text: String) -> Result<String, AppError> {
    if text.len() > MAX_DESCRIPTION {
        return Err(AppError::TooLarge(format!(
            "a description is at most {MAX_DESCRIPTION} bytes"
        )));
    }
    Ok(text)
}

/// A chain and its steps, in order.
#[derive(Debug, Clone)]
pub(crate) struct Chain {
    pub row: ChainRow,
    pub steps: Vec<StepRow>,
}

/// Each user's chains, as the read model keeps them (by name).
#[derive(Debug, Clone, Default)]
pub struct UserChains(pub(crate) Vec<Chain>);

impl UserChains {
    pub(crate) fn weight(&self) -> usize {
        self.0
            .iter()
            .map(|chain| {
                chain
                    .steps
                    .iter()
                    .map(|s| {
                        s.prompt
                            .len()
                            .saturating_add(s.agent_name.len())
                            .saturating_add(80)
                    })
                    .fold(
                        chain
                            .row
                            .name
                            .len()
                            .saturating_add(chain.row.description.len())
                            .saturating_add(160),
                        usize::saturating_add,
                    )
            })
            .fold(64, usize::saturating_add)
    }

    /// The chain an id or (as the SDK's `run_chain(chain_name=...)` sends) a name names.
    pub(crate) fn find(&self, id_or_name: &str) -> Option<&Chain> {
        let wanted = id_or_name.trim();
        self.0
            .iter()
            .find(|c| c.row.id.0.to_string().eq_ignore_ascii_case(wanted))
            .or_else(|| self.0.iter().find(|c| c.row.name == wanted))
    }

    fn by_name(&self, name: &str) -> Option<&Chain> {
        self.0.iter().find(|c| c.row.name == name)
    }

    /// Whether a step of `from` calling the chain `target` would make a cycle: `target` is
    /// `from`, or reaches it through its chain steps.
    fn would_cycle(&self, from: &str, target: &str) -> bool {
        let mut seen: Vec<String> = Vec::new();
        let mut todo = vec![target.to_owned()];
        while let Some(name) = todo.pop() {
            if name == from {
                return true;
            }
            if seen.contains(&name) {
                continue;
            }
            if let Some(chain) = self.by_name(&name) {
                todo.extend(chain.steps.iter().filter_map(chain_target));
            }
            seen.push(name);
        }
        false
    }
}

/// The chain a chain step calls.
pub(crate) fn chain_target(step: &StepRow) -> Option<String> {
    if step.prompt_type != "Chain" {
        return None;
    }
    let prompt: Value = serde_json::from_str(&step.prompt).ok()?;
    prompt
        .get("chain_name")
        .or_else(|| prompt.get("chain"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// Chains. A view of the application's [`Context`](crate::Context), taken with
/// [`App::chains`](crate::App::chains).
#[derive(Clone, Copy)]
pub struct Chains<'a> {
    pub(crate) app: &'a App,
}

fn not_found() -> AppError {
    AppError::NotFound("Chain not found".into())
}

fn invalid(field: &str, message: impl Into<String>) -> AppError {
    AppError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

fn checked_name(field: &str, text: &str) -> Result<String, AppError> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > MAX_NAME || text.chars().any(char::is_control) {
        return Err(invalid(
            field,
            format!("a name of 1 to {MAX_NAME} characters"),
        ));
    }
    Ok(text.to_owned())
}

fn view_of(step: &StepRow) -> StepView {
    StepView {
        step: step.step_number,
        agent_name: step.agent_name.clone(),
        prompt_type: step.prompt_type.clone(),
        prompt: serde_json::from_str(&step.prompt).unwrap_or(Value::Null),
    }
}

fn detail(chain: &Chain) -> ChainDetail {
    ChainDetail {
        id: chain.row.id.0.to_string(),
        chain_name: chain.row.name.clone(),
        description: chain.row.description.clone(),
        steps: chain.steps.iter().map(view_of).collect(),
    }
}

/// Steps numbered 1..n in their order, for `chain`.
fn renumbered(chain: DbUuid, steps: Vec<StepRow>) -> Vec<StepRow> {
    steps
        .into_iter()
        .zip(1..)
        .map(|(step, number)| StepRow {
            chain_id: chain,
            step_number: number,
            ..step
        })
        .collect()
}

/// A 1-based step number within `1..=max` as an index, else 400.
fn position(number: i64, max: usize) -> Result<usize, AppError> {
    usize::try_from(number)
        .ok()
        .filter(|n| (1..=max).contains(n))
        .map(|n| n.saturating_sub(1))
        .ok_or_else(|| AppError::BadRequest(format!("Step {number} is out of range (1 to {max})")))
}

impl Chains<'_> {
    pub(crate) fn own(&self, uow: &mut Uow<'_>, user: UserId) -> Result<Arc<UserChains>, AppError> {
        self.app.user_chains.load(uow, &user, |uow| {
            let (rows, steps) = store::chains_of(uow.conn()?, user)?;
            let mut by_chain: BTreeMap<DbUuid, Vec<StepRow>> = BTreeMap::new();
            for step in steps {
                by_chain.entry(step.chain_id).or_default().push(step);
            }
            Ok(UserChains(
                rows.into_iter()
                    .map(|row| Chain {
                        steps: by_chain.remove(&row.id).unwrap_or_default(),
                        row,
                    })
                    .collect(),
            ))
        })
    }

    fn changed(work: &mut agentry_store::events::Work<'_>, user: UserId, chain: DbUuid) {
        work.record(DomainEvent::ChainChanged {
            user,
            chain: chain.0.to_string(),
        });
    }

    /// `GET /v1/chains`: the caller's chains (a bare list, as the reference answers).
    pub fn list(&self, uow: &mut Uow<'_>, caller: &Caller) -> Result<Vec<ChainEntry>, AppError> {
        self.app
            .sessions()
            .authorize(uow, caller, None, "chains:read")?;
        Ok(self
            .own(uow, caller.user)?
            .0
            .iter()
            .map(|chain| ChainEntry {
                id: chain.row.id.0.to_string(),
                chain_name: chain.row.name.clone(),
                name: chain.row.name.clone(),
                description: chain.row.description.clone(),
            })
            .collect())
    }

    /// `GET /v1/chain/{id}`: `{name: chain}`; another user's chain is 404.
    pub fn get(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        id: &str,
    ) -> Result<BTreeMap<String, ChainDetail>, AppError> {
        self.app
            .sessions()
            .authorize(uow, caller, None, "chains:read")?;
        let own = self.own(uow, caller.user)?;
        let chain = own.find(id).ok_or_else(not_found)?;
        Ok(BTreeMap::from([(chain.row.name.clone(), detail(chain))]))
    }

    /// `GET /v1/chain/{id}/args`: the arguments its steps give (their keys besides the
    /// target's name) and the variables their values use, once each.
    pub fn args(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        id: &str,
    ) -> Result<Vec<String>, AppError> {
        self.app
            .sessions()
            .authorize(uow, caller, None, "chains:read")?;
        let own = self.own(uow, caller.user)?;
        let chain = own.find(id).ok_or_else(not_found)?;
        let mut args: Vec<String> = Vec::new();
        let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
        for step in &chain.steps {
            let Ok(Value::Object(prompt)) = serde_json::from_str::<Value>(&step.prompt) else {
                continue;
            };
            for (key, value) in &prompt {
                let mut names = vec![key.clone()];
                if let Value::String(text) = value {
                    names.extend(crate::prompts::builtin::arguments(text));
                }
                for name in names {
                    let target = matches!(
                        name.as_str(),
                        "prompt_name" | "prompt_category" | "command_name" | "chain_name" | "chain"
                    );
                    if !target && seen.insert(name.clone()) {
                        args.push(name);
                    }
                }
            }
        }
        Ok(args)
    }

    fn insert(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        name: String,
        description: String,
        steps: Vec<StepRow>,
    ) -> Result<String, AppError> {
        if self.own(uow, caller.user)?.0.len() >= MAX_CHAINS {
            return Err(invalid(
                "chain_name",
                format!("at most {MAX_CHAINS} chains"),
            ));
        }
        let at = crate::now_naive();
        let row = ChainRow {
            id: DbUuid(uuid::Uuid::new_v4()),
            user_id: caller.user.into(),
            name,
            description,
            created_at: at,
            updated_at: at,
        };
        let steps = renumbered(row.id, steps);
        self.app.write(uow, |work| {
            if !store::insert_chain(work.conn(), &row)? {
                return Err(AppError::Conflict(format!(
                    "A chain named '{}' already exists",
                    row.name
                )));
            }
            store::replace_steps(work.conn(), row.id, &steps)?;
            Self::changed(work, caller.user, row.id);
            Ok(())
        })?;
        Ok(row.id.0.to_string())
    }

    /// `POST /v1/chain`: a new chain of the caller's (`chains:write`); a name they already
    /// use is 409.
    pub fn create(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        body: NewChain,
    ) -> Result<ChainCreated, AppError> {
        self.app
            .sessions()
            .authorize(uow, caller, None, "chains:write")?;
        let name = checked_name("chain_name", &body.chain_name)?;
        let description = checked_description(body.description.unwrap_or_default())?;
        let id = self.insert(uow, caller, name.clone(), description, Vec::new())?;
        Ok(ChainCreated {
            message: format!("Chain '{name}' created."),
            id,
        })
    }

    /// `POST /v1/chain/import`: a chain with its steps, from the reference's chain file
    /// (`{"chain_name", "steps": [...]}` as `steps`) or the list of steps itself. Every step
    /// is checked as an added one is; the first refused refuses the import.
    pub fn import(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        body: ImportChain,
    ) -> Result<String, AppError> {
        self.app
            .sessions()
            .authorize(uow, caller, None, "chains:write")?;
        let name = checked_name("chain_name", &body.chain_name)?;
        let list = match &body.steps {
            Value::Array(list) => list.clone(),
            Value::Object(file) => match file.get("steps") {
                Some(Value::Array(list)) => list.clone(),
                _ => return Err(invalid("steps", "a chain file's steps list")),
            },
            _ => return Err(invalid("steps", "a chain file or a list of steps")),
        };
        if list.len() > MAX_STEPS {
            return Err(invalid("steps", format!("at most {MAX_STEPS} steps")));
        }
        let own = self.own(uow, caller.user)?;
        let mut steps = Vec::with_capacity(list.len());
        for item in list {
            let body = StepBody {
                step_number: None,
                agent_id: None,
                agent_name: item
                    .get("agent_name")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                prompt_type: item
                    .get("prompt_type")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                prompt: item.get("prompt").cloned().unwrap_or(Value::Null),
            };
            steps.push(self.checked_step(uow, caller, &own, &name, body)?);
        }
        self.insert(uow, caller, name.clone(), String::new(), steps)?;
        Ok(format!("Imported chain: {name}"))
    }

    /// `PUT /v1/chain/{id}`: a new name and description (each kept when absent).
    pub fn update(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        id: &str,
        body: UpdateChain,
    ) -> Result<String, AppError> {
        self.app
            .sessions()
            .authorize(uow, caller, None, "chains:write")?;
        let own = self.own(uow, caller.user)?;
        let chain = own.find(id).ok_or_else(not_found)?;
        let name = match body.new_name.as_deref() {
            Some(name) => checked_name("new_name", name)?,
            None => chain.row.name.clone(),
        };
        let description = checked_description(
            body.description
                .unwrap_or_else(|| chain.row.description.clone()),
        )?;
        let chain_id = chain.row.id;
        if name != chain.row.name {
            // Under its new name, the chain must not reach itself through the chains its
            // steps call (another chain may already call that name).
            let mut renamed = (*own).clone();
            if let Some(entry) = renamed.0.iter_mut().find(|c| c.row.id == chain_id) {
                entry.row.name.clone_from(&name);
            }
            let calls: Vec<String> = chain.steps.iter().filter_map(chain_target).collect();
            if calls
                .iter()
                .any(|target| renamed.would_cycle(&name, target))
            {
                return Err(AppError::BadRequest(format!(
                    "Chain `{}` cannot be named `{name}`: it would call itself",
                    chain.row.name
                )));
            }
        }
        self.app.write(uow, |work| {
            match store::update_chain(
                work.conn(),
                caller.user,
                chain_id,
                &name,
                &description,
                crate::now_naive(),
            )? {
                None => return Err(not_found()),
                Some(false) => {
                    return Err(AppError::Conflict(format!(
                        "A chain named '{name}' already exists"
                    )));
                }
                Some(true) => {}
            }
            Self::changed(work, caller.user, chain_id);
            Ok(())
        })?;
        Ok(name)
    }

    /// `DELETE /v1/chain/{id}` (`chains:delete`): its name.
    pub fn delete(&self, uow: &mut Uow<'_>, caller: &Caller, id: &str) -> Result<String, AppError> {
        self.app
            .sessions()
            .authorize(uow, caller, None, "chains:delete")?;
        let own = self.own(uow, caller.user)?;
        let chain = own.find(id).ok_or_else(not_found)?;
        let (chain_id, name) = (chain.row.id, chain.row.name.clone());
        self.app.write(uow, |work| {
            if !store::delete_chain(work.conn(), caller.user, chain_id)? {
                return Err(not_found());
            }
            Self::changed(work, caller.user, chain_id);
            Ok(())
        })?;
        Ok(name)
    }

    /// `GET /v1/chain/{id}/responses`: what each step of its latest run answered.
    pub fn responses(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        id: &str,
    ) -> Result<ChainResponses, AppError> {
        self.app
            .sessions()
            .authorize(uow, caller, None, "chains:read")?;
        let own = self.own(uow, caller.user)?;
        let chain = own.find(id).ok_or_else(not_found)?;
        let rows = store::latest_responses(uow.conn()?, chain.row.id)?;
        Ok(ChainResponses {
            chain: RunResponses {
                run_id: rows.first().map(|r| r.run_id.0.to_string()),
                responses: rows
                    .into_iter()
                    .map(|r| (r.step_number.to_string(), r.content))
                    .collect(),
            },
        })
    }
}

/// Placeholders of a run filled in a step's values: `{user_input}`, `{agent_name}` and
/// `{STEPn}` (what step n answered in this run).
pub(crate) fn fill(
    prompt: &Map<String, Value>,
    values: &BTreeMap<String, String>,
) -> Map<String, Value> {
    prompt
        .iter()
        .map(|(key, value)| {
            let value = match value {
                Value::String(text) => Value::String(crate::prompts::builtin::render(text, values)),
                other => other.clone(),
            };
            (key.clone(), value)
        })
        .collect()
}
