//! The role and scope catalog as the API lists it (defined in code: the static scopes and
//! the built-in extensions' scopes).

use std::collections::BTreeMap;

use agentry_domain::{CompanyId, Role};
use agentry_store::Uow;

use crate::AppError;
use crate::access::Sessions;
use crate::session::Caller;

pub use agentry_api::catalog::{RoleView, ScopeCatalog, ScopeView, UserScopes};

impl Sessions<'_> {
    /// `GET /v1/roles`: the built-in roles in display order; needs `roles:read`.
    pub fn roles(&self, uow: &mut Uow<'_>, caller: &Caller) -> Result<Vec<RoleView>, AppError> {
        self.authorize(uow, caller, None, "roles:read")?;
        Ok(Role::ALL
            .iter()
            .map(|role| RoleView {
                id: role.id,
                name: role.name,
                friendly_name: role.friendly_name,
                display_order: role.display_order,
            })
            .collect())
    }

    /// `GET /v1/scopes`: the static and extension scopes, and their names by category;
    /// needs `roles:read`.
    pub fn scopes(&self, uow: &mut Uow<'_>, caller: &Caller) -> Result<ScopeCatalog<'_>, AppError> {
        self.authorize(uow, caller, None, "roles:read")?;
        let mut categories: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for scope in &self.app.catalog.scopes {
            categories
                .entry(&scope.category)
                .or_default()
                .push(&scope.name);
        }
        Ok(ScopeCatalog {
            scopes: self
                .app
                .catalog
                .scopes
                .iter()
                .map(|scope| ScopeView {
                    name: &scope.name,
                    resource: &scope.resource,
                    action: &scope.action,
                    description: &scope.description,
                    category: &scope.category,
                })
                .collect(),
            categories,
        })
    }

    /// `GET /v1/user/scopes[?company_id=]`: the caller's effective scopes in a company (the
    /// current one by default). Another company's id answers 404.
    pub fn user_scopes(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        company: Option<&str>,
    ) -> Result<UserScopes, AppError> {
        caller.require("account:read")?;
        let access = self.caller_access(uow, caller)?;
        let membership = match company.map(str::trim).filter(|c| !c.is_empty()) {
            Some(id) => {
                let id: CompanyId = crate::forms::parse_id(id, "Company")?;
                Some(
                    access
                        .in_company(id)
                        .ok_or_else(|| AppError::NotFound("Company not found".into()))?,
                )
            }
            None => access.primary(),
        };
        Ok(match membership {
            Some(membership) => UserScopes {
                company_id: Some(membership.company),
                role_id: Some(membership.role),
                // Through a token: the token's scopes that the role there allows too.
                scopes: match &access.grant {
                    Some(grant) => grant
                        .iter()
                        .filter(|scope| membership.scopes.allows(scope))
                        .map(str::to_owned)
                        .collect(),
                    None => membership.scopes.iter().map(str::to_owned).collect(),
                },
            },
            None => UserScopes {
                company_id: None,
                role_id: None,
                scopes: Vec::new(),
            },
        })
    }
}
