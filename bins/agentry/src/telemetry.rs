//! Logging: tracing-subscriber with `RUST_LOG` (a full filter) over `LOG_LEVEL`, as text or JSON.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Install the global subscriber once; later calls (tests) are no-ops.
pub fn init(level: &str, format: LogFormat) {
    // actix-http logs each client's broken connection (a malformed request, a reset) at
    // ERROR ("stream error"): anyone could fill the error log. It is the client's fault and
    // the client got its 400, so those lines are off unless `RUST_LOG` asks for them.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{level},actix_http::h1::dispatcher=off")));
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
