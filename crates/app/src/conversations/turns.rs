//! The conversation of a chat turn (reference agents-memory.md 8.1, `user`): found or, once
//! the turn has an answer, made; its recent messages for the prompt; the turn's messages
//! written in one go.

use super::*;

/// Where a chat turn is written: a conversation of the caller's, or one to make (with this
/// id and name) when the turn is recorded, so that a turn that fails leaves nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TurnTarget {
    pub id: ConversationId,
    pub name: String,
    pub exists: bool,
    /// The id was made here (a new name), so no other turn can have made it meanwhile.
    pub generated: bool,
}

impl Conversations<'_> {
    /// The conversation `named` names: none or empty → `-`; an id → that conversation if it
    /// is the caller's (another user's is 404 "Conversation is not accessible."), else a new
    /// one with that id named `-`; a name → the caller's oldest of that name, else a new one.
    pub(crate) fn turn_conversation(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        named: Option<&str>,
    ) -> Result<TurnTarget, AppError> {
        let name = named
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .unwrap_or("-");
        if name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
            return Err(invalid(
                "user",
                format!("a name of 1 to {MAX_NAME} characters"),
            ));
        }
        let conn = uow.conn()?;
        if let Ok(id) = name.parse::<ConversationId>() {
            return match store::find(conn, id.into())? {
                Some(row) if UserId::from(row.user_id) == caller.user => Ok(TurnTarget {
                    id,
                    name: row.name,
                    exists: true,
                    generated: false,
                }),
                Some(_) => Err(AppError::NotFound("Conversation is not accessible.".into())),
                None => Ok(TurnTarget {
                    id,
                    name: "-".into(),
                    exists: false,
                    generated: false,
                }),
            };
        }
        Ok(match store::find_by_name(conn, caller.user, name)? {
            Some(row) => TurnTarget {
                id: row.id.into(),
                name: row.name,
                exists: true,
                generated: false,
            },
            None => TurnTarget {
                id: ConversationId::new(),
                name: name.to_owned(),
                exists: false,
                generated: true,
            },
        })
    }

    /// The last `limit` messages of `conversation` that are not activities, oldest first:
    /// (role, text). One statement.
    pub(crate) fn recent_messages(
        &self,
        uow: &mut Uow<'_>,
        conversation: ConversationId,
        limit: u32,
    ) -> Result<Vec<(String, String)>, AppError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let conn = uow.conn()?;
        // Activities are read and left out: a few more rows than asked cover them usually.
        let rows = store::messages_page(
            conn,
            conversation.into(),
            i64::from(limit).saturating_mul(4),
            0,
        )?;
        let mut kept: Vec<(String, String)> = rows
            .into_iter()
            .filter(|row| {
                !row.content.starts_with("[ACTIVITY]") && !row.content.starts_with("[SUBACTIVITY]")
            })
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .map(|row| (row.role, row.content))
            .collect();
        kept.reverse();
        Ok(kept)
    }

    /// Write a turn's `messages` (id, role, text; in order) to `target` inside the caller's
    /// write, making the conversation first when it is new (or, when the caller named it by
    /// an id, using it if another turn made it meanwhile for the same user).
    pub(crate) fn record_turn_in(
        &self,
        work: &mut agentry_store::events::Work<'_>,
        user: UserId,
        target: &TurnTarget,
        agent: AgentId,
        messages: &[(MessageId, String, String)],
    ) -> Result<(), AppError> {
        let at = now();
        let conversation: DbUuid = target.id.into();
        let rows: Vec<MessageRow> = messages
            .iter()
            .enumerate()
            .map(|(i, (id, role, text))| MessageRow {
                id: (*id).into(),
                ..message_row(conversation, role, text, in_order(at, i))
            })
            .collect();
        if !target.exists {
            let found = if target.generated {
                None
            } else {
                store::find(work.conn(), conversation)?
            };
            match found {
                Some(row) if UserId::from(row.user_id) == user => {}
                Some(_) => {
                    return Err(AppError::NotFound("Conversation is not accessible.".into()));
                }
                None => {
                    let row = ConversationRow {
                        id: conversation,
                        user_id: user.into(),
                        agent_id: Some(agent.into()),
                        name: target.name.clone(),
                        created_at: at,
                        updated_at: at,
                    };
                    store::insert_conversation(work.conn(), &row)?;
                    work.record(DomainEvent::ConversationChanged {
                        conversation: target.id,
                        user,
                        change: ConversationChange::Created,
                    });
                }
            }
        }
        store::add_messages(work.conn(), conversation, &rows, at)?;
        work.record(messages_changed(conversation, user, MessagesChange::Added));
        Ok(())
    }
}
