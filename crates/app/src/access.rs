//! Each user's memberships and effective scopes, read once and cached until a write that
//! changes them invalidates the user.

use std::sync::Arc;

use agentry_domain::access::{Access, CompanyAccess};
use agentry_domain::{RoleId, ScopeSet, UserId};
use agentry_store::Uow;
use agentry_store::identity::{self, MembershipView};

use crate::read_models::Through;
use crate::{App, AppError, Caller};

/// Who the caller is and what they may do: tokens verified, access read, the role and scope
/// catalog. A view of the application's [`Context`](crate::Context), taken with
/// [`App::sessions`](crate::App::sessions).
#[derive(Clone, Copy)]
pub struct Sessions<'a> {
    pub(crate) app: &'a App,
}

/// The role's concrete scopes (from the seeded tables) plus its wildcard patterns, sorted.
pub(crate) fn effective_scopes(view: &MembershipView) -> Vec<String> {
    let mut scopes = view.role_scopes.clone();
    if let Some(role) = RoleId(view.role.id).role() {
        scopes.extend(role.wildcard_patterns().map(str::to_owned));
    }
    scopes.sort();
    scopes.dedup();
    scopes
}

/// The current company: the earliest membership.
pub(crate) fn primary(views: &[MembershipView]) -> Option<agentry_store::DbUuid> {
    views
        .iter()
        .min_by_key(|view| view.membership.created_at)
        .map(|view| view.company.id)
}

fn restrict(access: Arc<Access>, caller: &Caller) -> Arc<Access> {
    match &caller.token {
        Some(grant) => Arc::new(access.restricted(&grant.scopes, &grant.companies)),
        None => access,
    }
}

pub(crate) fn access_of(views: &[MembershipView]) -> Access {
    let companies = views
        .iter()
        .map(|view| CompanyAccess {
            company: view.company.id.into(),
            parent: view.company.parent_id.map(Into::into),
            role: RoleId(view.membership.role_id),
            scopes: ScopeSet::new(effective_scopes(view)),
        })
        .collect();
    Access::new(companies, primary(views).map(Into::into))
}

impl Sessions<'_> {
    /// The user's access if this process holds it (no I/O).
    pub fn cached_access(&self, user: UserId) -> Option<Arc<Access>> {
        self.app.access.get(&user)
    }

    /// The user's access, read from the database (2 statements) on a miss.
    pub fn access(&self, uow: &mut Uow<'_>, user: UserId) -> Result<Arc<Access>, AppError> {
        self.app.access.load(uow, &user, |uow| {
            let conn = uow.conn()?;
            let views = identity::memberships_for(conn, user)?;
            Ok::<_, AppError>(access_of(&views))
        })
    }

    /// What `caller` may do: the user's access, limited to a personal access token's grant
    /// when the caller used one.
    pub fn caller_access(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
    ) -> Result<Arc<Access>, AppError> {
        let access = self.access(uow, caller.user)?;
        Ok(restrict(access, caller))
    }

    /// [`Sessions::caller_access`] without I/O, when this process holds the user's access.
    pub fn cached_caller_access(&self, caller: &Caller) -> Option<Arc<Access>> {
        self.cached_access(caller.user)
            .map(|access| restrict(access, caller))
    }

    /// 403 unless the caller holds `scope` in `company` (their current company when `None`).
    pub(crate) fn authorize(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        company: Option<agentry_domain::CompanyId>,
        scope: &str,
    ) -> Result<Arc<Access>, AppError> {
        let access = self.caller_access(uow, caller)?;
        if access.allows(company, scope) {
            Ok(access)
        } else {
            Err(AppError::insufficient(scope))
        }
    }
}
