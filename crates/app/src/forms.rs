//! Reading the JSON bodies use cases take: helpers every service may use (no service of its
//! own).

use std::collections::BTreeMap;

use agentry_domain::agent;
use serde_json::{Map, Value};

use crate::AppError;

/// 422 naming the field.
pub(crate) fn invalid(field: &str, message: impl Into<String>) -> AppError {
    AppError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// A JSON object field (absent or null: empty), else 422.
pub(crate) fn object<'a>(
    value: &'a Option<Value>,
    field: &str,
) -> Result<Option<&'a Map<String, Value>>, AppError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(_) => Err(invalid(field, "expected a JSON object")),
    }
}

pub(crate) fn settings_of_body(
    value: &Option<Value>,
) -> Result<BTreeMap<String, String>, AppError> {
    match object(value, "settings")? {
        None => Ok(BTreeMap::new()),
        Some(map) => agent::settings_from_json(map).map_err(|e| invalid("settings", e.to_string())),
    }
}

/// Parse an id from a path or body: a malformed one is as unknown as a foreign one.
pub fn parse_id<T: std::str::FromStr>(text: &str, what: &str) -> Result<T, AppError> {
    text.trim()
        .parse()
        .map_err(|_| AppError::NotFound(format!("{what} not found")))
}

pub(crate) fn valid_email(email: &str) -> bool {
    match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !email.chars().any(|c| c.is_whitespace() || c == ',')
                && email.len() <= 254
        }
        None => false,
    }
}
