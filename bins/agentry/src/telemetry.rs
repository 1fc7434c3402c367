//! Logging: tracing-subscriber with `RUST_LOG` (a full filter) over `LOG_LEVEL`, as text or JSON.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Install the global subscriber once; later calls (tests) are no-ops.
pub fn init(level: &str, format: LogFormat) {
    // actix-http logs each client's broken connection (a malformed request, a reset, an
    // oversized head) at ERROR ("stream error", "MAX_BUFFER_SIZE unprocessed data
    // reached"): anyone could fill the error log. The client got its 4xx, so those modules
    // are off unless `RUST_LOG` asks for them (which also shows actix's own rare response
    // stream errors there).
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(format!(
            "{level},actix_http::h1::dispatcher=off,actix_http::h1::decoder=off"
        ))
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stdout)
        // Colours only for a terminal; files and collectors get plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()));
    let _already_set = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().with_current_span(true).try_init(),
    };
}
