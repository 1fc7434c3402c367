//! The read models behind the company lists (`GET /v1/companies`, a company's members), keyed
//! by what changes: each company's roster (its row, its memberships, its children) by company,
//! invalidated by `company.changed` (its own, or a child's creation or deletion) and
//! `access.changed` (a member joined, left or changed role); each member's profile by user,
//! invalidated by `user.updated` (a login's last-seen too) and `user.registered`. A list is
//! assembled from them at request time: no statement once held, three for all the rosters a
//! request misses (and a fourth when it misses profiles the rosters did not bring).

use std::collections::HashMap;
use std::sync::Arc;

use agentry_domain::{CompanyId, UserId};
use agentry_store::Uow;
use agentry_store::companies;
use agentry_store::identity::{self, CompanyRow, UserRow};

use super::Companies;
use crate::AppError;
use crate::read_models::Through;

/// One company as its lists show it, its members' profiles aside.
#[derive(Debug)]
pub struct Roster {
    /// Its row. Its balance columns are as read, not kept current (a charge does not
    /// invalidate rosters): balances come from `Billing::balances`.
    pub(crate) company: CompanyRow,
    /// Its memberships.
    pub(crate) members: Vec<Member>,
    /// Its children, by name.
    pub(crate) children: Vec<CompanyId>,
}

/// A membership as a roster holds it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Member {
    pub(crate) user: UserId,
    pub(crate) role_id: i32,
    /// The member's own ordering of their companies (the reference's `sort_order`).
    pub(crate) sort_order: Option<i32>,
}

impl Roster {
    /// Roughly what it holds in memory.
    pub(crate) fn weight(&self) -> usize {
        self.members
            .len()
            .saturating_mul(std::mem::size_of::<Member>())
            .saturating_add(self.children.len().saturating_mul(16))
            .saturating_add(1024)
    }

    /// `user`'s membership, if they are a member.
    pub(crate) fn member(&self, user: UserId) -> Option<&Member> {
        self.members.iter().find(|m| m.user == user)
    }
}

/// What a member list shows of a user.
#[derive(Debug)]
pub struct Profile {
    pub(crate) email: String,
    pub(crate) first_name: String,
    pub(crate) last_name: String,
    pub(crate) avatar_url: Option<String>,
    pub(crate) last_seen: Option<chrono::NaiveDateTime>,
    pub(crate) status_text: Option<String>,
    pub(crate) is_active: bool,
}

impl Profile {
    pub(crate) fn of(user: &UserRow) -> Self {
        Profile {
            email: user.email.clone(),
            first_name: user.first_name.clone(),
            last_name: user.last_name.clone(),
            avatar_url: user.avatar_url.clone(),
            last_seen: user.last_seen,
            status_text: user.status_text.clone(),
            is_active: user.is_active,
        }
    }

    pub(crate) fn weight(&self) -> usize {
        [
            self.email.len(),
            self.first_name.len(),
            self.last_name.len(),
            self.avatar_url.as_ref().map_or(0, String::len),
            self.status_text.as_ref().map_or(0, String::len),
            128,
        ]
        .iter()
        .fold(0, |sum, part| sum.saturating_add(*part))
    }
}

impl Companies<'_> {
    /// The rosters of `ids`: those held, the others read in three statements (the rows, the
    /// memberships with their users, whose profiles are kept too, and the children). A
    /// company that is gone has none.
    pub(crate) fn rosters(
        &self,
        uow: &mut Uow<'_>,
        ids: &[CompanyId],
    ) -> Result<HashMap<CompanyId, Arc<Roster>>, AppError> {
        self.app.rosters.load_many(uow, ids, |uow, missing| {
            // A ticket before the reads: a write racing them is not undone by these fills.
            let profile_ticket = self.app.profiles.ticket();
            let conn = uow.conn()?;
            let rows = companies::companies_by_ids(conn, missing)?;
            let mut members: HashMap<CompanyId, Vec<Member>> = HashMap::new();
            let mut users: HashMap<UserId, UserRow> = HashMap::new();
            for (membership, user) in companies::members_of(conn, missing)? {
                members
                    .entry(membership.company_id.into())
                    .or_default()
                    .push(Member {
                        user: membership.user_id.into(),
                        role_id: membership.role_id,
                        sort_order: membership.sort_order,
                    });
                users.insert(user.id.into(), user);
            }
            let mut children: HashMap<CompanyId, Vec<CompanyId>> = HashMap::new();
            for child in companies::children_of(conn, missing)? {
                if let Some(parent) = child.parent_id {
                    children
                        .entry(parent.into())
                        .or_default()
                        .push(child.id.into());
                }
            }
            for (user, row) in users {
                self.app
                    .profiles
                    .keep(uow, user, profile_ticket, Profile::of(&row));
            }
            Ok(rows
                .into_iter()
                .map(|row| {
                    let id = CompanyId::from(row.id);
                    let roster = Roster {
                        members: members.remove(&id).unwrap_or_default(),
                        children: children.remove(&id).unwrap_or_default(),
                        company: row,
                    };
                    (id, roster)
                })
                .collect())
        })
    }

    /// The profiles of `users`: those held, the others read in one statement.
    pub(crate) fn profiles(
        &self,
        uow: &mut Uow<'_>,
        users: &[UserId],
    ) -> Result<HashMap<UserId, Arc<Profile>>, AppError> {
        self.app.profiles.load_many(uow, users, |uow, missing| {
            Ok(identity::users_by_ids(uow.conn()?, missing)?
                .iter()
                .map(|row| (UserId::from(row.id), Profile::of(row)))
                .collect())
        })
    }
}
