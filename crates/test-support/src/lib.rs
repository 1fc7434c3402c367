#![doc = include_str!("../README.md")]
#![expect(
    clippy::expect_used,
    reason = "test support: a failed setup should panic loudly"
)]

mod app;
mod db;
pub mod fake_model;
pub mod fake_stripe;
pub mod fake_wires;
pub mod process;
mod seed;

pub use app::{TEST_API_KEY, TEST_PASSWORD, TestApp, call};
pub use db::{TestDb, postgres_admin_url};
pub use seed::{seed_member, seed_members};

/// Serve a fake (its routes set by `routes`) on `listener` with one worker, inside the
/// current tokio runtime; stopped through the returned handle.
pub(crate) fn serve_fake<F>(
    listener: std::net::TcpListener,
    routes: F,
) -> actix_web::dev::ServerHandle
where
    F: Fn(&mut actix_web::web::ServiceConfig) + Clone + Send + 'static,
{
    let server =
        actix_web::HttpServer::new(move || actix_web::App::new().configure(routes.clone()))
            .workers(1)
            // As a real provider's server: events are not held back by Nagle's algorithm.
            .on_connect(|io, _| {
                if let Some(tcp) = io.downcast_ref::<actix_web::rt::net::TcpStream>() {
                    let _ = tcp.set_nodelay(true);
                }
            })
            .listen(listener)
            .expect("listen")
            .disable_signals()
            .run();
    let handle = server.handle();
    tokio::spawn(server);
    handle
}

/// The role and scope catalog every test database is seeded with (the server's own).
pub fn seeded_catalog() -> agentry_domain::catalog::Catalog {
    agentry_app::setup::catalog()
}

/// Write a synchronous database test once; it runs as `$name::sqlite` and `$name::postgres`.
///
/// ```ignore
/// db_tests! {
///     fn seeds_roles(db) { let mut conn = db.connect(); /* ... */ }
/// }
/// ```
#[macro_export]
macro_rules! db_tests {
    ($(fn $name:ident($db:ident) $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[test]
            fn sqlite() {
                let $db = $crate::TestDb::sqlite();
                $body
            }

            #[test]
            fn postgres() {
                let Some($db) = $crate::TestDb::postgres() else { return };
                $body
            }
        }
    )*};
}

/// Like [`db_tests!`] for async tests (a tokio runtime per test).
#[macro_export]
macro_rules! app_tests {
    ($(async fn $name:ident($db:ident) $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test]
            async fn sqlite() {
                let $db = $crate::TestDb::sqlite();
                $body
            }

            #[tokio::test]
            async fn postgres() {
                let Some($db) = $crate::TestDb::postgres() else { return };
                $body
            }
        }
    )*};
}
