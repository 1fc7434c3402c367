//! Companies, members, roles and invitations (reference auth-billing.md section 3).

mod invitations;
mod lineage;
mod members;
mod rosters;

pub(crate) use lineage::{billing_changed, payers, root_of};
pub use rosters::{Profile, Roster};

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use agentry_domain::events::{AgentChange, CompanyChange, DomainEvent, InvitationChange};

use agentry_domain::access::Access;
use agentry_domain::{CompanyId, RoleId, UserId};
use agentry_store::AnyConnection;
use agentry_store::DbUuid;
use agentry_store::Uow;
use agentry_store::companies::{self, CompanyPatch, InvitationRow};
use agentry_store::identity::{self, CompanyRow, NewCompany, NewMembership};

use crate::session::{Caller, naive_of, now_epoch};
use crate::{App, AppError};

const UNAUTHORIZED: &str = "Unauthorized. Insufficient permissions.";

fn not_found(what: &str) -> AppError {
    AppError::NotFound(format!("{what} not found"))
}

pub use crate::forms::parse_id;

pub use agentry_api::companies::{
    AcceptedInvitation, CompanyForm, CompanyResponse, CreatedCompany, InvitationForm,
    InvitationView, MemberView, RoleChange,
};

/// Companies, their members, roles and invitations. A view of the application's
/// [`Context`](crate::Context), taken with [`App::companies`](crate::App::companies).
#[derive(Clone, Copy)]
pub struct Companies<'a> {
    pub(crate) app: &'a App,
}

fn role_name(role_id: i32) -> String {
    RoleId(role_id)
        .role()
        .map_or_else(|| role_id.to_string(), |role| role.name.to_owned())
}

/// A member as the lists show them: a deactivated account as "Inactive" (role 0).
fn member_view(member: &rosters::Member, user: UserId, profile: &Profile) -> MemberView {
    let (role, role_id) = if profile.is_active {
        (role_name(member.role_id), member.role_id)
    } else {
        ("Inactive".to_owned(), 0)
    };
    MemberView {
        id: user,
        email: profile.email.clone(),
        first_name: profile.first_name.clone(),
        last_name: profile.last_name.clone(),
        role,
        role_id,
        avatar_url: profile.avatar_url.clone(),
        last_seen: profile.last_seen,
        status_text: profile.status_text.clone(),
    }
}

/// The members of `roster` with `profiles`, by email (those whose profile is gone are left
/// out).
fn members_view(roster: &Roster, profiles: &HashMap<UserId, Arc<Profile>>) -> Vec<MemberView> {
    let mut members: Vec<MemberView> = roster
        .members
        .iter()
        .filter_map(|m| Some(member_view(m, m.user, profiles.get(&m.user)?)))
        .collect();
    members.sort_by(|a, b| a.email.cmp(&b.email));
    members
}

fn company_response(
    company: &CompanyRow,
    users: Vec<MemberView>,
    children: Vec<CompanyResponse>,
) -> CompanyResponse {
    CompanyResponse {
        id: company.id.into(),
        name: company.name.clone(),
        company_id: company.parent_id.map(Into::into),
        status: company.status,
        address: company.address.clone(),
        phone_number: company.phone_number.clone(),
        email: company.email.clone(),
        website: company.website.clone(),
        city: company.city.clone(),
        state: company.state.clone(),
        zip_code: company.zip_code.clone(),
        country: company.country.clone(),
        notes: company.notes.clone(),
        icon_url: company.icon_url.clone(),
        users,
        children,
    }
}

fn trimmed(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned())
}

/// What a company form changes (checked).
fn company_patch(form: CompanyForm) -> Result<CompanyPatch, AppError> {
    let name = trimmed(form.name);
    if name
        .as_deref()
        .is_some_and(|n| n.is_empty() || n.chars().count() > 200)
    {
        return Err(AppError::Invalid {
            field: "name".into(),
            message: "a company name has 1 to 200 characters".into(),
        });
    }
    Ok(CompanyPatch {
        name,
        agent_name: trimmed(form.agent_name).filter(|a| !a.is_empty()),
        status: form.status,
        address: form.address,
        phone_number: form.phone_number,
        email: form.email,
        website: form.website,
        city: form.city,
        state: form.state,
        zip_code: form.zip_code,
        country: form.country,
        notes: form.notes,
        icon_url: form.icon_url,
        updated_at: Some(naive_of(now_epoch())),
    })
}

impl Companies<'_> {
    /// The caller's membership of `company`, or 404 (foreign ids look like unknown ones). A
    /// super admin reaches every company.
    pub(crate) fn require_company(
        &self,
        access: &Access,
        company: CompanyId,
    ) -> Result<(), AppError> {
        if access.is_member(company) || access.is_super_admin() {
            Ok(())
        } else {
            Err(not_found("Company"))
        }
    }

    pub(crate) fn require_scope(
        &self,
        access: &Access,
        company: CompanyId,
        scope: &str,
    ) -> Result<(), AppError> {
        self.require_company(access, company)?;
        if access.allows(Some(company), scope) {
            Ok(())
        } else {
            Err(AppError::insufficient(scope))
        }
    }

    /// The caller's role in `company` (super admins count as role 0 everywhere).
    fn role_in(access: &Access, company: CompanyId) -> RoleId {
        if access.is_super_admin() {
            return RoleId::SUPER_ADMIN;
        }
        access
            .in_company(company)
            .map_or(RoleId(i32::MAX), |membership| membership.role)
    }

    /// `GET /v1/companies`: the caller's companies (through a token limited to some, only
    /// those), in their order (`sort_order`, then name); members listed where the caller
    /// holds `users:read`; children of top-level companies with their members where the
    /// caller may read the parent's. Assembled from the rosters and profiles (`rosters`):
    /// no statement once they are held.
    pub fn list_companies(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
    ) -> Result<Vec<CompanyResponse>, AppError> {
        caller.require("account:read")?;
        let access = self.app.sessions().caller_access(uow, caller)?;
        let mine: Vec<CompanyId> = access.companies.iter().map(|c| c.company).collect();
        let mut rosters = self.rosters(uow, &mine)?;
        let children: Vec<CompanyId> = mine
            .iter()
            .filter_map(|id| rosters.get(id))
            .filter(|roster| roster.company.parent_id.is_none())
            .flat_map(|roster| roster.children.iter().copied())
            .collect();
        let children = self.rosters(uow, &children)?;
        rosters.extend(children);
        // Whose members show: a company's where the caller may read them, a child's where
        // they may read its parent's.
        let shows_members = |roster: &Roster| {
            let reader = roster.company.parent_id.map_or(roster.company.id, |p| p);
            access.allows(Some(reader.into()), "users:read")
        };
        let mut users: Vec<UserId> = rosters
            .values()
            .filter(|roster| shows_members(roster))
            .flat_map(|roster| roster.members.iter().map(|m| m.user))
            .collect();
        users.sort();
        users.dedup();
        let profiles = self.profiles(uow, &users)?;
        let members = |roster: &Roster| {
            if shows_members(roster) {
                members_view(roster, &profiles)
            } else {
                Vec::new()
            }
        };
        // The caller's own order of their companies: `sort_order` (nulls last), then name.
        let mut listed: Vec<&Arc<Roster>> = mine.iter().filter_map(|id| rosters.get(id)).collect();
        listed.sort_by_cached_key(|roster| {
            let order = roster.member(caller.user).and_then(|m| m.sort_order);
            (order.is_none(), order, roster.company.name.to_lowercase())
        });
        Ok(listed
            .into_iter()
            .map(|roster| {
                let children = if roster.company.parent_id.is_none() {
                    // By name (a child renamed since its parent's roster was read moves).
                    let mut children: Vec<&Arc<Roster>> = roster
                        .children
                        .iter()
                        .filter_map(|child| rosters.get(child))
                        .collect();
                    children.sort_by(|a, b| a.company.name.cmp(&b.company.name));
                    children
                        .into_iter()
                        .map(|child| company_response(&child.company, members(child), Vec::new()))
                        .collect()
                } else {
                    Vec::new()
                };
                company_response(&roster.company, members(roster), children)
            })
            .collect())
    }

    /// `POST /v1/companies`: a new company with the caller as its admin. Callers below tenant
    /// admin may only create children of their current company, and need `company:write`
    /// there.
    pub fn create_company(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        form: CompanyForm,
    ) -> Result<CreatedCompany, AppError> {
        let access = self.app.sessions().caller_access(uow, caller)?;
        let requested_parent = match form.parent_company_id.as_deref().map(str::trim) {
            Some(id) if !id.is_empty() => Some(parse_id::<CompanyId>(id, "Company")?),
            _ => None,
        };
        // Tenant admins and up may create top-level companies, or children of a company where
        // they hold `company:write`; never through a personal access token.
        let privileged = !access.limited
            && (access.is_super_admin()
                || access
                    .companies
                    .iter()
                    .any(|c| c.role == RoleId::TENANT_ADMIN));
        let parent = if privileged {
            if let Some(parent) = requested_parent {
                self.require_scope(&access, parent, "company:write")?;
            }
            requested_parent
        } else {
            // A child of the company named (one the caller belongs to: another company's id
            // is 404, never silently replaced), else of the current company.
            let parent = match requested_parent {
                Some(parent) => access
                    .in_company(parent)
                    .ok_or_else(|| not_found("Company"))?,
                None => access
                    .primary()
                    .ok_or_else(|| AppError::Forbidden(UNAUTHORIZED.into()))?,
            };
            if !parent.role.is_admin() || !access.allows(Some(parent.company), "company:write") {
                return Err(AppError::insufficient("company:write"));
            }
            Some(parent.company)
        };
        let name = trimmed(form.name.clone()).unwrap_or_default();
        let patch = company_patch(form)?;
        if name.is_empty() {
            return Err(AppError::Invalid {
                field: "name".into(),
                message: "a company name has 1 to 200 characters".into(),
            });
        }
        let now = naive_of(now_epoch());
        let company = CompanyId::new();
        self.app.write(uow, |work| {
            let conn = work.conn();
            identity::insert_companies(
                conn,
                &[NewCompany {
                    id: company.into(),
                    parent_id: parent.map(Into::into),
                    name: name.clone(),
                    agent_name: patch.agent_name.clone().unwrap_or_else(|| "AGiXT".into()),
                    created_at: now,
                    updated_at: now,
                }],
            )?;
            companies::update_company(conn, company, &patch)?;
            identity::insert_memberships(
                conn,
                &[NewMembership::new(
                    caller.user,
                    company,
                    RoleId::COMPANY_ADMIN,
                    now,
                )],
            )?;
            work.record(DomainEvent::CompanyChanged {
                company,
                change: CompanyChange::Created,
                members: Vec::new(),
                parent,
            });
            work.record(DomainEvent::AccessChanged {
                user: caller.user,
                company: Some(company),
            });
            Ok(())
        })?;
        Ok(CreatedCompany { id: company, name })
    }

    /// `PUT`/`PATCH /v1/companies/{id}`: needs `company:write` in that company.
    pub fn update_company(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        company: CompanyId,
        form: CompanyForm,
    ) -> Result<CompanyResponse, AppError> {
        let access = self.app.sessions().caller_access(uow, caller)?;
        self.require_scope(&access, company, "company:write")?;
        let patch = company_patch(form)?;
        let row = self.app.write(uow, |work| {
            let conn = work.conn();
            if !companies::update_company(conn, company, &patch)? {
                return Err(not_found("Company"));
            }
            let row =
                companies::find_company(conn, company)?.ok_or_else(|| not_found("Company"))?;
            // Every member's view shows the company.
            let members = member_ids(conn, company)?;
            work.record(DomainEvent::CompanyChanged {
                company,
                change: CompanyChange::Updated,
                members,
                parent: None,
            });
            Ok(row)
        })?;
        Ok(company_response(&row, Vec::new(), Vec::new()))
    }

    /// `DELETE /v1/companies/{id}`: needs `company:delete` (tenant admins and up).
    pub fn delete_company(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        company: CompanyId,
    ) -> Result<(), AppError> {
        let access = self.app.sessions().caller_access(uow, caller)?;
        self.require_scope(&access, company, "company:delete")?;
        self.app.write(uow, |work| {
            let conn = work.conn();
            // It and the companies below are locked (PostgreSQL) before their members are
            // read: a membership or a child created in them meanwhile waits for this
            // deletion, and its own event then reaches the new member after it.
            companies::lock_companies(conn, &[company])?;
            // Its parent lists it among its children.
            let parent = companies::find_company(conn, company)?
                .ok_or_else(|| not_found("Company"))?
                .parent_id
                .map(CompanyId::from);
            let members = member_ids(conn, company)?;
            // Deleting it orphans its children (their parent becomes none) and unshares its
            // agents (their company becomes none): changes the database makes, which the
            // events must name too. Every company below it changes lineage (the children
            // become roots and pay for themselves and their own descendants): their members'
            // access (a parent) and views (the payer) are stale.
            let below: Vec<CompanyId> = companies::descendants_of(conn, &[company])?
                .into_iter()
                .map(|link| link.relative.into())
                .collect();
            companies::lock_companies(conn, &below)?;
            let mut below_members: BTreeMap<CompanyId, Vec<UserId>> =
                below.iter().map(|child| (*child, Vec::new())).collect();
            for (membership, _) in companies::members_of(conn, &below)? {
                below_members
                    .entry(membership.company_id.into())
                    .or_default()
                    .push(membership.user_id.into());
            }
            let agents = agentry_store::agents::agents_of_company(conn, company)?;
            if !companies::delete_company(conn, company)? {
                return Err(not_found("Company"));
            }
            work.record(DomainEvent::CompanyChanged {
                company,
                change: CompanyChange::Deleted,
                members,
                parent,
            });
            for (child, members) in below_members {
                work.record(DomainEvent::CompanyChanged {
                    company: child,
                    change: CompanyChange::Updated,
                    members,
                    parent: None,
                });
            }
            // Its agents lose their company: their owners' lists show that (its shared
            // list goes with the company's deletion).
            for agent in agents {
                work.record(DomainEvent::AgentChanged {
                    agent: agent.id.into(),
                    change: AgentChange::Updated,
                    owner: Some(agent.user_id.into()),
                    sharing: Vec::new(),
                });
            }
            Ok(())
        })
    }
}

/// The ids of `company`'s members.
fn member_ids(conn: &mut AnyConnection, company: CompanyId) -> Result<Vec<UserId>, AppError> {
    Ok(companies::members_of(conn, &[company])?
        .into_iter()
        .map(|(membership, _)| membership.user_id.into())
        .collect())
}
