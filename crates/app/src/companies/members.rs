//! A company's members: the list, removal and role changes, each refused above one's own role.

use agentry_store::Uow;

use super::*;

impl Companies<'_> {
    /// `GET /v1/companies/{id}/members`: any member may list the others.
    pub fn company_members(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        company: CompanyId,
    ) -> Result<Vec<MemberView>, AppError> {
        caller.require("users:read")?;
        let access = self.app.sessions().caller_access(uow, caller)?;
        self.require_company(&access, company)?;
        let Some(roster) = self.rosters(uow, &[company])?.remove(&company) else {
            return Err(not_found("Company"));
        };
        let users: Vec<UserId> = roster.members.iter().map(|m| m.user).collect();
        let profiles = self.profiles(uow, &users)?;
        Ok(members_view(&roster, &profiles))
    }

    /// `DELETE /v1/companies/{cid}/users/{uid}`: needs `users:delete`; not oneself.
    pub fn remove_member(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        company: CompanyId,
        user: UserId,
    ) -> Result<(), AppError> {
        let access = self.app.sessions().caller_access(uow, caller)?;
        self.require_scope(&access, company, "users:delete")?;
        if user == caller.user {
            return Err(AppError::BadRequest(
                "You cannot remove yourself from a company.".into(),
            ));
        }
        self.app.write(uow, |work| {
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
    pub fn change_role(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        change: RoleChange,
    ) -> Result<(), AppError> {
        let company: CompanyId = parse_id(&change.company_id, "Company")?;
        let user: UserId = parse_id(&change.user_id, "User")?;
        let role = RoleId(change.role_id);
        if role.role().is_none() {
            return Err(AppError::Invalid {
                field: "role_id".into(),
                message: "unknown role".into(),
            });
        }
        let access = self.app.sessions().caller_access(uow, caller)?;
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
        self.app.write(uow, |work| {
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
}
