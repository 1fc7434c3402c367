//! The application's own use cases on real databases.

use std::time::Duration;

use agentry_app::{App, AppError, setup};
use agentry_store::seed::SeedOutcome;
use agentry_store::{Connector, DatabaseUrl, PoolOptions, build_pool};
use agentry_test_support::db_tests;

db_tests! {
    fn ready_answers_over_a_live_database(db) {
        let (pool, counter) = db.pool();
        let app = App::new(pool, agentry_app::Settings::for_tests());
        app.ready().unwrap();
        assert_eq!(counter.get(), 1);
    }

    fn setup_is_idempotent(db) {
        // The test database is prepared already: setup finds nothing to do.
        let mut conn = db.connect();
        assert!(setup::migrate(&mut conn).unwrap().is_empty());
        assert_eq!(setup::seed(&mut conn).unwrap(), SeedOutcome::Current);
    }
}

#[test]
fn ready_reports_an_unreachable_database_as_unavailable() {
    let connector =
        Connector::new(DatabaseUrl::parse("postgres://postgres@127.0.0.1:1/x").unwrap());
    let options = PoolOptions {
        max_size: 1,
        connection_timeout: Duration::from_millis(200),
    };
    let app = App::new(
        build_pool(connector, &options),
        agentry_app::Settings::for_tests(),
    );
    let error = app.ready().unwrap_err();
    assert!(matches!(error, AppError::Unavailable(_)), "{error:?}");
}
