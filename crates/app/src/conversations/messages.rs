//! A conversation's messages: added, updated, deleted, and those a command run writes (in
//! the conversation it runs in, made on first use).

use super::*;

impl Conversations<'_> {
    /// `POST /v1/conversation/{id}/message {role, message}`: the new message's id.
    pub fn add_message(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        id: &str,
        role: &Value,
        message: &Value,
    ) -> Result<MessageId, AppError> {
        self.app
            .sessions()
            .authorize(uow, caller, None, "conversations:write")?;
        let role = text_of(role, "role", MAX_ROLE)?;
        let text = text_of(message, "message", MAX_MESSAGE)?;
        if role.trim().is_empty() {
            return Err(invalid("role", "must not be empty"));
        }
        let conn = uow.conn()?;
        let row = self.own_conversation(conn, caller, id)?;
        let at = now();
        let message = message_row(row.id, &role, &text, at);
        let id = message.id;
        self.app.write(uow, |work| {
            store::add_messages(work.conn(), row.id, &[message], at)?;
            work.record(messages_changed(row.id, caller.user, MessagesChange::Added));
            Ok(())
        })?;
        Ok(id.into())
    }

    /// `PUT /v1/conversation/{id}/message/{message_id} {new_message}`.
    pub fn update_message(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        id: &str,
        message: &str,
        new_message: &Value,
    ) -> Result<(), AppError> {
        self.app
            .sessions()
            .authorize(uow, caller, None, "conversations:write")?;
        let text = text_of(new_message, "new_message", MAX_MESSAGE)?;
        let message: MessageId = message
            .trim()
            .parse()
            .map_err(|_| AppError::NotFound("Message not found".into()))?;
        let conn = uow.conn()?;
        let row = self.own_conversation(conn, caller, id)?;
        self.app.write(uow, |work| {
            if !store::update_message(
                work.conn(),
                row.id,
                message.into(),
                &text,
                &caller.email,
                now(),
            )? {
                return Err(AppError::NotFound("Message not found".into()));
            }
            work.record(messages_changed(
                row.id,
                caller.user,
                MessagesChange::Updated,
            ));
            Ok(())
        })
    }

    /// `DELETE /v1/conversation/{id}/message/{message_id}`.
    pub fn delete_message(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        id: &str,
        message: &str,
    ) -> Result<(), AppError> {
        self.app
            .sessions()
            .authorize(uow, caller, None, "conversations:write")?;
        let message: MessageId = message
            .trim()
            .parse()
            .map_err(|_| AppError::NotFound("Message not found".into()))?;
        let conn = uow.conn()?;
        let row = self.own_conversation(conn, caller, id)?;
        self.app.write(uow, |work| {
            if !store::delete_message(work.conn(), row.id, message.into())? {
                return Err(AppError::NotFound("Message not found".into()));
            }
            work.record(messages_changed(
                row.id,
                caller.user,
                MessagesChange::Deleted,
            ));
            Ok(())
        })
    }

    /// The conversation a command runs in (reference 3.3): none → today's date; `""` → the
    /// caller's `-` conversation; the id of one of the caller's conversations (what the SDK
    /// sends) → it; any other name → found or made.
    pub(crate) fn command_conversation(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        agent: AgentId,
        named: Option<&str>,
    ) -> Result<ConversationRow, AppError> {
        let name = match named.map(str::trim) {
            None => chrono::Utc::now().format("%Y-%m-%d").to_string(),
            Some("") => "-".to_owned(),
            Some(text) if text.chars().count() > MAX_NAME => {
                return Err(invalid(
                    "conversation_name",
                    format!("at most {MAX_NAME} characters"),
                ));
            }
            Some(text) => text.to_owned(),
        };
        let conn = uow.conn()?;
        if let Ok(id) = name.parse::<ConversationId>() {
            return store::find(conn, id.into())?
                .filter(|c| UserId::from(c.user_id) == caller.user)
                .ok_or_else(not_found);
        }
        // Read, then write on its own: a SQLite transaction that reads before it writes
        // cannot take the write lock while another writer holds it. Two first runs at once
        // may both create the name; names are not unique, and the oldest is used after.
        if let Some(found) = store::find_by_name(conn, caller.user, &name)? {
            return Ok(found);
        }
        let at = now();
        let row = ConversationRow {
            id: ConversationId::new().into(),
            user_id: caller.user.into(),
            agent_id: Some(agent.into()),
            name,
            created_at: at,
            updated_at: at,
        };
        self.app.write(uow, |work| {
            store::insert_conversation(work.conn(), &row)?;
            work.record(DomainEvent::ConversationChanged {
                conversation: row.id.into(),
                user: caller.user,
                change: ConversationChange::Created,
            });
            Ok(())
        })?;
        Ok(row)
    }

    /// Messages a command run writes to its conversation.
    pub(crate) fn log_messages(
        &self,
        uow: &mut Uow<'_>,
        user: UserId,
        conversation: DbUuid,
        messages: &[(String, String)],
    ) -> Result<(), AppError> {
        let at = now();
        let rows: Vec<MessageRow> = messages
            .iter()
            .enumerate()
            .map(|(i, (role, text))| message_row(conversation, role, text, in_order(at, i)))
            .collect();
        self.app.write(uow, |work| {
            store::add_messages(work.conn(), conversation, &rows, at)?;
            work.record(messages_changed(conversation, user, MessagesChange::Added));
            Ok(())
        })
    }
}

/// Remove a deleted conversation's files under every agent's folder in `data_dir` (best
/// effort: a failure is logged; the files are no longer served either way). Run by
/// [`App::committed`](crate::App) once the deletion has committed, so a deletion rolled back
/// with its enclosing transaction keeps them.
pub(crate) fn remove_workspaces(data_dir: &std::path::Path, conversation: ConversationId) {
    let root = data_dir.join("WORKSPACE");
    let Ok(agents) = std::fs::read_dir(&root) else {
        return;
    };
    for agent in agents.flatten() {
        let dir = agent.path().join(conversation.to_string());
        if dir.is_dir()
            && let Err(error) = std::fs::remove_dir_all(&dir)
        {
            tracing::warn!(%error, dir = %dir.display(), "could not remove a conversation's files");
        }
    }
}
