//! What of a model's text the user sees (reference agents-memory.md 8.2 and 8.5), read as it
//! streams: `<thinking>` and `<reflection>` are thoughts, `<execute>` a command the model
//! calls, `<output>` a command's output (which only Agentry writes, so a model's own is
//! dropped); `<answer>` tags are dropped and their text kept, as is any text outside those
//! blocks. Tags may arrive cut across chunks: a `<` that may begin one is held until the
//! next chunk decides.

use serde_json::{Map, Value};

/// The blocks whose text the user does not see.
const HIDDEN: &[&str] = &["thinking", "reflection", "execute", "output"];

/// A piece of the model's text, as it is to be forwarded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    /// Text of the answer.
    Visible(String),
    /// Text of a thought (`<thinking>` or `<reflection>`).
    Thought(String),
}

/// Reads a model's text, chunk by chunk.
#[derive(Debug, Default)]
pub(crate) struct Filter {
    /// Text not yet decided (a possible tag's start).
    held: String,
    /// The hidden block being read.
    hidden: Option<&'static str>,
    /// The text of the `<execute>` block being read.
    call: String,
    /// The `<execute>` blocks read, their inner text.
    calls: Vec<String>,
    /// Whether visible text has begun (leading whitespace is dropped).
    begun: bool,
}

/// Whether `text` starts with `tag`, ignoring ASCII case.
fn starts_with_tag(text: &str, tag: &str) -> bool {
    text.get(..tag.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(tag))
}

/// Whether `text` (shorter than `tag`) may be the start of `tag`.
fn may_become(text: &str, tag: &str) -> bool {
    text.len() < tag.len()
        && tag
            .get(..text.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(text))
}

impl Filter {
    /// Read `text`; what to forward now.
    pub(crate) fn push(&mut self, text: &str) -> Vec<Piece> {
        self.held.push_str(text);
        let mut out = Vec::new();
        let held = std::mem::take(&mut self.held);
        let mut rest = held.as_str();
        loop {
            let Some(at) = rest.find('<') else {
                self.emit(rest, &mut out);
                break;
            };
            let (before, from) = rest.split_at(at);
            self.emit(before, &mut out);
            match self.tag_at(from) {
                Tag::Is(len, next) => {
                    self.enter(next);
                    rest = from.get(len..).unwrap_or_default();
                }
                Tag::Maybe => {
                    self.held = from.to_owned();
                    break;
                }
                Tag::Not => {
                    let (lt, after) = from.split_at('<'.len_utf8());
                    self.emit(lt, &mut out);
                    rest = after;
                }
            }
        }
        out
    }

    /// The end of the text: what was held is forwarded as it stands.
    pub(crate) fn finish(&mut self) -> Vec<Piece> {
        let held = std::mem::take(&mut self.held);
        let mut out = Vec::new();
        self.emit(&held, &mut out);
        out
    }

    /// The `<execute>` blocks read so far, taken.
    pub(crate) fn take_calls(&mut self) -> Vec<String> {
        std::mem::take(&mut self.calls)
    }

    fn tag_at(&self, from: &str) -> Tag {
        let candidates: Vec<(String, Option<Option<&'static str>>)> = match self.hidden {
            // Inside a hidden block only its end counts.
            Some(name) => vec![(format!("</{name}>"), Some(None))],
            None => HIDDEN
                .iter()
                .map(|name| (format!("<{name}>"), Some(Some(*name))))
                .chain([
                    ("<answer>".to_owned(), None),
                    ("</answer>".to_owned(), None),
                ])
                .collect(),
        };
        let mut maybe = false;
        for (tag, next) in &candidates {
            if starts_with_tag(from, tag) {
                return Tag::Is(tag.len(), *next);
            }
            maybe |= may_become(from, tag);
        }
        if maybe { Tag::Maybe } else { Tag::Not }
    }

    /// Move into (`Some(Some(name))`) or out of (`Some(None)`) a hidden block; `None`: an
    /// answer tag, dropped.
    fn enter(&mut self, next: Option<Option<&'static str>>) {
        let Some(next) = next else { return };
        if self.hidden == Some("execute") && next.is_none() {
            self.calls.push(std::mem::take(&mut self.call));
        }
        self.hidden = next;
    }

    fn emit(&mut self, text: &str, out: &mut Vec<Piece>) {
        if text.is_empty() {
            return;
        }
        match self.hidden {
            None => {
                let text = if self.begun { text } else { text.trim_start() };
                if text.is_empty() {
                    return;
                }
                self.begun = true;
                match out.last_mut() {
                    Some(Piece::Visible(last)) => last.push_str(text),
                    _ => out.push(Piece::Visible(text.to_owned())),
                }
            }
            Some("thinking" | "reflection") => match out.last_mut() {
                Some(Piece::Thought(last)) => last.push_str(text),
                _ => out.push(Piece::Thought(text.to_owned())),
            },
            Some("execute") => self.call.push_str(text),
            Some(_) => {}
        }
    }
}

enum Tag {
    /// A tag of this many bytes, and where it leads.
    Is(usize, Option<Option<&'static str>>),
    /// Too short to say.
    Maybe,
    Not,
}

/// A command the model calls: `<name>...</name>` and each other `<arg>value</arg>` of an
/// `<execute>` block.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Call {
    pub name: String,
    pub args: Map<String, Value>,
}

/// The call an `<execute>` block's inner text makes (`None` without a `<name>`).
pub(crate) fn parse_call(inner: &str) -> Option<Call> {
    let mut name = None;
    let mut args = Map::new();
    let mut rest = inner;
    while let Some(open) = rest.find('<') {
        let after = &rest[open..];
        let after = after.get(1..).unwrap_or_default();
        let Some(close) = after.find('>') else { break };
        let (tag, tail) = after.split_at(close);
        let tail = tail.get(1..).unwrap_or_default();
        let tag = tag.trim();
        if tag.is_empty() || tag.starts_with('/') {
            rest = tail;
            continue;
        }
        let end = format!("</{tag}>");
        let Some(stop) = tail.find(&end) else {
            rest = tail;
            continue;
        };
        let (value, after_end) = tail.split_at(stop);
        let value = value.trim().to_owned();
        if tag == "name" {
            name = Some(value);
        } else {
            args.insert(tag.to_owned(), Value::String(value));
        }
        rest = after_end.get(end.len()..).unwrap_or_default();
    }
    name.filter(|n| !n.is_empty())
        .map(|name| Call { name, args })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pieces: &[&str]) -> (String, String, Vec<String>) {
        let mut filter = Filter::default();
        let mut out = Vec::new();
        for piece in pieces {
            out.extend(filter.push(piece));
        }
        out.extend(filter.finish());
        let (mut visible, mut thought) = (String::new(), String::new());
        for piece in out {
            match piece {
                Piece::Visible(text) => visible.push_str(&text),
                Piece::Thought(text) => thought.push_str(&text),
            }
        }
        (visible, thought, filter.take_calls())
    }

    #[test]
    fn thoughts_calls_and_answer_tags_are_split_out_wherever_chunks_cut() {
        let text = "<thinking>a < b</thinking>\n<execute><name>Write to File</name>\
                    <filename>x.txt</filename></execute><output>fake</output>\
                    <ANSWER>It is 1 < 2.</answer>";
        let whole = read(&[text]);
        assert_eq!(whole.0, "It is 1 < 2.");
        assert_eq!(whole.1, "a < b");
        assert_eq!(whole.2.len(), 1);
        // Every cut of the text gives the same.
        let bytes: Vec<&str> = (0..text.len())
            .filter(|i| text.is_char_boundary(*i))
            .map(|i| &text[i..])
            .collect();
        for (i, _) in bytes.iter().enumerate().step_by(3) {
            let (a, b) = text.split_at(i);
            assert_eq!(read(&[a, b]), whole, "cut at {i}");
        }
        let call = parse_call(&whole.2[0]).unwrap_or_else(|| panic!("a call"));
        assert_eq!(call.name, "Write to File");
        assert_eq!(call.args["filename"], "x.txt");
    }

    #[test]
    fn plain_text_passes_and_a_held_lt_is_released_at_the_end() {
        assert_eq!(
            read(&["  hello ", "<b>world</b> <"]).0,
            "hello <b>world</b> <"
        );
        assert_eq!(read(&["x <ans"]).0, "x <ans");
        assert!(parse_call("<arg>1</arg>").is_none());
    }
}
