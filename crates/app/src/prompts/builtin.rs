//! The built-in prompt set (`crates/app/prompts/`, compiled in, category "Default"), how a
//! prompt's arguments are read and how it is rendered.

use std::collections::BTreeMap;

/// The built-in prompts by name (category "Default").
pub(crate) const DEFAULTS: &[(&str, &str)] = &[
    (
        "Think About It",
        include_str!("../../prompts/Think About It.md"),
    ),
    ("Chat", include_str!("../../prompts/Chat.md")),
    ("Instruct", include_str!("../../prompts/Instruct.md")),
];

/// The prompt agents run when they name none.
pub(crate) const DEFAULT_PROMPT: &str = "Think About It";

/// The built-in prompt `name` names, with its own name: exactly, else ignoring ASCII case
/// (the SDK's `instruct` helper asks for "instruct").
pub(crate) fn builtin_named(name: &str) -> Option<(&'static str, &'static str)> {
    let name = name.trim();
    DEFAULTS
        .iter()
        .find(|(n, _)| *n == name)
        .or_else(|| DEFAULTS.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)))
        .copied()
}

/// The category of the built-in prompts.
pub(crate) const CATEGORY: &str = "Default";

/// The arguments of `text`: each distinct `{name}` whose name can be a variable's, in
/// order (JSON braces are not arguments).
pub(crate) fn arguments(text: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut seen: std::collections::HashSet<&str> = std::collections::HashSet::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let inner = &rest[open..];
        let inner = inner.get(1..).unwrap_or_default();
        match inner.find(['}', '{']) {
            Some(close) if inner[close..].starts_with('}') => {
                let name = &inner[..close];
                if is_variable(name) && seen.insert(name) {
                    found.push(name.to_owned());
                }
                rest = &inner[close..];
            }
            Some(close) => rest = &inner[close..],
            None => break,
        }
    }
    found
}

/// Whether `name` can be a variable's (`{user_input}`, `{COMMANDS}`...).
fn is_variable(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// `template` with each `{name}` that `values` holds replaced by its value. Other braces stay
/// as written, and values are not read again: a user who writes `{date}` gets `{date}`.
pub(crate) fn render(template: &str, values: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let (before, from) = rest.split_at(open);
        out.push_str(before);
        let inner = &from['{'.len_utf8()..];
        let Some(close) = inner.find('}') else {
            // No `}` left: the rest is text (not rescanned brace by brace).
            out.push_str(from);
            return out;
        };
        let value = Some(close).and_then(|close| {
            let (name, tail) = inner.split_at(close);
            let value = values.get(name).filter(|_| is_variable(name))?;
            Some((value, tail.strip_prefix('}').unwrap_or(tail)))
        });
        match value {
            Some((value, tail)) => {
                out.push_str(value);
                rest = tail;
            }
            None => {
                out.push('{');
                rest = inner;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_known_variables_once_and_leaves_other_braces() {
        let values: BTreeMap<String, String> =
            [("user_input", "what is {date}?"), ("date", "2026-12-05")]
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
        assert_eq!(
            render(
                "Q: {user_input} on {date}; {\"json\": 1} {unknown} {",
                &values
            ),
            "Q: what is {date}? on 2026-12-05; {\"json\": 1} {unknown} {"
        );
    }

    #[test]
    fn arguments_are_the_variables_in_order_once() {
        assert_eq!(
            arguments("{a} {\"json\": {b}} {a} { spaced } {c"),
            ["a", "b"]
        );
    }

    #[test]
    fn the_default_set_names_what_agents_and_the_sdk_ask_for() {
        for name in ["Think About It", "Chat", "instruct", "INSTRUCT"] {
            let text = builtin_named(name)
                .map(|(_, text)| text)
                .unwrap_or_default();
            assert!(text.contains("{user_input}"), "{name}");
        }
        assert!(builtin_named("nope").is_none());
        assert!(
            builtin_named(DEFAULT_PROMPT)
                .map(|(_, text)| text)
                .is_some_and(|t| t.contains("{COMMANDS}"))
        );
    }
}
