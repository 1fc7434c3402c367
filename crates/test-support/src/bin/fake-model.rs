//! The fake model server as a process, for the SDK suite: listens on 127.0.0.1 (the port
//! given as the first argument, or a free one), prints its base URL (ending in `/v1`) on the
//! first line of stdout, and serves until it is killed.

use std::io::Write;
use std::net::TcpListener;

use agentry_test_support::fake_model::FakeModel;

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let model = FakeModel::start_on(TcpListener::bind(("127.0.0.1", port))?);
    let mut out = std::io::stdout();
    writeln!(out, "{}", model.url)?;
    out.flush()?;
    std::future::pending::<()>().await;
    Ok(())
}
