//! Rows written straight to a test database (no HTTP, no argon2): a company with one member.

use agentry_domain::{CompanyId, RoleId, UserId};
use agentry_store::identity::{
    NewCompany, NewMembership, NewUser, insert_companies, insert_memberships, insert_users,
};

use crate::TestDb;

/// A new company "Acme" and a user `email` in it with `role`; their ids.
pub fn seed_member(db: &TestDb, email: &str, role: RoleId) -> (UserId, CompanyId) {
    let mut conn = db.connect();
    let now = chrono::Utc::now().naive_utc();
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
    .expect("seed company");
    insert_users(&mut conn, &[new_user(user, email, now)]).expect("seed user");
    insert_memberships(&mut conn, &[NewMembership::new(user, company, role, now)])
        .expect("seed membership");
    (user, company)
}

/// `count` new users in `company` with `role` (three statements whatever the count); their
/// ids. Emails are `member-{id}@{company}.test` (so the helper may be called again).
pub fn seed_members(db: &TestDb, company: CompanyId, count: usize, role: RoleId) -> Vec<UserId> {
    let mut conn = db.connect();
    let now = chrono::Utc::now().naive_utc();
    let users: Vec<UserId> = (0..count).map(|_| UserId::new()).collect();
    let rows: Vec<NewUser> = users
        .iter()
        .map(|user| new_user(*user, &format!("member-{user}@{company}.test"), now))
        .collect();
    insert_users(&mut conn, &rows).expect("seed users");
    let memberships: Vec<NewMembership> = users
        .iter()
        .map(|user| NewMembership::new(*user, company, role, now))
        .collect();
    insert_memberships(&mut conn, &memberships).expect("seed memberships");
    users
}

/// A user row with no password, names or MFA.
fn new_user(id: UserId, email: &str, now: chrono::NaiveDateTime) -> NewUser {
    NewUser {
        id: id.into(),
        email: email.to_owned(),
        username: None,
        password_hash: None,
        first_name: String::new(),
        last_name: String::new(),
        mfa_secret: None,
        tos_accepted_at: None,
        created_at: now,
        updated_at: now,
    }
}
