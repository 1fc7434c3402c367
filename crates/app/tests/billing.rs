//! The inference pre-check (`Accounts::check_balance`) on both backends.
#![expect(clippy::expect_used, reason = "helpers of a test crate")]

use agentry_app::{App, AppError, Caller, Settings};
use agentry_billing::BillingSettings;
use agentry_domain::{CompanyId, RoleId};
use agentry_store::Uow;
use agentry_store::identity::{NewCompany, insert_companies};
use agentry_test_support::{db_tests, seed_member, seed_members};
use diesel::RunQueryDsl;
use diesel::sql_types::Text;

/// The server's own key, which crediting needs.
fn key() -> String {
    String::from_utf8(Settings::for_tests().token_secret.to_vec()).expect("a text key")
}

/// A company whose parent is `parent`.
fn company_under(db: &agentry_test_support::TestDb, parent: Option<CompanyId>) -> CompanyId {
    let now = chrono::Utc::now().naive_utc();
    let id = CompanyId::new();
    let row = NewCompany {
        id: id.into(),
        parent_id: parent.map(Into::into),
        name: "Parent".into(),
        agent_name: "AGiXT".into(),
        created_at: now,
        updated_at: now,
    };
    insert_companies(&mut db.connect(), &[row]).expect("insert a company");
    id
}

/// Make `child` a child of `parent` (before anything reads either).
fn set_parent(db: &agentry_test_support::TestDb, child: CompanyId, parent: CompanyId) {
    let sql = match db.backend() {
        agentry_store::Backend::Sqlite => "UPDATE companies SET parent_id = ? WHERE id = ?",
        agentry_store::Backend::Postgres => "UPDATE companies SET parent_id = $1 WHERE id = $2",
    };
    diesel::sql_query(sql)
        .bind::<Text, _>(parent.to_string())
        .bind::<Text, _>(child.to_string())
        .execute(&mut db.connect())
        .expect("set a parent");
}

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
        assert!(matches!(
            app.billing().credit_company(&mut Uow::new(app.pool()), Some("wrong"), &company.to_string(), 1.0),
            Err(AppError::Unauthorized(_))
        ), "only the server's key credits");
        app.billing().credit_company(&mut Uow::new(app.pool()), Some(&key()), &company.to_string(), 1.0).unwrap();
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

    fn a_credit_to_a_grandparent_opens_the_gate_for_a_grandchilds_member(db) {
        let (caller, leaf) = member(&db);
        let root = company_under(&db, None);
        let middle = company_under(&db, Some(root));
        set_parent(&db, leaf, middle);
        let app = app(&db, 2.0);
        assert!(matches!(
            app.accounts().check_balance(&mut Uow::new(app.pool()), &caller),
            Err(AppError::PaymentRequired(_))
        ));
        // The company between pays for nothing: its tokens do not open the gate (the root is
        // the billing company, as the reference's).
        app.billing().credit_company(&mut Uow::new(app.pool()), Some(&key()), &middle.to_string(), 1.0).unwrap();
        assert!(matches!(
            app.accounts().check_balance(&mut Uow::new(app.pool()), &caller),
            Err(AppError::PaymentRequired(_))
        ));
        // The member's view (and its paywall decision) is now held; the credit two levels up
        // must reach it.
        app.billing().credit_company(&mut Uow::new(app.pool()), Some(&key()), &root.to_string(), 1.0).unwrap();
        assert!(app.accounts().check_balance(&mut Uow::new(app.pool()), &caller).is_ok());
    }

    fn deleting_a_parent_company_stops_its_children_drawing_on_it(db) {
        let (caller, child) = member(&db);
        let (admin, parent) = seed_member(&db, "admin@example.com", RoleId::TENANT_ADMIN);
        set_parent(&db, child, parent);
        let admin = Caller { user: admin, email: "admin@example.com".into(), issued_at: 0.0, token: None };
        let app = app(&db, 2.0);
        app.billing().credit_company(&mut Uow::new(app.pool()), Some(&key()), &parent.to_string(), 1.0).unwrap();
        assert!(app.accounts().check_balance(&mut Uow::new(app.pool()), &caller).is_ok(), "the parent's balance counts");
        app.companies().delete_company(&mut Uow::new(app.pool()), &admin, parent).unwrap();
        assert!(matches!(
            app.accounts().check_balance(&mut Uow::new(app.pool()), &caller),
            Err(AppError::PaymentRequired(_))
        ), "an orphan has only its own balance");
    }

    fn a_child_companys_usage_is_charged_to_its_root(db) {
        let (caller, child) = member(&db);
        let root = company_under(&db, None);
        set_parent(&db, child, root);
        let app = app(&db, 2.0);
        let credited = app.billing().credit_company(&mut Uow::new(app.pool()), Some(&key()), &root.to_string(), 1.0).unwrap();
        app.billing().charge_tokens(&mut Uow::new(app.pool()), caller.user, child, 100, 50).unwrap();
        let mut conn = db.connect();
        let balance = |conn: &mut agentry_store::AnyConnection, id: CompanyId| {
            agentry_store::companies::find_company(conn, id).expect("read").expect("exists").token_balance
        };
        assert_eq!(balance(&mut conn, root), credited - 150, "the root pays");
        assert_eq!(balance(&mut conn, child), 0);
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = Text)]
            company_id: String,
        }
        let rows: Vec<Row> = diesel::sql_query("SELECT company_id FROM token_usage").load(&mut conn).expect("usage");
        let named: Vec<String> = rows.into_iter().map(|r| r.company_id).collect();
        assert_eq!(named, [child.to_string()], "the ledger names the company the usage was in");
        // More than the root holds: 402, nothing changes.
        let refused = app.billing().charge_tokens(&mut Uow::new(app.pool()), caller.user, child, credited, 0);
        assert!(matches!(refused, Err(AppError::PaymentRequired(_))), "{refused:?}");
        assert_eq!(balance(&mut conn, root), credited - 150);
    }

    fn a_childs_own_tokens_neither_open_the_gate_nor_pay(db) {
        let (caller, child) = member(&db);
        let root = company_under(&db, None);
        set_parent(&db, child, root);
        let app = app(&db, 2.0);
        // Credited straight to the child (the server key may): the root, which pays, holds
        // nothing, so the paywall and the charge agree on 402.
        app.billing().credit_company(&mut Uow::new(app.pool()), Some(&key()), &child.to_string(), 1.0).unwrap();
        assert!(matches!(
            app.accounts().check_balance(&mut Uow::new(app.pool()), &caller),
            Err(AppError::PaymentRequired(_))
        ));
        let charged = app.billing().charge_tokens(&mut Uow::new(app.pool()), caller.user, child, 10, 0);
        assert!(matches!(charged, Err(AppError::PaymentRequired(_))), "{charged:?}");
    }

    fn charges_reach_no_ones_access_and_every_view_sees_the_new_balance(db) {
        // Chat completions charge on every call: a charge must not flush the access (or the
        // views) of the company's members, and yet each of them sees the balance it left.
        const MEMBERS: usize = 100;
        const CHARGES: usize = 100;
        let (payer, company) = member(&db);
        let members: Vec<Caller> = seed_members(&db, company, MEMBERS - 1, RoleId::USER)
            .into_iter()
            .map(|user| Caller { user, email: String::new(), issued_at: 0.0, token: None })
            .chain(std::iter::once(payer.clone()))
            .collect();
        let app = app(&db, 2.0);
        let credited = app.billing().credit_company(&mut Uow::new(app.pool()), Some(&key()), &company.to_string(), 1.0).unwrap();
        let mut uow = Uow::new(app.pool());
        let read_all = |uow: &mut Uow<'_>| {
            for caller in &members {
                app.sessions().caller_access(uow, caller).expect("access");
                app.accounts().check_balance(uow, caller).expect("the gate is open");
            }
        };
        read_all(&mut uow);
        let warm = app.read_model_loads();
        for _ in 0..CHARGES {
            app.billing().charge_tokens(&mut Uow::new(app.pool()), payer.user, company, 7, 3).unwrap();
            read_all(&mut uow);
        }
        let loads = app.read_model_loads();
        let (access, views) = (loads.access - warm.access, loads.user_views - warm.user_views);
        let balances = loads.balances - warm.balances;
        println!("{CHARGES} charges, {MEMBERS} members reading after each: {access} access loads, {views} view loads, {balances} balance loads");
        assert_eq!(access, 0, "a charge invalidates no one's access");
        assert_eq!(views, 0, "nor anyone's view");
        assert_eq!(balances, CHARGES as u64, "one balance read per charge, whoever reads it");
        // Yet every view shows the balance the charges left.
        let left = credited - (CHARGES as i64) * 10;
        for caller in &members {
            let view = app.accounts().user_view(&mut uow, caller, &Default::default()).expect("view");
            let view: serde_json::Value = serde_json::from_str(&view.body).expect("json");
            assert_eq!(view["companies"][0]["token_balance"], left, "{}", caller.user);
        }
        // A charge that empties the balance closes the gate for every member at once.
        app.billing().charge_tokens(&mut Uow::new(app.pool()), payer.user, company, left, 0).unwrap();
        for caller in &members {
            assert!(matches!(app.accounts().check_balance(&mut uow, caller), Err(AppError::PaymentRequired(_))));
        }
    }
}
