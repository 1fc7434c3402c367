//! Agents' settings: which names are secrets, how secrets are masked on each route, the
//! defaults a new agent gets, and what a settings body may hold.

use std::collections::BTreeMap;

/// The setting that shares an agent with the members of the company in `company_id`.
pub const SHARED: &str = "shared";
/// The company an agent belongs to (sharing reaches its members).
pub const COMPANY_ID: &str = "company_id";
/// The wallet's settings (reference agents-memory.md section 2.8).
pub const WALLET_SECRET: &str = "SOLANA_WALLET_API_KEY";
pub const WALLET_PASSPHRASE: &str = "SOLANA_WALLET_PASSPHRASE_API_KEY";
pub const WALLET_ADDRESS: &str = "SOLANA_WALLET_ADDRESS";

/// The longest setting name and value Agentry stores.
pub const MAX_SETTING_NAME: usize = 128;
pub const MAX_SETTING_VALUE: usize = 64 * 1024;
/// The most settings one body may carry.
pub const MAX_SETTINGS: usize = 512;
/// The longest agent name.
pub const MAX_AGENT_NAME: usize = 128;

/// Whether a setting holds a secret: its name contains KEY, SECRET, PASSWORD, TOKEN or
/// PRIVATE (any case), except token counts (`MAX_TOKENS`, `*_MAX_TOKENS`), which are not.
pub fn is_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    if upper == "MAX_TOKENS" || upper.ends_with("_MAX_TOKENS") {
        return false;
    }
    ["KEY", "SECRET", "PASSWORD", "TOKEN", "PRIVATE"]
        .iter()
        .any(|word| upper.contains(word))
}

/// The agent config's mask: a non-empty secret reads `"HIDDEN"`.
pub fn mask_hidden(name: &str, value: &str) -> String {
    if is_secret(name) && !value.is_empty() {
        "HIDDEN".to_owned()
    } else {
        value.to_owned()
    }
}

/// The extension view's mask: `"***"` and the last 4 characters (`"****"` for 4 or fewer).
pub fn mask_tail(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() <= 4 {
        "****".to_owned()
    } else {
        let tail: String = chars[chars.len() - 4..].iter().collect();
        format!("***{tail}")
    }
}

/// The settings a new agent gets (reference section 2.3), as the strings they are stored as.
/// `company_id` is added by the caller.
pub fn default_settings(persona: Option<&str>) -> BTreeMap<String, String> {
    let mut defaults: BTreeMap<String, String> = [
        ("SMARTEST_PROVIDER", "anthropic"),
        ("mode", "prompt"),
        ("prompt_name", "Think About It"),
        ("prompt_category", "Default"),
        ("analyze_user_input", "False"),
        ("websearch", "False"),
        ("websearch_depth", "2"),
        ("WEBSEARCH_TIMEOUT", "0"),
        ("tts", "False"),
        ("provider", "rotation"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    if let Some(persona) = persona.filter(|p| !p.is_empty()) {
        defaults.insert("persona".into(), persona.into());
    }
    defaults
}

/// A setting value as the reference stores it: strings as they are, booleans `True`/`False`,
/// numbers as written, `null` as empty.
pub fn setting_value(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Bool(true) => "True".into(),
        serde_json::Value::Bool(false) => "False".into(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Whether a setting string means true (`"true"`, any case).
pub fn truthy(value: &str) -> bool {
    value.eq_ignore_ascii_case("true")
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("at most {MAX_SETTINGS} settings")]
    TooMany,
    #[error("setting names are 1 to {MAX_SETTING_NAME} characters")]
    BadName,
    #[error("setting `{0}` is longer than {MAX_SETTING_VALUE} bytes")]
    TooLong(String),
}

/// Check a settings body and turn it into stored strings.
pub fn settings_from_json(
    settings: &serde_json::Map<String, serde_json::Value>,
) -> Result<BTreeMap<String, String>, SettingsError> {
    if settings.len() > MAX_SETTINGS {
        return Err(SettingsError::TooMany);
    }
    settings
        .iter()
        .map(|(name, value)| {
            let name = name.trim();
            if name.is_empty()
                || name.chars().count() > MAX_SETTING_NAME
                || name.chars().any(char::is_control)
            {
                return Err(SettingsError::BadName);
            }
            let value = setting_value(value);
            if value.len() > MAX_SETTING_VALUE {
                return Err(SettingsError::TooLong(name.to_owned()));
            }
            Ok((name.to_owned(), value))
        })
        .collect()
}

/// A valid agent name: trimmed, 1 to [`MAX_AGENT_NAME`] characters, no control characters
/// and no path separators (names appear in paths and file names).
pub fn agent_name(name: &str) -> Option<String> {
    let name = name.trim();
    (!name.is_empty()
        && name.chars().count() <= MAX_AGENT_NAME
        && !name
            .chars()
            .any(|c| c.is_control() || c == '/' || c == '\\'))
    .then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_named_by_class_and_token_counts_are_not() {
        for secret in [
            "OPENAI_API_KEY",
            "openai_api_key",
            "STRIPE_SECRET",
            "DB_PASSWORD",
            "ACCESS_TOKEN",
            "GITHUB_PRIVATE_REPO_KEY",
            WALLET_SECRET,
            WALLET_PASSPHRASE,
        ] {
            assert!(is_secret(secret), "{secret}");
        }
        for plain in [
            "MAX_TOKENS",
            "OPENAI_MAX_TOKENS",
            "persona",
            WALLET_ADDRESS,
            "mode",
        ] {
            assert!(!is_secret(plain), "{plain}");
        }
        assert_eq!(mask_hidden("OPENAI_API_KEY", "sk-123"), "HIDDEN");
        assert_eq!(
            mask_hidden("OPENAI_API_KEY", ""),
            "",
            "an explicit disconnect shows"
        );
        assert_eq!(mask_hidden("OPENAI_MAX_TOKENS", "128000"), "128000");
        assert_eq!(mask_tail("sk-abcdef1234"), "***1234");
        assert_eq!(mask_tail("abcd"), "****");
        assert_eq!(mask_tail("ééééé"), "***éééé");
    }

    #[test]
    fn settings_bodies_become_strings_within_limits() {
        let body = json!({"a": true, "b": false, "n": 0.8, "s": "x", "z": null});
        let stored = settings_from_json(body.as_object().unwrap()).unwrap();
        assert_eq!(stored["a"], "True");
        assert_eq!(stored["b"], "False");
        assert_eq!(stored["n"], "0.8");
        assert_eq!(stored["z"], "");
        let bad = json!({"": "x"});
        assert_eq!(
            settings_from_json(bad.as_object().unwrap()),
            Err(SettingsError::BadName)
        );
        let long = json!({"k": "x".repeat(MAX_SETTING_VALUE + 1)});
        assert!(matches!(
            settings_from_json(long.as_object().unwrap()),
            Err(SettingsError::TooLong(_))
        ));
        assert_eq!(agent_name("  Helper "), Some("Helper".into()));
        assert_eq!(agent_name("a/b"), None);
        assert_eq!(agent_name(""), None);
        assert!(!default_settings(None).contains_key("persona"));
        assert_eq!(
            default_settings(Some("kind"))
                .get("persona")
                .map(String::as_str),
            Some("kind")
        );
    }
}
