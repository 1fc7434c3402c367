//! What a request's messages say (reference agents-memory.md 8.1): the user's text, and the
//! per-message overrides of the agent's defaults.

use serde_json::{Map, Value};

use crate::AppError;

/// The largest user text a turn takes (as a stored message).
const MAX_TEXT: usize = 1024 * 1024;

/// The keys of a message that are OpenAI's, not overrides.
const OPENAI_KEYS: &[&str] = &["role", "content", "name", "tool_call_id", "tool_calls"];

/// A request's messages, read.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Turn {
    /// Every user text (and tool result) in order, `\n\n` between them, and each system
    /// text that holds a `/` (the reference's rule).
    pub text: String,
    /// The overrides the messages carry (`mode`, `prompt_name`, `prompt_args`...), a later
    /// message's over an earlier one's.
    pub overrides: Map<String, Value>,
}

fn invalid(message: impl Into<String>) -> AppError {
    AppError::Invalid {
        field: "messages".into(),
        message: message.into(),
    }
}

/// The text parts of a message's content (a string, or OpenAI's list of parts). Parts that
/// carry a URL (`image_url`, `file_url`...) are not read: learning from files arrives with
/// memories.
fn text_of(content: &Value) -> Result<Vec<&str>, AppError> {
    match content {
        Value::Null => Ok(Vec::new()),
        Value::String(text) => Ok(vec![text.as_str()]),
        Value::Array(parts) => Ok(parts
            .iter()
            .filter_map(|part| part.get("text").and_then(Value::as_str))
            .collect()),
        _ => Err(invalid(
            "a message's content is a string or a list of parts",
        )),
    }
}

/// Read `messages`: an empty list is refused with the reference's detail (400).
pub(crate) fn read(messages: Option<&[Value]>) -> Result<Turn, AppError> {
    let messages = messages.filter(|m| !m.is_empty()).ok_or_else(|| {
        AppError::BadRequest(
            "The 'messages' field is required and must contain at least one message.".into(),
        )
    })?;
    let mut turn = Turn::default();
    for message in messages {
        let Some(object) = message.as_object() else {
            return Err(invalid("each message is an object"));
        };
        let role = object
            .get("role")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("each message has a `role`"))?;
        let texts = text_of(object.get("content").unwrap_or(&Value::Null))?;
        let kept = match role.to_ascii_lowercase().as_str() {
            "user" | "tool" => texts,
            "system" | "developer" => texts.into_iter().filter(|t| t.contains('/')).collect(),
            "assistant" => Vec::new(),
            _ => return Err(invalid(format!("unknown role `{role}`"))),
        };
        for text in kept.into_iter().filter(|t| !t.trim().is_empty()) {
            if !turn.text.is_empty() {
                turn.text.push_str("\n\n");
            }
            turn.text.push_str(text);
            if turn.text.len() > MAX_TEXT {
                return Err(AppError::TooLarge(format!(
                    "the messages hold more than {MAX_TEXT} bytes of text"
                )));
            }
        }
        for (key, value) in object {
            if !OPENAI_KEYS.contains(&key.as_str()) {
                turn.overrides.insert(key.clone(), value.clone());
            }
        }
    }
    Ok(turn)
}

impl Turn {
    /// An override as text (strings as they are, numbers and booleans written out).
    pub(crate) fn text_override(&self, key: &str) -> Option<String> {
        match self.overrides.get(key)? {
            Value::String(text) => Some(text.clone()),
            Value::Number(number) => Some(number.to_string()),
            Value::Bool(flag) => Some(flag.to_string()),
            _ => None,
        }
    }

    /// An override as a whole number.
    pub(crate) fn number_override(&self, keys: &[&str]) -> Option<u32> {
        keys.iter().find_map(|key| {
            self.text_override(key)
                .and_then(|text| text.trim().parse::<f64>().ok())
                .filter(|n| n.is_finite() && *n >= 0.0)
                .map(|n| n.min(f64::from(u32::MAX)) as u32)
        })
    }

    /// An override as a flag (`true`, `"true"`, `"True"`).
    pub(crate) fn flag_override(&self, key: &str) -> Option<bool> {
        self.text_override(key)
            .map(|text| text.trim().eq_ignore_ascii_case("true"))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn user_texts_join_system_only_with_a_slash_and_overrides_merge() {
        let messages = vec![
            json!({"role": "system", "content": "be terse"}),
            json!({"role": "system", "content": "see /docs"}),
            json!({"role": "user", "content": "one", "prompt_name": "Chat"}),
            json!({"role": "assistant", "content": "ignored"}),
            json!({"role": "user", "content": [{"type": "text", "text": "two"},
                   {"type": "image_url", "image_url": {"url": "http://x/y.png"}}],
                   "prompt_name": "Instruct", "conversation_results": "3"}),
            json!({"role": "tool", "tool_call_id": "c1", "content": "sunny"}),
        ];
        let turn = read(Some(&messages)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(turn.text, "see /docs\n\none\n\ntwo\n\nsunny");
        assert_eq!(
            turn.text_override("prompt_name").as_deref(),
            Some("Instruct")
        );
        assert_eq!(turn.number_override(&["conversation_results"]), Some(3));
        assert!(!turn.overrides.contains_key("tool_call_id"));
    }

    #[test]
    fn empty_or_malformed_messages_are_refused() {
        assert!(matches!(read(None), Err(AppError::BadRequest(_))));
        assert!(matches!(read(Some(&[])), Err(AppError::BadRequest(_))));
        assert!(matches!(
            read(Some(&[json!("hi")])),
            Err(AppError::Invalid { .. })
        ));
        assert!(matches!(
            read(Some(&[json!({"role": "wizard", "content": "x"})])),
            Err(AppError::Invalid { .. })
        ));
        assert!(matches!(
            read(Some(&[json!({"role": "user", "content": 5})])),
            Err(AppError::Invalid { .. })
        ));
    }
}
