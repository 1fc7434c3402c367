//! Companies, members, roles and invitations (reference auth-billing.md section 3).

use std::collections::HashMap;

use agentry_domain::events::{CompanyChange, DomainEvent};

use agentry_domain::access::Access;
use agentry_domain::{CompanyId, RoleId, UserId};
use agentry_store::AnyConnection;
use agentry_store::DbUuid;
use agentry_store::companies::{self, CompanyPatch, InvitationRow};
use agentry_store::identity::{
    self, CompanyRow, MembershipRow, NewCompany, NewMembership, UserRow,
};
use serde::{Deserialize, Serialize};

use crate::session::{Caller, naive_of, now_epoch};
use crate::{App, AppError};

const UNAUTHORIZED: &str = "Unauthorized. Insufficient permissions.";

fn not_found(what: &str) -> AppError {
    AppError::NotFound(format!("{what} not found"))
}

/// Parse an id from a path or body: a malformed one is as unknown as a foreign one.
pub fn parse_id<T: std::str::FromStr>(text: &str, what: &str) -> Result<T, AppError> {
    text.trim().parse().map_err(|_| not_found(what))
}

#[derive(Debug, Clone, Serialize)]
pub struct MemberView {
    pub id: UserId,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    /// The role's name ("Inactive" for a deactivated account).
    pub role: String,
    pub role_id: i32,
    pub avatar_url: Option<String>,
    pub last_seen: Option<chrono::NaiveDateTime>,
    pub status_text: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CompanyResponse {
    pub id: CompanyId,
    pub name: String,
    pub company_id: Option<CompanyId>,
    pub status: bool,
    pub address: Option<String>,
    pub phone_number: Option<String>,
    pub email: Option<String>,
    pub website: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub zip_code: Option<String>,
    pub country: Option<String>,
    pub notes: Option<String>,
    pub icon_url: Option<String>,
    pub users: Vec<MemberView>,
    pub children: Vec<CompanyResponse>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AcceptedInvitation {
    pub detail: &'static str,
    pub company_id: CompanyId,
    pub role_id: i32,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct CompanyForm {
    pub name: Option<String>,
    #[serde(default)]
    pub parent_company_id: Option<String>,
    #[serde(default)]
    pub agent_name: Option<String>,
    #[serde(default)]
    pub status: Option<bool>,
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub phone_number: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub website: Option<String>,
    #[serde(default)]
    pub city: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub zip_code: Option<String>,
    #[serde(default)]
    pub country: Option<String>,
    #[serde(default)]
    pub notes: Option<String>,
    #[serde(default)]
    pub icon_url: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CreatedCompany {
    pub id: CompanyId,
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RoleChange {
    pub role_id: i32,
    pub company_id: String,
    pub user_id: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct InvitationForm {
    pub email: String,
    #[serde(default)]
    pub company_id: Option<String>,
    #[serde(default)]
    pub role_id: Option<i32>,
    #[serde(default)]
    pub skip_email: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct InvitationView {
    /// The invitation's id, or "none" when the invitee already had an account and was added.
    pub id: String,
    pub invitation_link: String,
    pub email: String,
    pub company_id: CompanyId,
    pub role_id: i32,
    pub inviter_id: Option<UserId>,
    pub created_at: chrono::NaiveDateTime,
    pub is_accepted: bool,
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

impl CompanyForm {
    fn patch(self) -> Result<CompanyPatch, AppError> {
        let name = trimmed(self.name);
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
            agent_name: trimmed(self.agent_name).filter(|a| !a.is_empty()),
            status: self.status,
            address: self.address,
            phone_number: self.phone_number,
            email: self.email,
            website: self.website,
            city: self.city,
            state: self.state,
            zip_code: self.zip_code,
            country: self.country,
            notes: self.notes,
            icon_url: self.icon_url,
            updated_at: Some(naive_of(now_epoch())),
        })
    }
}

impl App {
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
    pub fn list_companies(&self, caller: &Caller) -> Result<Vec<CompanyResponse>, AppError> {
        caller.require("account:read")?;
        let access = self.caller_access(caller)?;
        let mut conn = self.conn()?;
        // Through a token limited to some companies, only those.
        let views: Vec<_> = identity::memberships_for(&mut conn, caller.user)?
            .into_iter()
            .filter(|view| access.is_member(view.company.id.into()))
            .collect();
        let ids: Vec<CompanyId> = views.iter().map(|v| v.company.id.into()).collect();
        let top_level: Vec<CompanyId> = views
            .iter()
            .filter(|v| v.company.parent_id.is_none())
            .map(|v| v.company.id.into())
            .collect();
        let children = companies::children_of(&mut conn, &top_level)?;
        let mut wanted = ids.clone();
        wanted.extend(children.iter().map(|c| CompanyId::from(c.id)));
        let mut members: HashMap<DbUuid, Vec<MemberView>> = HashMap::new();
        for (membership, user) in companies::members_of(&mut conn, &wanted)? {
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
        caller: &Caller,
        form: CompanyForm,
    ) -> Result<CreatedCompany, AppError> {
        let access = self.caller_access(caller)?;
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
        let patch = form.patch()?;
        if name.is_empty() {
            return Err(AppError::Invalid {
                field: "name".into(),
                message: "a company name has 1 to 200 characters".into(),
            });
        }
        let now = naive_of(now_epoch());
        let company = CompanyId::new();
        let mut conn = self.conn()?;
        self.write(&mut conn, |work| {
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
        caller: &Caller,
        company: CompanyId,
        form: CompanyForm,
    ) -> Result<CompanyResponse, AppError> {
        let access = self.caller_access(caller)?;
        self.require_scope(&access, company, "company:write")?;
        let patch = form.patch()?;
        let mut conn = self.conn()?;
        let row = self.write(&mut conn, |work| {
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
    pub fn delete_company(&self, caller: &Caller, company: CompanyId) -> Result<(), AppError> {
        let access = self.caller_access(caller)?;
        self.require_scope(&access, company, "company:delete")?;
        let mut conn = self.conn()?;
        self.write(&mut conn, |work| {
            let conn = work.conn();
            let members = member_ids(conn, company)?;
            if !companies::delete_company(conn, company)? {
                return Err(not_found("Company"));
            }
            work.record(DomainEvent::CompanyChanged {
                company,
                change: CompanyChange::Deleted,
                members,
            });
            Ok(())
        })
    }

    /// `GET /v1/companies/{id}/members`: any member may list the others.
    pub fn company_members(
        &self,
        caller: &Caller,
        company: CompanyId,
    ) -> Result<Vec<MemberView>, AppError> {
        caller.require("users:read")?;
        let access = self.caller_access(caller)?;
        self.require_company(&access, company)?;
        let mut conn = self.conn()?;
        Ok(companies::members_of(&mut conn, &[company])?
            .iter()
            .map(|(membership, user)| member_view(membership, user))
            .collect())
    }

    /// `DELETE /v1/companies/{cid}/users/{uid}`: needs `users:delete`; not oneself.
    pub fn remove_member(
        &self,
        caller: &Caller,
        company: CompanyId,
        user: UserId,
    ) -> Result<(), AppError> {
        let access = self.caller_access(caller)?;
        self.require_scope(&access, company, "users:delete")?;
        if user == caller.user {
            return Err(AppError::BadRequest(
                "You cannot remove yourself from a company.".into(),
            ));
        }
        let mut conn = self.conn()?;
        self.write(&mut conn, |work| {
            let conn = work.conn();
            let target = companies::find_membership(conn, user, company)?
                .ok_or_else(|| not_found("User"))?;
            if target.role_id < Self::role_in(&access, company).0 {
                return Err(AppError::Forbidden(UNAUTHORIZED.into()));
            }
            if !companies::delete_membership(conn, user, company)? {
                return Err(not_found("User"));
            }
            work.record(DomainEvent::AccessChanged {
                user,
                company: Some(company),
            });
            Ok(())
        })
    }

    /// `PUT /v1/user/role`: needs `users:roles`; never one's own role, never above one's own.
    pub fn change_role(&self, caller: &Caller, change: RoleChange) -> Result<(), AppError> {
        let company: CompanyId = parse_id(&change.company_id, "Company")?;
        let user: UserId = parse_id(&change.user_id, "User")?;
        let role = RoleId(change.role_id);
        if role.role().is_none() {
            return Err(AppError::Invalid {
                field: "role_id".into(),
                message: "unknown role".into(),
            });
        }
        let access = self.caller_access(caller)?;
        self.require_scope(&access, company, "users:roles")?;
        if user == caller.user {
            return Err(AppError::Forbidden(
                "You cannot change your own role.".into(),
            ));
        }
        let own = Self::role_in(&access, company);
        if role < own {
            return Err(AppError::Forbidden(UNAUTHORIZED.into()));
        }
        let mut conn = self.conn()?;
        self.write(&mut conn, |work| {
            let conn = work.conn();
            let target = companies::find_membership(conn, user, company)?
                .ok_or_else(|| not_found("User"))?;
            if target.role_id < own.0 {
                return Err(AppError::Forbidden(UNAUTHORIZED.into()));
            }
            if !companies::set_role(conn, user, company, role)? {
                return Err(not_found("User"));
            }
            work.record(DomainEvent::AccessChanged {
                user,
                company: Some(company),
            });
            Ok(())
        })
    }

    fn invitation_view(&self, row: &InvitationRow, company_name: &str) -> InvitationView {
        InvitationView {
            id: row.id.0.to_string(),
            invitation_link: format!(
                "{}?invitation_id={}&email={}&company={}",
                self.settings.app_uri,
                row.id.0,
                encode(&row.email),
                encode(company_name)
            ),
            email: row.email.clone(),
            company_id: row.company_id.into(),
            role_id: row.role_id,
            inviter_id: row.inviter_id.map(Into::into),
            created_at: row.created_at,
            is_accepted: row.is_accepted,
        }
    }

    /// `POST /v1/invitations`: invite `email` into a company the caller administers
    /// (`users:write`), at a role no higher than the caller's. Nobody is added by being
    /// invited: a new address registers with the invitation's id, an existing account
    /// accepts it (`POST /v1/invitations/{id}/accept`). A pending invitation for the same
    /// email and company is returned again.
    pub fn invite(
        &self,
        caller: &Caller,
        form: InvitationForm,
    ) -> Result<InvitationView, AppError> {
        let email = form.email.trim().to_lowercase();
        if !crate::accounts::valid_email(&email) {
            return Err(AppError::Invalid {
                field: "email".into(),
                message: "value is not a valid email address".into(),
            });
        }
        let access = self.caller_access(caller)?;
        let company = match form.company_id.as_deref().map(str::trim) {
            Some(id) if !id.is_empty() => parse_id::<CompanyId>(id, "Company")?,
            _ => access
                .primary()
                .map(|c| c.company)
                .ok_or_else(|| AppError::Forbidden(UNAUTHORIZED.into()))?,
        };
        self.require_company(&access, company)?;
        if !access.allows(Some(company), "users:write") {
            return Err(AppError::Forbidden(UNAUTHORIZED.into()));
        }
        let role = match form.role_id {
            None | Some(0) => RoleId::USER,
            Some(id) => RoleId(id),
        };
        if role.role().is_none() {
            return Err(AppError::Invalid {
                field: "role_id".into(),
                message: "unknown role".into(),
            });
        }
        if role < Self::role_in(&access, company) {
            return Err(AppError::Forbidden(UNAUTHORIZED.into()));
        }
        let _ = form.skip_email; // no mail provider yet: nothing is sent either way
        let mut conn = self.conn()?;
        let company_row =
            companies::find_company(&mut conn, company)?.ok_or_else(|| not_found("Company"))?;
        let now = naive_of(now_epoch());

        // An existing account that already belongs answers as the reference does; any other
        // is invited like a new address and joins only when it accepts (never implicitly).
        if let Some(existing) = agentry_store::account::find_user_by_login(&mut conn, &email)?
            .filter(|user| user.email == email && user.is_active)
            && companies::find_membership(&mut conn, existing.id.into(), company)?.is_some()
        {
            return Ok(InvitationView {
                id: "none".into(),
                invitation_link: "none".into(),
                email,
                company_id: company,
                role_id: role.0,
                inviter_id: Some(caller.user),
                created_at: now,
                is_accepted: true,
            });
        }
        let row = match companies::pending_invitation(&mut conn, &email, Some(company))? {
            Some(pending) => pending,
            None => {
                let row = InvitationRow {
                    id: DbUuid::new(),
                    email,
                    company_id: company.into(),
                    role_id: role.0,
                    inviter_id: Some(caller.user.into()),
                    is_accepted: false,
                    accepted_by: None,
                    created_at: now,
                };
                companies::insert_invitation(&mut conn, &row)?;
                row
            }
        };
        Ok(self.invitation_view(&row, &company_row.name))
    }

    /// `GET /v1/user/invitations`: the pending invitations addressed to the caller.
    pub fn my_invitations(&self, caller: &Caller) -> Result<Vec<InvitationView>, AppError> {
        caller.require("account:read")?;
        let mut conn = self.conn()?;
        let rows = companies::pending_invitations_for(&mut conn, &caller.email.to_lowercase())?;
        let ids: Vec<CompanyId> = rows.iter().map(|r| r.company_id.into()).collect();
        let names: HashMap<DbUuid, String> = companies::find_companies(&mut conn, &ids)?
            .into_iter()
            .map(|c| (c.id, c.name))
            .collect();
        Ok(rows
            .iter()
            .map(|row| {
                let name = names.get(&row.company_id).map_or("", String::as_str);
                self.invitation_view(row, name)
            })
            .collect())
    }

    /// `POST /v1/invitations/{id}/accept`: the invitee (the account the invitation is
    /// addressed to, by a session) joins the company at the invitation's role. One
    /// transaction; an invitation accepts once. Anyone else's, or an unknown one, is 404.
    pub fn accept_invitation(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<AcceptedInvitation, AppError> {
        Self::require_session(caller)?;
        let id = uuid::Uuid::parse_str(id.trim()).map_err(|_| not_found("Invitation"))?;
        let mut conn = self.conn()?;
        let row = companies::find_invitation(&mut conn, DbUuid(id))?
            .filter(|row| !row.is_accepted && row.email.eq_ignore_ascii_case(caller.email.trim()))
            .ok_or_else(|| not_found("Invitation"))?;
        let (company, role) = (CompanyId::from(row.company_id), RoleId(row.role_id));
        let now = naive_of(now_epoch());
        self.write(&mut conn, |work| {
            let conn = work.conn();
            if !companies::accept_invitation(conn, row.id, caller.user)? {
                return Err(not_found("Invitation"));
            }
            // Already a member (another acceptance won the race): nothing to add.
            identity::insert_membership_if_absent(
                conn,
                &NewMembership::new(caller.user, company, role, now),
            )?;
            work.record(DomainEvent::AccessChanged {
                user: caller.user,
                company: Some(company),
            });
            Ok(())
        })?;
        Ok(AcceptedInvitation {
            detail: "Invitation accepted.",
            company_id: company,
            role_id: role.0,
        })
    }

    /// `GET /v1/invitations[/{company_id}]`: pending invitations; needs `users:read` there.
    pub fn invitations(
        &self,
        caller: &Caller,
        company: Option<CompanyId>,
    ) -> Result<Vec<InvitationView>, AppError> {
        let access = self.caller_access(caller)?;
        let company = match company {
            Some(company) => company,
            None => access
                .primary()
                .map(|c| c.company)
                .ok_or_else(|| not_found("Company"))?,
        };
        self.require_company(&access, company)?;
        if !access.allows(Some(company), "users:read") {
            return Err(AppError::Forbidden(UNAUTHORIZED.into()));
        }
        let mut conn = self.conn()?;
        let name = companies::find_company(&mut conn, company)?
            .map(|c| c.name)
            .unwrap_or_default();
        Ok(companies::pending_invitations_of(&mut conn, company)?
            .iter()
            .map(|row| self.invitation_view(row, &name))
            .collect())
    }

    /// `DELETE /v1/invitation/{id}`: needs `users:write` in the invitation's company. Only
    /// the invitation goes: removing a member who joined through it is `DELETE
    /// /v1/companies/{cid}/users/{uid}`, with its own checks.
    pub fn delete_invitation(&self, caller: &Caller, id: &str) -> Result<(), AppError> {
        let id: uuid_like::Id = parse_id(id, "Invitation")?;
        let access = self.caller_access(caller)?;
        let mut conn = self.conn()?;
        let row = companies::find_invitation(&mut conn, DbUuid(id.0))?
            .ok_or_else(|| not_found("Invitation"))?;
        let company: CompanyId = row.company_id.into();
        if !(access.is_member(company) || access.is_super_admin()) {
            return Err(not_found("Invitation"));
        }
        if !access.allows(Some(company), "users:write") {
            return Err(AppError::Forbidden(UNAUTHORIZED.into()));
        }
        companies::delete_invitation(&mut conn, row.id)?;
        Ok(())
    }
}

/// Percent-encoding for the query values of invitation links.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

mod uuid_like {
    /// A UUID parsed from text (invitation ids have no domain newtype).
    pub struct Id(pub uuid::Uuid);

    impl std::str::FromStr for Id {
        type Err = uuid::Error;
        fn from_str(s: &str) -> Result<Self, Self::Err> {
            uuid::Uuid::parse_str(s).map(Id)
        }
    }
}

/// The ids of `company`'s members.
fn member_ids(conn: &mut AnyConnection, company: CompanyId) -> Result<Vec<UserId>, AppError> {
    Ok(companies::members_of(conn, &[company])?
        .into_iter()
        .map(|(membership, _)| membership.user_id.into())
        .collect())
}
