//! The inference pre-check (`App::check_balance`) on both backends.
#![expect(clippy::unwrap_used, reason = "helpers of a test crate")]

use agentry_app::{App, AppError, Caller, Settings};
use agentry_billing::BillingSettings;
use agentry_domain::{CompanyId, RoleId, UserId};
use agentry_store::companies::set_role;
use agentry_store::identity::{
    NewCompany, NewMembership, NewUser, insert_companies, insert_memberships, insert_users,
};
use agentry_test_support::db_tests;
use chrono::Utc;

fn member(db: &agentry_test_support::TestDb) -> (Caller, CompanyId) {
    let mut conn = db.connect();
    let now = Utc::now().naive_utc();
    let (user, company) = (UserId::new(), CompanyId::new());
    insert_companies(
        &mut conn,
        &[NewCompany {
            id: company.into(),
            parent_id: None,
            name: "Acme".into(),
            agent_name: "AGiXT".into(),
            created_at: now,
            updated_at: now,
        }],
    )
    .unwrap();
    insert_users(
        &mut conn,
        &[NewUser {
            id: user.into(),
            email: "a@example.com".into(),
            username: None,
            password_hash: None,
            first_name: String::new(),
            last_name: String::new(),
            mfa_secret: None,
            tos_accepted_at: None,
            created_at: now,
            updated_at: now,
        }],
    )
    .unwrap();
    insert_memberships(
        &mut conn,
        &[NewMembership::new(user, company, RoleId::USER, now)],
    )
    .unwrap();
    (
        Caller {
            user,
            email: "a@example.com".into(),
            issued_at: 0.0,
            token: None,
        },
        company,
    )
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
        assert!(app(&db, 0.0).check_balance(&caller).is_ok(), "billing off: no gate");

        let app = app(&db, 2.0);
        match app.check_balance(&caller) {
            Err(AppError::PaymentRequired(detail)) => {
                assert_eq!(detail["message"], "Insufficient token balance. Please top up your tokens to continue.");
                assert_eq!(detail["customer_session"]["company_id"], company.to_string());
            }
            other => panic!("expected 402, got {other:?}"),
        }
        app.credit_company(&company.to_string(), 1.0).unwrap();
        assert!(app.check_balance(&caller).is_ok(), "the credit opens the gate at once");
    }

    fn super_admins_pass_without_tokens(db) {
        let (caller, company) = member(&db);
        let app = app(&db, 2.0);
        assert!(app.check_balance(&caller).is_err());
        set_role(&mut db.connect(), caller.user, company, RoleId::SUPER_ADMIN).unwrap();
        app.invalidate_access(caller.user);
        assert!(app.check_balance(&caller).is_ok());
    }
}
