//! Conversations and their messages (reference agents-memory.md section 7, storage and CRUD):
//! each belongs to the user who made it; another user's id is unknown (404). Pages are read
//! in SQL. Bodies follow what the SDK sends (section 11: the rename and message-update bodies
//! lack fields the reference requires).

mod list;
mod messages;
mod turns;

pub use list::ConversationList;
pub(crate) use messages::remove_workspaces;
pub(crate) use turns::TurnTarget;

use agentry_domain::events::{ConversationChange, DomainEvent, MessagesChange};
use agentry_domain::{AgentId, ConversationId, MessageId, UserId};
use agentry_store::Uow;
use agentry_store::conversations::{self as store, ConversationRow, MessageRow};
use agentry_store::{AnyConnection, DbUuid};
use chrono::NaiveDateTime;
use serde_json::Value;

use crate::session::Caller;
use crate::{App, AppError};

/// The longest conversation name and role, and the largest message.
const MAX_NAME: usize = 256;
const MAX_ROLE: usize = 128;
const MAX_MESSAGE: usize = 1024 * 1024;
const MAX_CONTENT: usize = 1000;

pub use agentry_api::conversations::{
    ConversationEntry, ConversationName, ConversationPage, CreatedConversation, Forked, History,
    MessageView, NewConversation,
};

use crate::now_naive as now;

/// Conversations and their messages. A view of the application's [`Context`](crate::Context),
/// taken with [`App::conversations`](crate::App::conversations).
#[derive(Clone, Copy)]
pub struct Conversations<'a> {
    pub(crate) app: &'a App,
}

fn not_found() -> AppError {
    AppError::NotFound("Conversation not found".into())
}

fn invalid(field: &str, message: impl Into<String>) -> AppError {
    AppError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

fn name_of(value: &Value, field: &str) -> Result<String, AppError> {
    value
        .as_str()
        .map(str::trim)
        .filter(|n| {
            !n.is_empty() && n.chars().count() <= MAX_NAME && !n.chars().any(char::is_control)
        })
        .map(str::to_owned)
        .ok_or_else(|| invalid(field, format!("a name of 1 to {MAX_NAME} characters")))
}

fn text_of(value: &Value, field: &str, max: usize) -> Result<String, AppError> {
    match value {
        Value::String(text) if text.len() <= max => Ok(text.clone()),
        Value::String(_) => Err(invalid(field, format!("at most {max} bytes"))),
        _ => Err(invalid(field, "expected a string")),
    }
}

fn message_row(conversation: DbUuid, role: &str, content: &str, at: NaiveDateTime) -> MessageRow {
    MessageRow {
        id: MessageId::new().into(),
        conversation_id: conversation,
        role: role.to_owned(),
        // What commands bring back from outside may hold NUL, which PostgreSQL cannot store.
        content: content.replace('\0', "\u{FFFD}"),
        created_at: at,
        updated_at: at,
        updated_by: None,
        feedback_received: false,
        notify: false,
    }
}

/// Messages written together keep their order: each a microsecond after the one before.
fn in_order(at: NaiveDateTime, index: usize) -> NaiveDateTime {
    let step = chrono::Duration::microseconds(i64::try_from(index).unwrap_or(i64::MAX));
    at.checked_add_signed(step).unwrap_or(at)
}

fn iso(at: NaiveDateTime) -> String {
    format!("{}+00:00", at.format("%Y-%m-%dT%H:%M:%S%.6f"))
}

fn message_view(row: MessageRow) -> MessageView {
    MessageView {
        id: row.id.into(),
        role: row.role,
        message: row.content,
        timestamp: iso(row.created_at),
        updated_at: iso(row.updated_at),
        updated_by: row.updated_by,
        feedback_received: row.feedback_received,
        timestamp_utc: row.created_at,
        updated_at_utc: row.updated_at,
    }
}

impl Conversations<'_> {
    /// The caller's conversation by id (another user's is unknown).
    fn own_conversation(
        &self,
        conn: &mut AnyConnection,
        caller: &Caller,
        id: &str,
    ) -> Result<ConversationRow, AppError> {
        let id: ConversationId = id.trim().parse().map_err(|_| not_found())?;
        store::find(conn, id.into())?
            .filter(|c| UserId::from(c.user_id) == caller.user)
            .ok_or_else(not_found)
    }

    /// Whether `conversation` is the caller's (files a command left in it are theirs).
    pub(crate) fn owns_conversation(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        conversation: ConversationId,
    ) -> Result<bool, AppError> {
        let conn = uow.conn()?;
        Ok(store::find(conn, conversation.into())?
            .is_some_and(|c| UserId::from(c.user_id) == caller.user))
    }

    /// `POST /v1/conversation`: a new conversation, or the caller's existing one of that
    /// name, with the given messages appended. One transaction.
    pub fn new_conversation(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        body: NewConversation,
    ) -> Result<CreatedConversation, AppError> {
        self.app
            .sessions()
            .authorize(uow, caller, None, "conversations:write")?;
        let name = name_of(&body.conversation_name, "conversation_name")?;
        let agent = match body
            .agent_id
            .as_deref()
            .or(body.agent_name.as_deref())
            .map(str::trim)
        {
            Some(named) if !named.is_empty() => {
                Some(self.app.agents().visible_agent(uow, caller, named)?.id)
            }
            _ => None,
        };
        let content = match &body.conversation_content {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) if items.len() <= MAX_CONTENT => items.clone(),
            Some(Value::Array(_)) => {
                return Err(invalid(
                    "conversation_content",
                    format!("at most {MAX_CONTENT} messages"),
                ));
            }
            Some(_) => return Err(invalid("conversation_content", "expected a list")),
        };
        let mut messages = Vec::with_capacity(content.len());
        for item in &content {
            let role = text_of(&item["role"], "conversation_content.role", MAX_ROLE)?;
            let text = text_of(
                &item["message"],
                "conversation_content.message",
                MAX_MESSAGE,
            )?;
            messages.push((role, text));
        }
        let conn = uow.conn()?;
        let at = now();
        // The lookup stays outside the transaction, which then starts with a write (see
        // `command_conversation`).
        let existing = store::find_by_name(conn, caller.user, &name)?;
        let id = self.app.write(uow, |work| {
            let conn = work.conn();
            let id = match existing {
                Some(existing) => existing.id,
                None => {
                    let row = ConversationRow {
                        id: ConversationId::new().into(),
                        user_id: caller.user.into(),
                        agent_id: agent.map(Into::into),
                        name: name.clone(),
                        created_at: at,
                        updated_at: at,
                    };
                    store::insert_conversation(conn, &row)?;
                    work.record(DomainEvent::ConversationChanged {
                        conversation: row.id.into(),
                        user: caller.user,
                        change: ConversationChange::Created,
                    });
                    row.id
                }
            };
            let rows: Vec<MessageRow> = messages
                .iter()
                .enumerate()
                .map(|(i, (role, text))| message_row(id, role, text, in_order(at, i)))
                .collect();
            let conn = work.conn();
            store::add_messages(conn, id, &rows, at)?;
            if !rows.is_empty() {
                work.record(messages_changed(id, caller.user, MessagesChange::Added));
            }
            Ok(id)
        })?;
        Ok(CreatedConversation {
            id: id.into(),
            conversation_history: content,
        })
    }

    /// `GET /v1/conversation/{id}?limit=&page=`: page 1 is the newest `limit` messages, in
    /// order. `-` is the caller's scratch conversation (empty until used; never created here).
    pub fn conversation(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        id: &str,
        limit: Option<i64>,
        page: Option<i64>,
    ) -> Result<History, AppError> {
        self.app
            .sessions()
            .authorize(uow, caller, None, "conversations:read")?;
        let limit = limit.unwrap_or(100).clamp(1, 500);
        // Below 1 is page 1, as in the reference; a page past what an offset can count is
        // refused, not wrapped.
        let page = page.unwrap_or(1).max(1);
        let offset =
            page.saturating_sub(1)
                .checked_mul(limit)
                .ok_or_else(|| AppError::Invalid {
                    field: "query.page".into(),
                    message: "page is too large: (page - 1) x limit must fit in 64 bits".into(),
                })?;
        let conn = uow.conn()?;
        let row = if id.trim() == "-" {
            store::find_by_name(conn, caller.user, "-")?
        } else {
            Some(self.own_conversation(conn, caller, id)?)
        };
        let (history, total) = match row {
            Some(row) => {
                let mut rows = store::messages_page(conn, row.id, limit, offset)?;
                rows.reverse();
                (
                    rows.into_iter().map(message_view).collect::<Vec<_>>(),
                    store::count_messages(conn, row.id)?,
                )
            }
            None => (Vec::new(), 0),
        };
        Ok(History {
            conversation_history: history,
            total,
            page,
            limit,
            format: "flat",
        })
    }

    /// `PUT /v1/conversation/{id} {new_conversation_name}`.
    pub fn rename_conversation(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        id: &str,
        new_name: &Value,
    ) -> Result<ConversationName, AppError> {
        self.app
            .sessions()
            .authorize(uow, caller, None, "conversations:write")?;
        let name = name_of(new_name, "new_conversation_name")?;
        let conn = uow.conn()?;
        let row = self.own_conversation(conn, caller, id)?;
        self.app.write(uow, |work| {
            if !store::rename(work.conn(), row.id, &name, now())? {
                return Err(not_found());
            }
            work.record(DomainEvent::ConversationChanged {
                conversation: row.id.into(),
                user: caller.user,
                change: ConversationChange::Renamed,
            });
            Ok(())
        })?;
        Ok(ConversationName {
            id: row.id.into(),
            name,
        })
    }

    /// `DELETE /v1/conversation/{id}`: the conversation and its messages.
    pub fn delete_conversation(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        id: &str,
    ) -> Result<ConversationName, AppError> {
        self.app
            .sessions()
            .authorize(uow, caller, None, "conversations:delete")?;
        let conn = uow.conn()?;
        let row = self.own_conversation(conn, caller, id)?;
        self.app.write(uow, |work| {
            if !store::delete(work.conn(), row.id)? {
                return Err(not_found());
            }
            work.record(DomainEvent::ConversationChanged {
                conversation: row.id.into(),
                user: caller.user,
                change: ConversationChange::Deleted,
            });
            Ok(())
        })?;
        Ok(ConversationName {
            id: row.id.into(),
            name: row.name,
        })
    }

    /// `POST /v1/conversation/fork/{id}/{message_id}`: a new conversation of the caller with
    /// the same agent and copies of the messages up to and including `message_id` (their
    /// times kept). The workspace's files are not copied. One transaction, after the reads.
    pub fn fork_conversation(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        id: &str,
        message: &str,
    ) -> Result<Forked, AppError> {
        self.app
            .sessions()
            .authorize(uow, caller, None, "conversations:write")?;
        let message: MessageId = message
            .trim()
            .parse()
            .map_err(|_| AppError::NotFound("Message not found".into()))?;
        let conn = uow.conn()?;
        let source = self.own_conversation(conn, caller, id)?;
        let copied = store::messages_through(conn, source.id, message.into())?
            .ok_or_else(|| AppError::NotFound("Message not found".into()))?;
        let name: String = format!("{} (fork)", source.name)
            .chars()
            .take(MAX_NAME)
            .collect();
        let at = now();
        // The agent goes with the fork only while the caller still sees it.
        let agent =
            match source.agent_id {
                Some(id) => match self.app.agents().visible_agent(
                    uow,
                    caller,
                    &AgentId::from(id).to_string(),
                ) {
                    Ok(_) => Some(id),
                    Err(AppError::NotFound(_) | AppError::Forbidden(_)) => None,
                    // A database failure is not "no longer visible".
                    Err(other) => return Err(other),
                },
                None => None,
            };
        let fork = ConversationRow {
            id: ConversationId::new().into(),
            user_id: caller.user.into(),
            agent_id: agent,
            name: name.clone(),
            created_at: at,
            updated_at: at,
        };
        let rows: Vec<MessageRow> = copied
            .into_iter()
            .map(|m| MessageRow {
                id: MessageId::new().into(),
                conversation_id: fork.id,
                notify: false,
                ..m
            })
            .collect();
        self.app.write(uow, |work| {
            let conn = work.conn();
            store::insert_conversation(conn, &fork)?;
            store::add_messages(conn, fork.id, &rows, at)?;
            work.record(DomainEvent::ConversationChanged {
                conversation: fork.id.into(),
                user: caller.user,
                change: ConversationChange::Created,
            });
            if !rows.is_empty() {
                work.record(messages_changed(
                    fork.id,
                    caller.user,
                    MessagesChange::Added,
                ));
            }
            Ok(())
        })?;
        Ok(Forked {
            id: fork.id.into(),
            message: format!("Conversation forked as `{name}`."),
            conversation_name: name,
            message_count: rows.len(),
        })
    }
}

fn messages_changed(conversation: DbUuid, user: UserId, change: MessagesChange) -> DomainEvent {
    DomainEvent::MessagesChanged {
        conversation: conversation.into(),
        user,
        change,
    }
}
