//! Invitations: sent by role id or name, listed, deleted, and accepted by the invitee only.

use agentry_store::Uow;

use super::*;

impl Companies<'_> {
    pub(super) fn invitation_view(
        &self,
        row: &InvitationRow,
        company_name: &str,
    ) -> InvitationView {
        InvitationView {
            id: row.id.0.to_string(),
            invitation_link: format!(
                "{}?invitation_id={}&email={}&company={}",
                self.app.settings.app_uri,
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
        uow: &mut Uow<'_>,
        caller: &Caller,
        form: InvitationForm,
    ) -> Result<InvitationView, AppError> {
        let email = form.email.trim().to_lowercase();
        if !crate::forms::valid_email(&email) {
            return Err(AppError::Invalid {
                field: "email".into(),
                message: "value is not a valid email address".into(),
            });
        }
        let access = self.app.sessions().caller_access(uow, caller)?;
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
        let conn = uow.conn()?;
        let company_row =
            companies::find_company(conn, company)?.ok_or_else(|| not_found("Company"))?;
        let now = naive_of(now_epoch());

        // An existing account that already belongs answers as the reference does; any other
        // is invited like a new address and joins only when it accepts (never implicitly).
        if let Some(existing) = agentry_store::account::find_user_by_login(conn, &email)?
            .filter(|user| user.email == email && user.is_active)
            && companies::find_membership(conn, existing.id.into(), company)?.is_some()
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
        let row = match companies::pending_invitation(conn, &email, Some(company))? {
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
                self.app.write(uow, |work| {
                    companies::insert_invitation(work.conn(), &row)?;
                    work.record(DomainEvent::InvitationChanged {
                        company,
                        invitation: row.id.0.to_string(),
                        change: InvitationChange::Sent,
                    });
                    Ok(())
                })?;
                row
            }
        };
        Ok(self.invitation_view(&row, &company_row.name))
    }

    /// `GET /v1/user/invitations`: the pending invitations addressed to the caller.
    pub fn my_invitations(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
    ) -> Result<Vec<InvitationView>, AppError> {
        caller.require("account:read")?;
        let conn = uow.conn()?;
        let rows = companies::pending_invitations_for(conn, &caller.email.to_lowercase())?;
        let ids: Vec<CompanyId> = rows.iter().map(|r| r.company_id.into()).collect();
        let names: HashMap<DbUuid, String> = companies::find_companies(conn, &ids)?
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
        uow: &mut Uow<'_>,
        caller: &Caller,
        id: &str,
    ) -> Result<AcceptedInvitation, AppError> {
        caller.require_session()?;
        let id = uuid::Uuid::parse_str(id.trim()).map_err(|_| not_found("Invitation"))?;
        let conn = uow.conn()?;
        let row = companies::find_invitation(conn, DbUuid(id))?
            .filter(|row| !row.is_accepted && row.email.eq_ignore_ascii_case(caller.email.trim()))
            .ok_or_else(|| not_found("Invitation"))?;
        let (company, role) = (CompanyId::from(row.company_id), RoleId(row.role_id));
        let now = naive_of(now_epoch());
        self.app.write(uow, |work| {
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
        uow: &mut Uow<'_>,
        caller: &Caller,
        company: Option<CompanyId>,
    ) -> Result<Vec<InvitationView>, AppError> {
        let access = self.app.sessions().caller_access(uow, caller)?;
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
        let conn = uow.conn()?;
        let name = companies::find_company(conn, company)?
            .map(|c| c.name)
            .unwrap_or_default();
        Ok(companies::pending_invitations_of(conn, company)?
            .iter()
            .map(|row| self.invitation_view(row, &name))
            .collect())
    }

    /// `DELETE /v1/invitation/{id}`: needs `users:write` in the invitation's company. Only
    /// the invitation goes: removing a member who joined through it is `DELETE
    /// /v1/companies/{cid}/users/{uid}`, with its own checks.
    pub fn delete_invitation(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        id: &str,
    ) -> Result<(), AppError> {
        let id: uuid_like::Id = parse_id(id, "Invitation")?;
        let access = self.app.sessions().caller_access(uow, caller)?;
        let conn = uow.conn()?;
        let row = companies::find_invitation(conn, DbUuid(id.0))?
            .ok_or_else(|| not_found("Invitation"))?;
        let company: CompanyId = row.company_id.into();
        if !(access.is_member(company) || access.is_super_admin()) {
            return Err(not_found("Invitation"));
        }
        if !access.allows(Some(company), "users:write") {
            return Err(AppError::Forbidden(UNAUTHORIZED.into()));
        }
        self.app.write(uow, |work| {
            // Deleted meanwhile by another request: nothing to withdraw, nothing recorded.
            if !companies::delete_invitation(work.conn(), row.id)? {
                return Err(not_found("Invitation"));
            }
            work.record(DomainEvent::InvitationChanged {
                company,
                invitation: row.id.0.to_string(),
                change: InvitationChange::Withdrawn,
            });
            Ok(())
        })
    }
}

/// Percent-encoding for the query values of invitation links.
pub(super) fn encode(value: &str) -> String {
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
