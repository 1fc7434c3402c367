//! Charges on real databases: refused without balance, exact under concurrency.

use agentry_billing::{BillingError, BillingSettings, Usage, charge};
use agentry_domain::{CompanyId, RoleId, UserId};
use agentry_store::billing::{credit, usage_of, usage_totals};
use agentry_store::companies::find_company;
use agentry_test_support::{TestDb, db_tests, seed_member};
use chrono::Utc;

fn setup(db: &TestDb) -> (CompanyId, UserId) {
    let (user, company) = seed_member(db, "a@example.com", RoleId::COMPANY_ADMIN);
    (company, user)
}

const ON: BillingSettings = BillingSettings {
    token_price_per_million_usd: 2.0,
    low_balance_threshold: 10,
    warning_increment: 1,
};

db_tests! {
    fn charges_need_a_balance_when_billing_is_on(db) {
        let (company, user) = setup(&db);
        let mut conn = db.connect();
        let now = Utc::now().naive_utc();
        assert!(matches!(charge(&mut conn, &ON, &Usage { payer: company, company, user, input: 10, output: 5 }, now), Err(BillingError::InsufficientBalance)));
        assert!(usage_of(&mut conn, company, 10, 0).unwrap().is_empty(), "a refused charge writes nothing");

        assert!(credit(&mut conn, company, 100, 0.0002).unwrap());
        charge(&mut conn, &ON, &Usage { payer: company, company, user, input: 60, output: 20 }, now).unwrap();
        let row = find_company(&mut conn, company).unwrap().unwrap();
        assert_eq!((row.token_balance, row.tokens_used_total), (20, 80));
        assert!(matches!(charge(&mut conn, &ON, &Usage { payer: company, company, user, input: 20, output: 1 }, now), Err(BillingError::InsufficientBalance)));
        assert!(matches!(charge(&mut conn, &ON, &Usage { payer: company, company, user, input: -1, output: 1 }, now), Err(BillingError::Negative)));
        assert_eq!(usage_totals(&mut conn, company).unwrap(), (60, 20, 80));

        // Billing off: usage is counted, the balance untouched.
        charge(&mut conn, &BillingSettings::default(), &Usage { payer: company, company, user, input: 1000, output: 0 }, now).unwrap();
        let row = find_company(&mut conn, company).unwrap().unwrap();
        assert_eq!((row.token_balance, row.tokens_used_total), (20, 1080));
    }

    fn concurrent_charges_never_overdraw_or_lose_an_update(db) {
        let (company, user) = setup(&db);
        credit(&mut db.connect(), company, 1_000, 0.0).unwrap();
        // 8 threads x 20 charges of 10 tokens = 1,600 asked for, 1,000 available.
        let url = db.url().clone();
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let url = url.clone();
                std::thread::spawn(move || {
                    let mut conn = agentry_store::Connector::new(url).connect().unwrap();
                    let mut accepted = 0;
                    for _ in 0..20 {
                        match charge(&mut conn, &ON, &Usage { payer: company, company, user, input: 6, output: 4 }, Utc::now().naive_utc()) {
                            Ok(()) => accepted += 1,
                            Err(BillingError::InsufficientBalance) => {}
                            Err(other) => panic!("{other}"),
                        }
                    }
                    accepted
                })
            })
            .collect();
        let accepted: i64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
        let mut conn = db.connect();
        let row = find_company(&mut conn, company).unwrap().unwrap();
        assert_eq!(accepted, 100, "exactly the balance's worth of charges went through");
        assert_eq!(row.token_balance, 0);
        assert_eq!(row.tokens_used_total, 1_000);
        assert_eq!(usage_totals(&mut conn, company).unwrap().2, 1_000, "one ledger row per accepted charge");
    }
}
