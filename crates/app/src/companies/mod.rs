//! Companies, members, roles and invitations (reference auth-billing.md section 3).

mod invitations;
mod lineage;
mod members;

pub(crate) use lineage::{billing_changed, payers, root_of};

use std::collections::{BTreeMap, HashMap};

use agentry_domain::events::{AgentChange, CompanyChange, DomainEvent, InvitationChange};

use agentry_domain::access::Access;
use agentry_domain::{CompanyId, RoleId, UserId};
use agentry_store::AnyConnection;
use agentry_store::DbUuid;
use agentry_store::Uow;
use agentry_store::companies::{self, CompanyPatch, InvitationRow};
use agentry_store::identity::{
    self, CompanyRow, MembershipRow, NewCompany, NewMembership, UserRow,
};

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

fn member_view(membership: &MembershipRow, user: &UserRow) -> MemberView {
    let (role, role_id) = if user.is_active {
        (role_name(membership.role_id), membership.role_id)
    } else {
        ("Inactive".to_owned(), 0)
    };
    MemberView {
        id: user.id.into(),
        email: user.email.clone(),
        first_name: user.first_name.clone(),
        last_name: user.last_name.clone(),
        role,
        role_id,
        avatar_url: user.avatar_url.clone(),
        last_seen: user.last_seen,
        status_text: user.status_text.clone(),
    }
}

fn company_response(
    company: CompanyRow,
    users: Vec<MemberView>,
    children: Vec<CompanyResponse>,
) -> CompanyResponse {
    CompanyResponse {
        id: company.id.into(),
        name: company.name,
        company_id: company.parent_id.map(Into::into),
        status: company.status,
        address: company.address,
        phone_number: company.phone_number,
        email: company.email,
        website: company.website,
        city: company.city,
        state: company.state,
        zip_code: company.zip_code,
        country: company.country,
        notes: company.notes,
        icon_url: company.icon_url,
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

    /// `GET /v1/companies`: the caller's companies; members listed where the caller holds
    /// `users:read`; children of top-level companies with their members. Four statements
    /// whatever the number of companies.
    pub fn list_companies(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
    ) -> Result<Vec<CompanyResponse>, AppError> {
        caller.require("account:read")?;
        let access = self.app.sessions().caller_access(uow, caller)?;
        let conn = uow.conn()?;
        // Through a token limited to some companies, only those.
        let views: Vec<_> = identity::memberships_for(conn, caller.user)?
            .into_iter()
            .filter(|view| access.is_member(view.company.id.into()))
            .collect();
        let ids: Vec<CompanyId> = views.iter().map(|v| v.company.id.into()).collect();
        let top_level: Vec<CompanyId> = views
            .iter()
            .filter(|v| v.company.parent_id.is_none())
            .map(|v| v.company.id.into())
            .collect();
        let children = companies::children_of(conn, &top_level)?;
        let mut wanted = ids.clone();
        wanted.extend(children.iter().map(|c| CompanyId::from(c.id)));
        let mut members: HashMap<DbUuid, Vec<MemberView>> = HashMap::new();
        for (membership, user) in companies::members_of(conn, &wanted)? {
            members
                .entry(membership.company_id)
                .or_default()
                .push(member_view(&membership, &user));
        }
        let mut children_by_parent: HashMap<DbUuid, Vec<CompanyResponse>> = HashMap::new();
        for child in children {
            let Some(parent) = child.parent_id else {
                continue;
            };
            // A child's members show to those who may read the parent's members.
            let users = if access.allows(Some(parent.into()), "users:read") {
                members.get(&child.id).cloned().unwrap_or_default()
            } else {
                Vec::new()
            };
            children_by_parent
                .entry(parent)
                .or_default()
                .push(company_response(child, users, Vec::new()));
        }
        Ok(views
            .into_iter()
            .map(|view| {
                let id: CompanyId = view.company.id.into();
                let users = if access.allows(Some(id), "users:read") {
                    members.get(&view.company.id).cloned().unwrap_or_default()
                } else {
                    Vec::new()
                };
                let children = children_by_parent
                    .remove(&view.company.id)
                    .unwrap_or_default();
                company_response(view.company, users, children)
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
            });
            Ok(row)
        })?;
        Ok(company_response(row, Vec::new(), Vec::new()))
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
            let members = member_ids(conn, company)?;
            // A shared agent was seen by every member too.
            let sharers = members.clone();
            // Deleting it orphans its children (their parent becomes none) and unshares its
            // agents (their company becomes none): changes the database makes, which the
            // events must name too. Every company below it changes lineage (the children
            // become roots and pay for themselves and their own descendants): their members'
            // access (a parent) and views (the payer) are stale.
            let below: Vec<CompanyId> = companies::descendants_of(conn, &[company])?
                .into_iter()
                .map(|link| link.relative.into())
                .collect();
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
            });
            for (child, members) in below_members {
                work.record(DomainEvent::CompanyChanged {
                    company: child,
                    change: CompanyChange::Updated,
                    members,
                });
            }
            for agent in agents {
                let mut viewers = vec![UserId::from(agent.user_id)];
                if agent.shared {
                    viewers.extend(sharers.iter().copied());
                    viewers.sort();
                    viewers.dedup();
                }
                work.record(DomainEvent::AgentChanged {
                    agent: agent.id.into(),
                    change: AgentChange::Updated,
                    viewers,
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
