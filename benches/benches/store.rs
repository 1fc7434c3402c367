//! Store benchmarks on a seeded database of realistic size: read one user's memberships with
//! companies, roles and role scopes (the query behind `GET /v1/user` and every `Caller`),
//! and the startup seed check. SQLite always; PostgreSQL too when `TEST_DATABASE_URL` is set.
#![expect(
    clippy::expect_used,
    reason = "a benchmark harness: a failed setup should stop it"
)]

use std::hint::black_box;

use agentry_domain::catalog::Catalog;
use agentry_domain::{CompanyId, RoleId, UserId};
use agentry_store::identity::{
    NewCompany, NewMembership, NewUser, insert_companies, insert_memberships, insert_users,
    memberships_for,
};
use agentry_store::seed::seed_catalog;
use agentry_test_support::TestDb;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

/// 1,000 users in 100 companies of 10; every user also belongs to 2 other companies, so a
/// read returns 3 memberships (the "user in 3 companies").
const COMPANIES: usize = 100;
const MEMBERS_PER_COMPANY: usize = 10;
const EXTRA_MEMBERSHIPS: usize = 2;

struct Seeded {
    db: TestDb,
    users: Vec<UserId>,
}

fn seed(db: TestDb) -> Seeded {
    let now = chrono::Utc::now().naive_utc();
    let mut conn = db.connect();
    let companies: Vec<NewCompany> = (0..COMPANIES)
        .map(|i| NewCompany {
            id: CompanyId::new().into(),
            parent_id: None,
            name: format!("Company {i:03}"),
            agent_name: "AGiXT".into(),
            created_at: now,
            updated_at: now,
        })
        .collect();
    let users: Vec<NewUser> = (0..COMPANIES * MEMBERS_PER_COMPANY)
        .map(|i| NewUser {
            id: UserId::new().into(),
            email: format!("user{i}@example.com"),
            username: Some(format!("user{i}")),
            password_hash: None,
            mfa_secret: None,
            tos_accepted_at: None,
            first_name: "Bench".into(),
            last_name: format!("{i}"),
            created_at: now,
            updated_at: now,
        })
        .collect();
    let roles = [RoleId::COMPANY_ADMIN, RoleId::USER, RoleId::READ_ONLY_USER];
    let mut memberships = Vec::new();
    for (i, user) in users.iter().enumerate() {
        let home = i / MEMBERS_PER_COMPANY;
        for extra in 0..=EXTRA_MEMBERSHIPS {
            let company = &companies[(home + extra * 37) % COMPANIES];
            memberships.push(NewMembership::new(
                user.id.into(),
                company.id.into(),
                roles[(i + extra) % roles.len()],
                now,
            ));
        }
    }
    insert_companies(&mut conn, &companies).expect("seed companies");
    insert_users(&mut conn, &users).expect("seed users");
    insert_memberships(&mut conn, &memberships).expect("seed memberships");
    Seeded {
        users: users.iter().map(|u| u.id.into()).collect(),
        db,
    }
}

fn backends() -> Vec<(&'static str, TestDb)> {
    let mut dbs = vec![("sqlite", TestDb::sqlite())];
    if std::env::var_os("TEST_DATABASE_URL").is_some() {
        dbs.extend(TestDb::postgres().map(|db| ("postgres", db)));
    }
    dbs
}

fn store(c: &mut Criterion) {
    let mut group = c.benchmark_group("store");
    for (name, db) in backends() {
        let seeded = seed(db);
        let mut conn = seeded.db.connect();
        let mut next = 0;
        group.bench_function(BenchmarkId::new("memberships_for (3 of 3000)", name), |b| {
            b.iter(|| {
                next = (next + 7919) % seeded.users.len();
                let views = memberships_for(&mut conn, seeded.users[next]).expect("load");
                assert_eq!(views.len(), 1 + EXTRA_MEMBERSHIPS);
                black_box(views)
            })
        });
        let catalog = Catalog::builtin();
        group.bench_function(BenchmarkId::new("seed_catalog (current)", name), |b| {
            b.iter(|| black_box(seed_catalog(&mut conn, &catalog).expect("seed")))
        });
    }
    group.finish();
}

fn domain(c: &mut Criterion) {
    let catalog = Catalog::builtin();
    c.bench_function("domain/catalog_fingerprint", |b| {
        b.iter(|| black_box(catalog.fingerprint()))
    });
    let held = agentry_domain::ScopeSet::new(catalog.scopes_of(RoleId::USER).chain(["ext:*:read"]));
    c.bench_function("domain/scope_allows (user role)", |b| {
        b.iter(|| {
            black_box(held.allows(black_box("agents:write")))
                && black_box(held.allows(black_box("ext:github:read")))
                && !black_box(held.allows(black_box("company:delete")))
        })
    });
}

criterion_group!(benches, store, domain);
criterion_main!(benches);
