//! Stripe payments: one row per PaymentIntent, completed (and credited) at most once, and the
//! webhook events already applied. Completion is one conditional `UPDATE ... RETURNING`, so a
//! confirm racing a webhook or a sync credits the payment exactly once.

use agentry_domain::CompanyId;
use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::{companies, payment_transactions, stripe_events};
use crate::{AnyConnection, DbUuid, StoreError, per_backend};

pub const COMPLETED: &str = "completed";
/// A top-up written before Stripe was asked for its PaymentIntent: its `payment_intent_id`
/// is [`pending_intent`] until Stripe's answer is recorded.
pub const CREATING: &str = "creating";
const PENDING_PREFIX: &str = "pending:";

/// The placeholder PaymentIntent id of a top-up whose intent is not known yet.
pub fn pending_intent(reference_code: &str) -> String {
    format!("{PENDING_PREFIX}{reference_code}")
}

/// The reference code behind a placeholder PaymentIntent id, if it is one.
pub fn pending_reference(payment_intent: &str) -> Option<&str> {
    payment_intent.strip_prefix(PENDING_PREFIX)
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = payment_transactions)]
#[diesel(treat_none_as_default_value = false)]
pub struct TransactionRow {
    pub reference_code: String,
    /// The company credited: the root of the company the top-up was bought for.
    pub company_id: DbUuid,
    pub user_id: Option<DbUuid>,
    pub payment_intent_id: String,
    /// Stripe's status of the intent until it is credited, then `completed`.
    pub status: String,
    pub currency: String,
    pub amount_usd: f64,
    pub token_amount: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

pub fn insert_transaction(
    conn: &mut AnyConnection,
    row: &TransactionRow,
) -> Result<(), StoreError> {
    per_backend!(&mut *conn, |c| diesel::insert_into(
        payment_transactions::table
    )
    .values(row)
    .execute(c))?;
    Ok(())
}

pub fn find_by_reference(
    conn: &mut AnyConnection,
    reference_code: &str,
) -> Result<Option<TransactionRow>, StoreError> {
    Ok(payment_transactions::table
        .find(reference_code)
        .select(TransactionRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn find_by_intent(
    conn: &mut AnyConnection,
    payment_intent: &str,
) -> Result<Option<TransactionRow>, StoreError> {
    Ok(payment_transactions::table
        .filter(payment_transactions::payment_intent_id.eq(payment_intent))
        .select(TransactionRow::as_select())
        .first(conn)
        .optional()?)
}

/// Record the PaymentIntent Stripe created for the top-up `reference_code`, if its id is still
/// the placeholder. Returns whether it was.
pub fn record_intent(
    conn: &mut AnyConnection,
    reference_code: &str,
    payment_intent: &str,
    status: &str,
    now: NaiveDateTime,
) -> Result<bool, StoreError> {
    let changed = diesel::update(
        payment_transactions::table
            .find(reference_code)
            .filter(payment_transactions::payment_intent_id.eq(pending_intent(reference_code))),
    )
    .set((
        payment_transactions::payment_intent_id.eq(payment_intent),
        payment_transactions::status.eq(status),
        payment_transactions::updated_at.eq(now),
    ))
    .execute(conn)?;
    Ok(changed == 1)
}

/// Forget the top-up `reference_code` whose PaymentIntent Stripe refused to create (its id is
/// still the placeholder): nothing can be paid, so nothing is kept. Its job then finds no row
/// and ends.
pub fn forget_pending(conn: &mut AnyConnection, reference_code: &str) -> Result<(), StoreError> {
    diesel::delete(
        payment_transactions::table
            .find(reference_code)
            .filter(payment_transactions::payment_intent_id.eq(pending_intent(reference_code))),
    )
    .execute(conn)?;
    Ok(())
}

/// Mark `company`'s payments `intents` completed and credit their tokens to it, except those
/// already completed: the rows completed now (empty when another caller completed them
/// first). Two statements whatever the number of intents; run it inside a transaction, where
/// the conditional update decides races.
#[expect(
    clippy::arithmetic_side_effects,
    reason = "SQL expressions, computed by the database (which refuses an overflow)"
)]
pub fn complete_and_credit(
    conn: &mut AnyConnection,
    company: CompanyId,
    intents: &[String],
    now: NaiveDateTime,
) -> Result<Vec<TransactionRow>, StoreError> {
    if intents.is_empty() {
        return Ok(Vec::new());
    }
    let company = DbUuid::from(company);
    let completed: Vec<TransactionRow> = per_backend!(&mut *conn, |c| diesel::update(
        payment_transactions::table
            .filter(payment_transactions::company_id.eq(company))
            .filter(payment_transactions::payment_intent_id.eq_any(intents))
            .filter(payment_transactions::status.ne(COMPLETED)),
    )
    .set((
        payment_transactions::status.eq(COMPLETED),
        payment_transactions::updated_at.eq(now),
    ))
    .returning(TransactionRow::as_returning())
    .get_results(c))?;
    if !completed.is_empty() {
        let tokens: i64 = completed.iter().map(|r| r.token_amount).sum();
        let usd: f64 = completed.iter().map(|r| r.amount_usd).sum();
        diesel::update(companies::table.find(company))
            .set((
                companies::token_balance.eq(companies::token_balance + tokens),
                companies::token_balance_usd.eq(companies::token_balance_usd + usd),
            ))
            .execute(conn)?;
    }
    Ok(completed)
}

/// Record Stripe's latest status of a payment that is not completed.
pub fn set_status(
    conn: &mut AnyConnection,
    payment_intent: &str,
    status: &str,
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    diesel::update(
        payment_transactions::table
            .filter(payment_transactions::payment_intent_id.eq(payment_intent))
            .filter(payment_transactions::status.ne(COMPLETED)),
    )
    .set((
        payment_transactions::status.eq(status),
        payment_transactions::updated_at.eq(now),
    ))
    .execute(conn)?;
    Ok(())
}

/// A company's payments not yet completed (what a sync asks Stripe about), oldest first.
pub fn open_payments(
    conn: &mut AnyConnection,
    company: CompanyId,
    limit: i64,
) -> Result<Vec<TransactionRow>, StoreError> {
    Ok(payment_transactions::table
        .filter(payment_transactions::company_id.eq(DbUuid::from(company)))
        .filter(payment_transactions::status.ne(COMPLETED))
        // Not yet known to Stripe's id: the top-up's own job finds its intent.
        .filter(payment_transactions::payment_intent_id.not_like(format!("{PENDING_PREFIX}%")))
        .select(TransactionRow::as_select())
        .order(payment_transactions::created_at)
        .limit(limit)
        .load(conn)?)
}

/// A company's payments, newest first, optionally of one status.
pub fn transactions_of(
    conn: &mut AnyConnection,
    company: CompanyId,
    status: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<Vec<TransactionRow>, StoreError> {
    let query = payment_transactions::table
        .filter(payment_transactions::company_id.eq(DbUuid::from(company)))
        .select(TransactionRow::as_select())
        .order(payment_transactions::created_at.desc())
        .limit(limit)
        .offset(offset);
    Ok(match status {
        Some(status) => query
            .filter(payment_transactions::status.eq(status))
            .load(conn)?,
        None => query.load(conn)?,
    })
}

/// What [`record_event`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventRecord {
    /// First delivery: apply it.
    New,
    /// Delivered before under another signature (Stripe's redelivery): already applied.
    Redelivered,
    /// The same event under the same signature: captured bytes sent again.
    Replayed,
}

/// Remember that the event `id` (signed at `signed_at`) was applied. Run it in the
/// transaction that applies the event, so an event is applied exactly once.
pub fn record_event(
    conn: &mut AnyConnection,
    id: &str,
    kind: &str,
    signed_at: i64,
    now: NaiveDateTime,
) -> Result<EventRecord, StoreError> {
    let inserted = per_backend!(&mut *conn, |c| diesel::insert_into(stripe_events::table)
        .values((
            stripe_events::id.eq(id),
            stripe_events::kind.eq(kind),
            stripe_events::signed_at.eq(signed_at),
            stripe_events::received_at.eq(now),
        ))
        .on_conflict_do_nothing()
        .execute(c))?;
    if inserted == 1 {
        return Ok(EventRecord::New);
    }
    let first: i64 = stripe_events::table
        .find(id)
        .select(stripe_events::signed_at)
        .first(conn)?;
    Ok(if first == signed_at {
        EventRecord::Replayed
    } else {
        EventRecord::Redelivered
    })
}

/// Remember the company's Stripe customer.
pub fn set_customer(
    conn: &mut AnyConnection,
    company: CompanyId,
    customer: &str,
) -> Result<bool, StoreError> {
    Ok(diesel::update(companies::table.find(DbUuid::from(company)))
        .set(companies::stripe_customer_id.eq(Some(customer)))
        .execute(conn)?
        == 1)
}

/// Set whether the companies hold an active auto top-up subscription; the ids of the
/// companies whose flag changed.
pub fn set_subscription_active(
    conn: &mut AnyConnection,
    companies_: &[CompanyId],
    active: bool,
) -> Result<Vec<CompanyId>, StoreError> {
    let ids: Vec<DbUuid> = companies_.iter().copied().map(DbUuid::from).collect();
    let changed: Vec<DbUuid> = per_backend!(&mut *conn, |c| diesel::update(
        companies::table
            .filter(companies::id.eq_any(&ids))
            .filter(companies::subscription_active.ne(active)),
    )
    .set(companies::subscription_active.eq(active))
    .returning(companies::id)
    .get_results(c))?;
    Ok(changed.into_iter().map(Into::into).collect())
}

/// The company whose Stripe customer is `customer`.
pub fn company_of_customer(
    conn: &mut AnyConnection,
    customer: &str,
) -> Result<Option<CompanyId>, StoreError> {
    Ok(companies::table
        .filter(companies::stripe_customer_id.eq(customer))
        .select(companies::id)
        .first::<DbUuid>(conn)
        .optional()?
        .map(Into::into))
}
