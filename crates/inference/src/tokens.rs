//! Token counts in OpenAI's `cl100k_base` encoding (reference agents-memory.md 8.2 and 8.6),
//! as tiktoken gives them. Offline: the encoding ships inside the `tiktoken-rs` crate.

/// The tokens of `text`.
pub fn count(text: &str) -> u64 {
    let tokens = tiktoken_rs::cl100k_base_singleton()
        .encode_ordinary(text)
        .len();
    u64::try_from(tokens).unwrap_or(u64::MAX)
}

/// Build the encoder now (it parses its 100k-entry table once, tens of milliseconds), so
/// that the first request does not wait for it.
pub fn warm() {
    let _ = count("warm");
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_as_tiktoken_does() {
        // Reference counts from OpenAI's tiktoken (cl100k_base).
        assert_eq!(super::count(""), 0);
        assert_eq!(super::count("hello world"), 2);
        assert_eq!(super::count("tiktoken is great!"), 6);
    }
}
