//! What a user may do where: their memberships, each with a role and its effective scopes.

use crate::ids::CompanyId;
use crate::role::RoleId;
use crate::scope::ScopeSet;

#[derive(Debug, Clone, PartialEq)]
pub struct CompanyAccess {
    pub company: CompanyId,
    pub parent: Option<CompanyId>,
    pub role: RoleId,
    /// Effective scopes in this company: the role's concrete scopes and wildcard patterns.
    pub scopes: ScopeSet,
}

/// A user's access across companies, the primary (current) company first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Access {
    pub companies: Vec<CompanyAccess>,
}

impl Access {
    /// `memberships` in any order; `primary` names the current company if it is one of them.
    pub fn new(mut companies: Vec<CompanyAccess>, primary: Option<CompanyId>) -> Self {
        if let Some(at) = companies.iter().position(|c| Some(c.company) == primary) {
            companies.swap(0, at);
        }
        Self { companies }
    }

    /// Role 0 in any company: every scope everywhere (reference section 4.5).
    pub fn is_super_admin(&self) -> bool {
        self.companies.iter().any(|c| c.role == RoleId::SUPER_ADMIN)
    }

    pub fn primary(&self) -> Option<&CompanyAccess> {
        self.companies.first()
    }

    pub fn in_company(&self, company: CompanyId) -> Option<&CompanyAccess> {
        self.companies.iter().find(|c| c.company == company)
    }

    pub fn is_member(&self, company: CompanyId) -> bool {
        self.in_company(company).is_some()
    }

    /// Whether `scope` is granted in `company` (the primary company when `None`).
    pub fn allows(&self, company: Option<CompanyId>, scope: &str) -> bool {
        if self.is_super_admin() {
            return true;
        }
        let membership = match company {
            Some(company) => self.in_company(company),
            None => self.primary(),
        };
        membership.is_some_and(|m| m.scopes.allows(scope))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(role: RoleId, scopes: &[&str]) -> CompanyAccess {
        CompanyAccess {
            company: CompanyId::new(),
            parent: None,
            role,
            scopes: ScopeSet::new(scopes.iter().copied()),
        }
    }

    #[test]
    fn scopes_are_checked_per_company_and_primary_first() {
        let admin = member(RoleId::COMPANY_ADMIN, &["users:write", "agents:*"]);
        let reader = member(RoleId::READ_ONLY_USER, &["agents:read"]);
        let access = Access::new(vec![admin.clone(), reader.clone()], Some(reader.company));
        assert_eq!(access.primary().map(|c| c.company), Some(reader.company));
        assert!(
            !access.allows(None, "users:write"),
            "the primary company decides by default"
        );
        assert!(access.allows(Some(admin.company), "users:write"));
        assert!(access.allows(Some(admin.company), "agents:delete"));
        assert!(
            !access.allows(Some(CompanyId::new()), "agents:read"),
            "not a member"
        );
        assert!(!access.is_super_admin());
        assert!(!Access::default().allows(None, "agents:read"));
    }

    #[test]
    fn role_zero_anywhere_grants_everything() {
        let root = member(RoleId::SUPER_ADMIN, &["*"]);
        let other = member(RoleId::READ_ONLY_USER, &[]);
        let access = Access::new(vec![other.clone(), root], Some(other.company));
        assert!(access.is_super_admin());
        assert!(access.allows(Some(CompanyId::new()), "server:admin"));
    }
}
