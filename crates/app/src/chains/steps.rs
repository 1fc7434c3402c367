//! A chain's steps: checked when saved (type, target, agent, no cycle) and edited in one
//! transaction that reads the chain's current steps from the database, so concurrent
//! edits cannot lose one another.

use super::*;

impl Chains<'_> {
    /// A step as stored, checked: its type (Prompt, Command or Chain, any case), its target
    /// (an unknown prompt, command or chain is 404; a chain that would call `chain` is 400),
    /// its agent (one the caller sees, 404 otherwise; `{agent_name}` is filled at run time).
    pub(super) fn checked_step(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        own: &UserChains,
        chain: &str,
        body: StepBody,
    ) -> Result<StepRow, AppError> {
        let kind = match body.prompt_type.trim().to_ascii_lowercase().as_str() {
            "prompt" => "Prompt",
            "command" => "Command",
            "chain" => "Chain",
            _ => return Err(invalid("prompt_type", "one of Prompt, Command, Chain")),
        };
        let Value::Object(mut prompt) = body.prompt else {
            return Err(invalid("prompt", "a JSON object"));
        };
        let text = |prompt: &Map<String, Value>, key: &str| {
            prompt
                .get(key)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
        };
        // The target is stored as it is checked (trimmed, under one key), so what is
        // checked is what runs.
        match kind {
            "Prompt" => {
                let name = text(&prompt, "prompt_name")
                    .ok_or_else(|| invalid("prompt", "a `prompt_name`"))?;
                let category = text(&prompt, "prompt_category")
                    .unwrap_or_else(|| crate::prompts::builtin::CATEGORY.to_owned());
                if self
                    .app
                    .prompts()
                    .resolve(uow, caller.user, &category, &name)?
                    .is_none()
                {
                    return Err(AppError::NotFound(format!("Prompt `{name}` not found")));
                }
                prompt.insert("prompt_name".into(), Value::String(name));
            }
            "Command" => {
                let name = text(&prompt, "command_name")
                    .ok_or_else(|| invalid("prompt", "a `command_name`"))?;
                if self.app.registry.command(&name).is_none() {
                    return Err(AppError::NotFound(format!("Command `{name}` not found")));
                }
                prompt.insert("command_name".into(), Value::String(name));
            }
            _ => {
                let name = text(&prompt, "chain_name")
                    .or_else(|| text(&prompt, "chain"))
                    .ok_or_else(|| invalid("prompt", "a `chain_name`"))?;
                if name != chain && own.by_name(&name).is_none() {
                    return Err(AppError::NotFound(format!("Chain `{name}` not found")));
                }
                if own.would_cycle(chain, &name) {
                    return Err(AppError::BadRequest(format!(
                        "Chain `{chain}` cannot call `{name}`: it would call itself"
                    )));
                }
                prompt.remove("chain");
                prompt.insert("chain_name".into(), Value::String(name));
            }
        }
        let agent = body
            .agent_id
            .or(body.agent_name)
            .map(|a| a.trim().to_owned())
            .filter(|a| !a.is_empty())
            .ok_or_else(|| AppError::BadRequest("A step needs its agent (`agent_id`)".into()))?;
        let agent_name = if agent == "{agent_name}" {
            agent
        } else {
            self.app
                .agents()
                .visible_agent(uow, caller, &agent)?
                .name
                .clone()
        };
        let prompt = Value::Object(prompt).to_string();
        if prompt.len() > MAX_STEP_BYTES {
            return Err(AppError::TooLarge(format!(
                "a step is at most {MAX_STEP_BYTES} bytes"
            )));
        }
        Ok(StepRow {
            chain_id: DbUuid(uuid::Uuid::nil()),
            step_number: 0,
            agent_name,
            prompt_type: kind.into(),
            prompt,
        })
    }

    /// Replace the steps of the chain `id` names by what `edit` makes of them, in one
    /// transaction: the chain's row is locked first (its `updated_at`), then its steps are
    /// read from the database, so two edits at once apply one after the other.
    fn edit_steps(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        id: &str,
        edit: impl FnOnce(&mut Uow<'_>, &UserChains, &Chain, &mut Vec<StepRow>) -> Result<(), AppError>,
    ) -> Result<String, AppError> {
        let held = self.own(uow, caller.user)?;
        let chain_id = held.find(id).ok_or_else(not_found)?.row.id;
        self.app.write(uow, |work| {
            if !store::touch_chain(work.conn(), caller.user, chain_id, crate::now_naive())? {
                return Err(not_found());
            }
            let (name, steps) = {
                let mut inner = work.uow();
                // Inside the unit of work the read model reads through to the database.
                let own = self.own(&mut inner, caller.user)?;
                let chain = own
                    .0
                    .iter()
                    .find(|c| c.row.id == chain_id)
                    .ok_or_else(not_found)?;
                let mut steps = chain.steps.clone();
                edit(&mut inner, &own, chain, &mut steps)?;
                let name = chain.row.name.clone();
                (name, steps)
            };
            if steps.len() > MAX_STEPS {
                return Err(AppError::BadRequest(format!(
                    "A chain holds at most {MAX_STEPS} steps"
                )));
            }
            let steps = renumbered(chain_id, steps);
            store::replace_steps(work.conn(), chain_id, &steps)?;
            Self::changed(work, caller.user, chain_id);
            Ok(name)
        })
    }

    /// `POST /v1/chain/{id}/step`: a step at `step_number` (1 to one past the last; the
    /// last when absent), later ones moved down.
    pub fn add_step(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        id: &str,
        body: StepBody,
    ) -> Result<String, AppError> {
        self.app
            .sessions()
            .authorize(uow, caller, None, "chains:write")?;
        let mut at = 0;
        let name = self.edit_steps(uow, caller, id, |uow, own, chain, steps| {
            let number = body.step_number.unwrap_or(
                i64::try_from(steps.len())
                    .unwrap_or(i64::MAX)
                    .saturating_add(1),
            );
            at = position(number, steps.len().saturating_add(1))?;
            let step = self.checked_step(uow, caller, own, &chain.row.name, body)?;
            steps.insert(at, step);
            Ok(())
        })?;
        Ok(format!(
            "Step {} added to chain '{name}'.",
            at.saturating_add(1)
        ))
    }

    /// `PUT /v1/chain/{id}/step/{n}`: step `n` replaced.
    pub fn update_step(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        id: &str,
        number: i64,
        body: StepBody,
    ) -> Result<String, AppError> {
        self.app
            .sessions()
            .authorize(uow, caller, None, "chains:write")?;
        let name = self.edit_steps(uow, caller, id, |uow, own, chain, steps| {
            let at = position(number, steps.len())?;
            steps[at] = self.checked_step(uow, caller, own, &chain.row.name, body)?;
            Ok(())
        })?;
        Ok(format!("Step {number} updated for chain '{name}'."))
    }

    /// `PATCH /v1/chain/{id}/step/move`.
    pub fn move_step(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        id: &str,
        body: MoveStep,
    ) -> Result<String, AppError> {
        self.app
            .sessions()
            .authorize(uow, caller, None, "chains:write")?;
        let name = self.edit_steps(uow, caller, id, |_, _, _, steps| {
            let from = position(body.old_step_number, steps.len())?;
            let to = position(body.new_step_number, steps.len())?;
            let step = steps.remove(from);
            steps.insert(to, step);
            Ok(())
        })?;
        Ok(format!(
            "Step {} moved to {} in chain '{name}'.",
            body.old_step_number, body.new_step_number
        ))
    }

    /// `DELETE /v1/chain/{id}/step/{n}` (`chains:delete`): later steps move up.
    pub fn delete_step(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        id: &str,
        number: i64,
    ) -> Result<String, AppError> {
        self.app
            .sessions()
            .authorize(uow, caller, None, "chains:delete")?;
        let name = self.edit_steps(uow, caller, id, |_, _, _, steps| {
            let at = position(number, steps.len())?;
            steps.remove(at);
            Ok(())
        })?;
        Ok(format!("Step {number} deleted from chain '{name}'."))
    }
}
