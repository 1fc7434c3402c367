//! The inference pre-check (`Accounts::check_balance`) on both backends.

use agentry_app::{App, AppError, Caller, Settings};
use agentry_billing::BillingSettings;
use agentry_domain::{CompanyId, RoleId};
use agentry_store::Uow;
use agentry_test_support::{db_tests, seed_member};

fn member(db: &agentry_test_support::TestDb) -> (Caller, CompanyId) {
    let (user, company) = seed_member(db, "a@example.com", RoleId::USER);
    let caller = Caller {
        user,
        email: "a@example.com".into(),
        issued_at: 0.0,
        token: None,
    };
    (caller, company)
}

fn app(db: &agentry_test_support::TestDb, price: f64) -> App {
    let settings = Settings {
        billing: BillingSettings {
            token_price_per_million_usd: price,
            ..BillingSettings::default()
        },
        ..Settings::for_tests()
    };
    App::new(db.pool().0, settings)
}

db_tests! {
    fn inference_needs_tokens_when_billing_is_on(db) {
        let (caller, company) = member(&db);
        assert!({ let app = app(&db, 0.0); app.accounts().check_balance(&mut Uow::new(app.pool()), &caller) }.is_ok(), "billing off: no gate");

        let app = app(&db, 2.0);
        match app.accounts().check_balance(&mut Uow::new(app.pool()), &caller) {
            Err(AppError::PaymentRequired(detail)) => {
                assert_eq!(detail["message"], "Insufficient token balance. Please top up your tokens to continue.");
                assert_eq!(detail["customer_session"]["company_id"], company.to_string());
            }
            other => panic!("expected 402, got {other:?}"),
        }
        app.billing().credit_company(&mut Uow::new(app.pool()), &company.to_string(), 1.0).unwrap();
        assert!(app.accounts().check_balance(&mut Uow::new(app.pool()), &caller).is_ok(), "the credit opens the gate at once");
    }

    fn super_admins_pass_without_tokens(db) {
        let (caller, _) = member(&db);
        let app = app(&db, 2.0);
        assert!(app.accounts().check_balance(&mut Uow::new(app.pool()), &caller).is_err());
        // Promoted through the use case, whose event reaches the cached access.
        app.accounts().promote_super_admin(&mut Uow::new(app.pool()), &caller.email).unwrap();
        assert!(app.accounts().check_balance(&mut Uow::new(app.pool()), &caller).is_ok());
    }
}
