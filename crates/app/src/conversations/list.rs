//! `GET /v1/conversations`: each user's list of conversations, a read model keyed by the user
//! (whose conversations they are). A conversation created, renamed, forked or deleted, or a
//! message that moves it to the top (`conversation.changed`, `conversation.messages_changed`)
//! invalidates it. The agents' names it shows come from a read model keyed by agent (any
//! `agent.changed` invalidates it): a rename reaches every list, whoever sees the agent now.
//! Pages are cut from the held list: no statement once it and the names are held. A user with
//! more than [`KEPT`] conversations is paged in SQL instead, so no list pins memory.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use agentry_domain::{AgentId, ConversationId, UserId};
use agentry_store::Uow;
use agentry_store::conversations::{self as store, ConversationRow};
use agentry_store::{DbUuid, agents as agent_store};

use super::{ConversationEntry, ConversationName, ConversationPage, Conversations};
use crate::AppError;
use crate::read_models::Through;
use crate::session::Caller;

/// The most conversations a held list keeps.
const KEPT: i64 = 1_000;

/// A user's conversations, newest first; `None` when they have more than [`KEPT`] (paged in
/// SQL).
#[derive(Debug)]
pub struct ConversationList(Option<Vec<ConversationRow>>);

impl ConversationList {
    /// Roughly what it holds in memory.
    pub(crate) fn weight(&self) -> usize {
        self.0.as_ref().map_or(64, |rows| {
            rows.iter()
                .map(|row| row.name.len().saturating_add(120))
                .sum::<usize>()
                .saturating_add(64)
        })
    }
}

impl Conversations<'_> {
    /// `GET /v1/conversations?limit=&offset=`: the reference's dict by id (newest first in
    /// `conversations_with_ids`); from the held list, or paged in SQL past [`KEPT`].
    pub fn conversations(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        limit: Option<i64>,
        offset: Option<i64>,
    ) -> Result<ConversationPage, AppError> {
        self.app
            .sessions()
            .authorize(uow, caller, None, "conversations:read")?;
        let (limit, offset) = (
            limit.unwrap_or(100).clamp(1, 500),
            offset.unwrap_or(0).max(0),
        );
        let user = caller.user;
        let list = self
            .app
            .conversation_lists
            .load(uow, &user, |uow| self.load_list(uow, user))?;
        let (rows, total) = match &list.0 {
            Some(rows) => {
                let total = i64::try_from(rows.len()).unwrap_or(i64::MAX);
                let start = usize::try_from(offset)
                    .unwrap_or(usize::MAX)
                    .min(rows.len());
                let end = start
                    .saturating_add(usize::try_from(limit).unwrap_or(0))
                    .min(rows.len());
                (std::borrow::Cow::Borrowed(&rows[start..end]), total)
            }
            None => {
                let conn = uow.conn()?;
                let rows = store::page_for_user(conn, user, limit, offset)?;
                let total = store::count_for_user(conn, user)?;
                (std::borrow::Cow::Owned(rows), total)
            }
        };
        let names = self.agent_names(uow, &rows)?;
        Ok(page(&rows, &names, total, limit, offset))
    }

    /// A user's list (one statement), or `None` past [`KEPT`] conversations.
    fn load_list(&self, uow: &mut Uow<'_>, user: UserId) -> Result<ConversationList, AppError> {
        let rows = store::page_for_user(uow.conn()?, user, KEPT.saturating_add(1), 0)?;
        if i64::try_from(rows.len()).unwrap_or(i64::MAX) > KEPT {
            return Ok(ConversationList(None));
        }
        Ok(ConversationList(Some(rows)))
    }

    /// The names of the agents of `rows`: those held, the others read in one statement (an
    /// agent that is gone has none).
    fn agent_names(
        &self,
        uow: &mut Uow<'_>,
        rows: &[ConversationRow],
    ) -> Result<HashMap<DbUuid, Arc<Option<String>>>, AppError> {
        let agents: Vec<AgentId> = rows
            .iter()
            .filter_map(|c| c.agent_id)
            .map(AgentId::from)
            .collect();
        let names = self
            .app
            .agent_names
            .load_many(uow, &agents, |uow, missing| {
                let ids: Vec<DbUuid> = missing.iter().copied().map(DbUuid::from).collect();
                let mut names: HashMap<AgentId, String> =
                    agent_store::find_agents(uow.conn()?, &ids)?
                        .into_iter()
                        .map(|a| (a.id.into(), a.name))
                        .collect();
                // An agent that is gone is kept as none.
                Ok::<_, AppError>(missing.iter().map(|id| (*id, names.remove(id))).collect())
            })?;
        Ok(names
            .into_iter()
            .map(|(agent, name)| (DbUuid::from(agent), name))
            .collect())
    }
}

/// The page of `rows` in the reference's shape.
fn page(
    rows: &[ConversationRow],
    names: &HashMap<DbUuid, Arc<Option<String>>>,
    total: i64,
    limit: i64,
    offset: i64,
) -> ConversationPage {
    let mut by_id = BTreeMap::new();
    let mut with_ids = Vec::with_capacity(rows.len());
    for row in rows {
        let id = ConversationId::from(row.id);
        // An agent that is gone shows as none, as the database has it since (its deletion
        // sets the conversations' agent to null without naming them).
        let agent = row
            .agent_id
            .and_then(|a| Some((a, names.get(&a)?.as_ref().clone()?)));
        by_id.insert(
            id.to_string(),
            ConversationEntry {
                name: row.name.clone(),
                display_name: row.name.clone(),
                agent_id: agent.as_ref().map(|(id, _)| AgentId::from(*id)),
                agent_name: agent.map(|(_, name)| name),
                conversation_type: "private",
                created_at: row.created_at,
                updated_at: row.updated_at,
                has_notifications: false,
                summary: None,
                attachment_count: 0,
                pin_order: None,
                parent_id: None,
                locked: false,
            },
        );
        with_ids.push(ConversationName {
            id,
            name: row.name.clone(),
        });
    }
    let next = offset.checked_add(limit).filter(|next| *next < total);
    ConversationPage {
        conversations: by_id,
        conversations_with_ids: with_ids,
        total,
        pinned_count: 0,
        unread_count: 0,
        next_cursor: next,
    }
}
