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
    /// Limited by a personal access token: a scope must be granted by the token *and* by
    /// the role in that company, and role 0 grants nothing beyond the token.
    pub limited: bool,
    /// The token's scopes, when limited.
    pub grant: Option<ScopeSet>,
}

impl Access {
    /// `memberships` in any order; `primary` names the current company if it is one of them.
    pub fn new(mut companies: Vec<CompanyAccess>, primary: Option<CompanyId>) -> Self {
        if let Some(at) = companies.iter().position(|c| Some(c.company) == primary) {
            companies.swap(0, at);
        }
        Self {
            companies,
            limited: false,
            grant: None,
        }
    }

    /// This access as a personal access token grants it: only `companies` (all when empty),
    /// and in each of them the scopes both the token and the role there allow. A token never
    /// lifts its owner above their role, and a demotion takes effect on it at once.
    pub fn restricted(&self, scopes: &ScopeSet, companies: &[CompanyId]) -> Access {
        Access {
            companies: self
                .companies
                .iter()
                .filter(|c| companies.is_empty() || companies.contains(&c.company))
                .cloned()
                .collect(),
            limited: true,
            grant: Some(scopes.clone()),
        }
    }

    /// Role 0 in any company: every scope everywhere (reference section 4.5).
    pub fn is_super_admin(&self) -> bool {
        !self.limited && self.companies.iter().any(|c| c.role == RoleId::SUPER_ADMIN)
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
            && self.grant.as_ref().is_none_or(|grant| grant.allows(scope))
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
        let access = Access::new(vec![other.clone(), root.clone()], Some(other.company));
        assert!(access.is_super_admin());
        assert!(access.allows(Some(CompanyId::new()), "server:admin"));

        // Through a personal access token, only the token's scopes count.
        let token = access.restricted(&ScopeSet::new(["agents:read"]), &[root.company]);
        assert!(!token.is_super_admin());
        assert!(token.allows(Some(root.company), "agents:read"));
        assert!(!token.allows(Some(root.company), "server:admin"));
        assert!(
            !token.is_member(other.company),
            "companies outside the token are gone"
        );
    }
}
