//! Scopes (`resource:action`), the static catalog, and AGiXT's wildcard matching.

/// One scope of the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeDef {
    pub name: &'static str,
    pub category: &'static str,
    pub description: &'static str,
}

impl ScopeDef {
    /// The part before the first `:` (`agents` for `agents:read`).
    pub fn resource(&self) -> &'static str {
        self.name
            .split_once(':')
            .map_or(self.name, |(resource, _)| resource)
    }

    /// The part after the first `:` (`read` for `agents:read`).
    pub fn action(&self) -> &'static str {
        self.name.split_once(':').map_or("", |(_, action)| action)
    }
}

macro_rules! scopes {
    ($($category:literal => [$($name:literal => $description:literal),+ $(,)?]),+ $(,)?) => {
        &[$($(ScopeDef { name: $name, category: $category, description: $description },)+)+]
    };
}

/// AGiXT's 72 static scopes (reference auth-billing.md section 4.2), in catalog order.
pub const STATIC_SCOPES: &[ScopeDef] = scopes![
    "Agents" => [
        "agents:read" => "View agents and their configurations",
        "agents:write" => "Create and modify agents",
        "agents:delete" => "Delete agents",
        "agents:execute" => "Run agent prompts and commands",
        "agents:train" => "Train agents with new data",
    ],
    "Conversations" => [
        "conversations:read" => "View conversations and messages",
        "conversations:write" => "Create and send messages",
        "conversations:delete" => "Delete conversations",
        "conversations:share" => "Share conversations with others",
    ],
    "Extensions" => [
        "extensions:read" => "View available extensions",
        "extensions:write" => "Configure and enable extensions",
        "extensions:execute" => "Execute extension commands",
        "extensions:install" => "Install new extensions from hub",
    ],
    "Knowledge" => [
        "memories:read" => "View agent memories and knowledge",
        "memories:write" => "Add memories and knowledge",
        "memories:delete" => "Delete memories and knowledge",
        "memories:export" => "Export memories and knowledge",
    ],
    "Automation" => [
        "chains:read" => "View chains and workflows",
        "chains:write" => "Create and modify chains",
        "chains:delete" => "Delete chains",
        "chains:execute" => "Run chains",
        "chains:share" => "Share chains with company members",
    ],
    "Prompts" => [
        "prompts:read" => "View prompts",
        "prompts:write" => "Create and modify prompts",
        "prompts:delete" => "Delete prompts",
        "prompts:share" => "Share prompts with company members",
    ],
    "Administration" => [
        "company:prompts" => "Manage company-wide prompts",
        "company:chains" => "Manage company-wide chains",
        "company:read" => "View company details",
        "company:write" => "Modify company settings",
        "company:delete" => "Delete companies",
        "company:billing" => "Manage billing and subscriptions",
        "users:read" => "View team members",
        "users:write" => "Invite and manage team members",
        "users:delete" => "Remove team members",
        "users:roles" => "Assign and manage user roles",
        "roles:read" => "View custom roles",
        "roles:write" => "Create and modify custom roles",
        "roles:delete" => "Delete custom roles",
    ],
    "Integrations" => [
        "webhooks:read" => "View webhooks",
        "webhooks:write" => "Create and modify webhooks",
        "webhooks:delete" => "Delete webhooks",
        "providers:read" => "View connected providers",
        "providers:write" => "Connect and configure providers",
        "providers:delete" => "Disconnect providers",
    ],
    "Security" => [
        "apikeys:read" => "View API keys",
        "apikeys:write" => "Create API keys",
        "apikeys:delete" => "Revoke API keys",
        "secrets:read" => "View secrets",
        "secrets:write" => "Create and update secrets",
        "secrets:delete" => "Delete secrets",
    ],
    "Billing" => [
        "billing:read" => "View billing information",
        "billing:write" => "Update payment methods and subscriptions",
        "billing:admin" => "Full billing administration access",
    ],
    "Assets" => [
        "assets:read" => "View assets and files",
        "assets:write" => "Upload and modify assets",
        "assets:delete" => "Delete assets",
    ],
    "Support" => [
        "tickets:read" => "View support tickets",
        "tickets:write" => "Create and respond to tickets",
        "tickets:manage" => "Manage all tickets",
    ],
    "Monitoring" => [
        "activity:read" => "View activity logs",
        "activity:export" => "Export activity logs",
    ],
    "UI Features" => [
        "ui:settings" => "Access settings panel",
        "ui:admin_panel" => "Access admin sections",
        "ui:voice_only_mode" => "Restricted voice-only interface",
        "ui:full_chat" => "Full chat interface with all features",
        "ui:developer_mode" => "Toggle developer mode",
    ],
    "Super Admin" => [
        "server:prompts" => "Manage server-level global prompts",
        "server:chains" => "Manage server-level global chains",
        "server:admin" => "Full server administration access",
        "companies:manage" => "Manage all companies on server",
        "users:impersonate" => "Impersonate other users",
    ],
];

/// Agentry's personal scopes: what a caller may do with their *own* account and the private
/// keys of their own agents. No role grants them and no wildcard covers them: a session
/// holds them for itself, and a personal access token holds one only when it was granted by
/// name (so `agents:*` or even `*` on a token never reveals a wallet's private key).
pub const PERSONAL_SCOPES: &[ScopeDef] = scopes![
    "Account" => [
        "account:read" => "View your own profile, memberships and scopes",
        "account:write" => "Change your own profile and preferences",
        "wallets:read" => "Read the private keys of your own agents' wallets",
    ],
];

/// Whether `name` is one of [`PERSONAL_SCOPES`].
pub fn is_personal(name: &str) -> bool {
    PERSONAL_SCOPES.iter().any(|scope| scope.name == name)
}

/// Whether `name` is a well-formed scope name or pattern: `resource:action` (or `*`) of
/// lower-case letters, digits, `_`, `-`, `.` and `*`, at most 100 characters. Anything else
/// (control characters, spaces, empty segments) is never a scope.
pub fn is_well_formed(name: &str) -> bool {
    if name == "*" {
        return true;
    }
    name.len() <= 100
        && name.contains(':')
        && name.split(':').all(|segment| {
            !segment.is_empty()
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-.*".contains(&b))
        })
}

/// Whether `pattern` is a wildcard pattern that AGiXT keeps literally in effective scope sets
/// (`*`, anything ending in `:*`, anything containing `:*:`).
pub fn is_wildcard(pattern: &str) -> bool {
    pattern == "*" || pattern.ends_with(":*") || pattern.contains(":*:")
}

/// Whether a role pattern, expanded at seed time, covers the concrete scope `name`
/// (reference section 4.4: `*`, `ext:*`, `ext:*:<a>`, `<res>:*`, else exact).
pub fn pattern_covers(pattern: &str, name: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    if pattern == "ext:*" {
        return name.starts_with("ext:");
    }
    if let Some(action) = pattern.strip_prefix("ext:*:") {
        return name.starts_with("ext:") && name.ends_with(&format!(":{action}"));
    }
    if let Some(resource) = pattern.strip_suffix(":*") {
        return name
            .strip_prefix(resource)
            .is_some_and(|rest| rest.starts_with(':'));
    }
    pattern == name
}

/// A set of held scope names (concrete names and wildcard patterns), answering AGiXT's
/// `has_scope` question (reference section 4.5).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeSet {
    held: std::collections::BTreeSet<String>,
}

impl ScopeSet {
    pub fn new<I, S>(held: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            held: held.into_iter().map(Into::into).collect(),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.held.iter().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.held.len()
    }

    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    fn holds(&self, name: &str) -> bool {
        self.held.contains(name)
    }

    /// Whether the set grants `requested`.
    pub fn allows(&self, requested: &str) -> bool {
        if self.holds("*") || self.holds(requested) {
            return true;
        }
        let parts: Vec<&str> = requested.split(':').collect();
        let ext_grant = match parts.as_slice() {
            ["ext", ext, action] => {
                self.holds("ext:*")
                    || self.holds(&format!("ext:*:{action}"))
                    || self.holds(&format!("ext:{ext}:*"))
            }
            ["ext", ext, feature, action] => {
                ((*action == "execute" || *action == "read")
                    && self.holds(&format!("ext:{ext}:{action}")))
                    || self.holds("ext:*")
                    || self.holds(&format!("ext:*:{feature}:{action}"))
                    || self.holds(&format!("ext:*:*:{action}"))
                    || self.holds(&format!("ext:{ext}:*"))
                    || self.holds(&format!("ext:{ext}:{feature}:*"))
                    || self.holds(&format!("ext:{ext}:*:{action}"))
            }
            _ => false,
        };
        if ext_grant {
            return true;
        }
        // For any scope with a colon, `<first segment>:*` grants it.
        match requested.split_once(':') {
            Some((resource, _)) => self.holds(&format!("{resource}:*")),
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_has_72_unique_well_formed_scopes() {
        assert_eq!(STATIC_SCOPES.len(), 72);
        let mut names: Vec<_> = STATIC_SCOPES.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 72);
        for scope in STATIC_SCOPES {
            assert!(
                !scope.resource().is_empty() && !scope.action().is_empty(),
                "{scope:?}"
            );
        }
        let server = STATIC_SCOPES
            .iter()
            .find(|s| s.name == "server:prompts")
            .unwrap();
        assert_eq!((server.resource(), server.action()), ("server", "prompts"));
    }

    #[test]
    fn patterns_expand_as_the_reference_seeds_them() {
        assert!(pattern_covers("*", "agents:read"));
        assert!(pattern_covers("agents:*", "agents:delete"));
        assert!(!pattern_covers("agents:*", "agentsx:delete"));
        assert!(pattern_covers("ext:*", "ext:github:read"));
        assert!(!pattern_covers("ext:*", "agents:read"));
        assert!(pattern_covers("ext:*:read", "ext:github:read"));
        assert!(pattern_covers("ext:*:read", "ext:github:files:read"));
        assert!(!pattern_covers("ext:*:read", "ext:github:execute"));
        assert!(pattern_covers("company:read", "company:read"));
        assert!(!pattern_covers("company:read", "company:write"));
        assert!(is_wildcard("*") && is_wildcard("agents:*") && is_wildcard("ext:*:read"));
        assert!(!is_wildcard("agents:read"));
    }

    #[test]
    fn personal_scopes_are_apart_from_the_catalog_and_names_are_checked() {
        for scope in PERSONAL_SCOPES {
            assert!(is_personal(scope.name));
            assert!(STATIC_SCOPES.iter().all(|s| s.name != scope.name));
        }
        assert!(!is_personal("agents:read"));
        for good in [
            "*",
            "agents:read",
            "agents:*",
            "ext:*:read",
            "ext:web_browsing:execute",
        ] {
            assert!(is_well_formed(good), "{good}");
        }
        for bad in [
            "",
            "agents",
            "agents:",
            ":read",
            "agents:read\n",
            "agents:\u{0}",
            "Agents:Read",
            "a b:c",
            "agents::read",
        ] {
            assert!(!is_well_formed(bad), "{bad:?}");
        }
        assert!(!is_well_formed(&format!("a:{}", "b".repeat(100))));
    }

    #[test]
    fn matching_follows_reference_section_4_5() {
        let all = ScopeSet::new(["*"]);
        assert!(all.allows("server:admin") && all.allows("ext:x:y:z"));

        let exact = ScopeSet::new(["agents:read"]);
        assert!(exact.allows("agents:read"));
        assert!(!exact.allows("agents:write"));
        assert!(!exact.allows("agents"));

        let resource = ScopeSet::new(["agents:*"]);
        assert!(resource.allows("agents:delete"));
        assert!(!resource.allows("chains:read"));

        let ext_action = ScopeSet::new(["ext:*:read"]);
        assert!(ext_action.allows("ext:github:read"));
        assert!(!ext_action.allows("ext:github:execute"));

        let one_ext = ScopeSet::new(["ext:github:*"]);
        assert!(one_ext.allows("ext:github:execute"));
        assert!(one_ext.allows("ext:github:issues:write"));
        assert!(!one_ext.allows("ext:gitlab:execute"));

        let execute = ScopeSet::new(["ext:github:execute"]);
        assert!(execute.allows("ext:github:issues:execute"));
        assert!(!execute.allows("ext:github:issues:write"));

        let feature = ScopeSet::new(["ext:*:issues:write"]);
        assert!(feature.allows("ext:gitlab:issues:write"));
        assert!(!feature.allows("ext:gitlab:files:write"));

        let any_feature = ScopeSet::new(["ext:*:*:delete", "ext:a:files:*", "ext:b:*:read"]);
        assert!(any_feature.allows("ext:z:files:delete"));
        assert!(any_feature.allows("ext:a:files:write"));
        assert!(!any_feature.allows("ext:a:issues:write"));
        assert!(any_feature.allows("ext:b:issues:read"));

        assert!(!ScopeSet::default().allows("agents:read"));
    }
}
