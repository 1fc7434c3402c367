//! Conversations and their messages. Lists are paged in SQL; a page of messages is one
//! statement, and so is a page of conversations.

use agentry_domain::UserId;
use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::{conversations, messages};
use crate::{AnyConnection, DbUuid, StoreError, per_backend};

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, Identifiable)]
#[diesel(table_name = conversations)]
#[diesel(treat_none_as_default_value = false)]
pub struct ConversationRow {
    pub id: DbUuid,
    pub user_id: DbUuid,
    pub agent_id: Option<DbUuid>,
    pub name: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, Identifiable)]
#[diesel(table_name = messages)]
#[diesel(treat_none_as_default_value = false)]
pub struct MessageRow {
    pub id: DbUuid,
    pub conversation_id: DbUuid,
    pub role: String,
    pub content: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub updated_by: Option<String>,
    pub feedback_received: bool,
    pub notify: bool,
}

pub fn insert_conversation(
    conn: &mut AnyConnection,
    row: &ConversationRow,
) -> Result<(), StoreError> {
    per_backend!(&mut *conn, |c| diesel::insert_into(conversations::table)
        .values(row)
        .execute(c))?;
    Ok(())
}

pub fn find(conn: &mut AnyConnection, id: DbUuid) -> Result<Option<ConversationRow>, StoreError> {
    Ok(conversations::table
        .find(id)
        .select(ConversationRow::as_select())
        .first(conn)
        .optional()?)
}

/// `user`'s oldest conversation named `name` (names are not unique, as in the reference).
pub fn find_by_name(
    conn: &mut AnyConnection,
    user: UserId,
    name: &str,
) -> Result<Option<ConversationRow>, StoreError> {
    Ok(conversations::table
        .filter(conversations::user_id.eq(DbUuid::from(user)))
        .filter(conversations::name.eq(name))
        .select(ConversationRow::as_select())
        .order((conversations::created_at, conversations::id))
        .first(conn)
        .optional()?)
}

/// A page of `user`'s conversations, most recently updated first.
pub fn page_for_user(
    conn: &mut AnyConnection,
    user: UserId,
    limit: i64,
    offset: i64,
) -> Result<Vec<ConversationRow>, StoreError> {
    Ok(conversations::table
        .filter(conversations::user_id.eq(DbUuid::from(user)))
        .select(ConversationRow::as_select())
        .order((conversations::updated_at.desc(), conversations::id))
        .limit(limit)
        .offset(offset)
        .load(conn)?)
}

pub fn count_for_user(conn: &mut AnyConnection, user: UserId) -> Result<i64, StoreError> {
    Ok(conversations::table
        .filter(conversations::user_id.eq(DbUuid::from(user)))
        .count()
        .get_result(conn)?)
}

pub fn rename(
    conn: &mut AnyConnection,
    id: DbUuid,
    name: &str,
    now: NaiveDateTime,
) -> Result<bool, StoreError> {
    Ok(diesel::update(conversations::table.find(id))
        .set((
            conversations::name.eq(name),
            conversations::updated_at.eq(now),
        ))
        .execute(conn)?
        == 1)
}

/// Delete a conversation and (cascade) its messages.
pub fn delete(conn: &mut AnyConnection, id: DbUuid) -> Result<bool, StoreError> {
    Ok(diesel::delete(conversations::table.find(id)).execute(conn)? == 1)
}

/// Add messages (one statement per 500) and mark the conversation updated.
pub fn add_messages(
    conn: &mut AnyConnection,
    conversation: DbUuid,
    rows: &[MessageRow],
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    // 500 rows of 9 columns stay far below both backends' bind-parameter limits.
    for chunk in rows.chunks(500) {
        per_backend!(&mut *conn, |c| diesel::insert_into(messages::table)
            .values(chunk)
            .execute(c))?;
    }
    diesel::update(conversations::table.find(conversation))
        .set(conversations::updated_at.eq(now))
        .execute(conn)?;
    Ok(())
}

/// The newest `limit` messages after skipping `offset` newest ones, newest first.
pub fn messages_page(
    conn: &mut AnyConnection,
    conversation: DbUuid,
    limit: i64,
    offset: i64,
) -> Result<Vec<MessageRow>, StoreError> {
    Ok(messages::table
        .filter(messages::conversation_id.eq(conversation))
        .select(MessageRow::as_select())
        .order((messages::created_at.desc(), messages::id.desc()))
        .limit(limit)
        .offset(offset)
        .load(conn)?)
}

pub fn count_messages(conn: &mut AnyConnection, conversation: DbUuid) -> Result<i64, StoreError> {
    Ok(messages::table
        .filter(messages::conversation_id.eq(conversation))
        .count()
        .get_result(conn)?)
}

/// Replace a message's text; false when no such message is in the conversation.
pub fn update_message(
    conn: &mut AnyConnection,
    conversation: DbUuid,
    message: DbUuid,
    content: &str,
    by: &str,
    now: NaiveDateTime,
) -> Result<bool, StoreError> {
    Ok(diesel::update(
        messages::table
            .filter(messages::conversation_id.eq(conversation))
            .filter(messages::id.eq(message)),
    )
    .set((
        messages::content.eq(content),
        messages::updated_at.eq(now),
        messages::updated_by.eq(Some(by)),
    ))
    .execute(conn)?
        == 1)
}

pub fn delete_message(
    conn: &mut AnyConnection,
    conversation: DbUuid,
    message: DbUuid,
) -> Result<bool, StoreError> {
    Ok(diesel::delete(
        messages::table
            .filter(messages::conversation_id.eq(conversation))
            .filter(messages::id.eq(message)),
    )
    .execute(conn)?
        == 1)
}

/// The messages of `conversation` up to and including `message`, oldest first (two
/// statements); `None` when the message is not in the conversation.
pub fn messages_through(
    conn: &mut AnyConnection,
    conversation: DbUuid,
    message: DbUuid,
) -> Result<Option<Vec<MessageRow>>, StoreError> {
    let at: Option<NaiveDateTime> = messages::table
        .filter(messages::conversation_id.eq(conversation))
        .filter(messages::id.eq(message))
        .select(messages::created_at)
        .first(conn)
        .optional()?;
    let Some(at) = at else {
        return Ok(None);
    };
    Ok(Some(
        messages::table
            .filter(messages::conversation_id.eq(conversation))
            .filter(
                messages::created_at
                    .lt(at)
                    .or(messages::created_at.eq(at).and(messages::id.le(message))),
            )
            .select(MessageRow::as_select())
            .order((messages::created_at, messages::id))
            .load(conn)?,
    ))
}
