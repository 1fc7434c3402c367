//! Token balances and the usage ledger. Debits are one conditional `UPDATE`, so concurrent
//! debits can neither overdraw a balance nor lose an update.

use agentry_domain::{CompanyId, UserId};
use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::{companies, token_usage};
use crate::{AnyConnection, DbUuid, StoreError, per_backend};

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = token_usage)]
#[diesel(treat_none_as_default_value = false)]
pub struct UsageRow {
    pub id: DbUuid,
    pub company_id: DbUuid,
    pub user_id: DbUuid,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub total_tokens: i64,
    pub created_at: NaiveDateTime,
}

/// Take `tokens` from `company` if it has them; returns whether it did.
#[expect(
    clippy::arithmetic_side_effects,
    reason = "SQL expressions, computed by the database (which refuses an overflow)"
)]
pub fn debit(
    conn: &mut AnyConnection,
    company: CompanyId,
    tokens: i64,
) -> Result<bool, StoreError> {
    Ok(diesel::update(
        companies::table
            .find(DbUuid::from(company))
            .filter(companies::token_balance.ge(tokens)),
    )
    .set((
        companies::token_balance.eq(companies::token_balance - tokens),
        companies::tokens_used_total.eq(companies::tokens_used_total + tokens),
    ))
    .execute(conn)?
        == 1)
}

/// Take what is left of `company`'s balance when it holds less than `tokens` (the rest of
/// a charge for work already done); returns whether it did. One conditional `UPDATE`, as
/// [`debit`]: a balance that a concurrent credit raised to `tokens` or more is left to it.
#[expect(
    clippy::arithmetic_side_effects,
    reason = "SQL expressions, computed by the database (which refuses an overflow)"
)]
pub fn debit_rest(
    conn: &mut AnyConnection,
    company: CompanyId,
    tokens: i64,
) -> Result<bool, StoreError> {
    Ok(diesel::update(
        companies::table
            .find(DbUuid::from(company))
            .filter(companies::token_balance.lt(tokens)),
    )
    .set((
        companies::tokens_used_total.eq(companies::tokens_used_total + companies::token_balance),
        companies::token_balance.eq(0_i64),
    ))
    .execute(conn)?
        == 1)
}

/// Count usage without taking from the balance (billing off).
#[expect(
    clippy::arithmetic_side_effects,
    reason = "SQL expressions, computed by the database (which refuses an overflow)"
)]
pub fn count_usage(
    conn: &mut AnyConnection,
    company: CompanyId,
    tokens: i64,
) -> Result<(), StoreError> {
    diesel::update(companies::table.find(DbUuid::from(company)))
        .set(companies::tokens_used_total.eq(companies::tokens_used_total + tokens))
        .execute(conn)?;
    Ok(())
}

/// Add tokens (and their price) to `company`; returns whether it exists.
#[expect(
    clippy::arithmetic_side_effects,
    reason = "SQL expressions, computed by the database (which refuses an overflow)"
)]
pub fn credit(
    conn: &mut AnyConnection,
    company: CompanyId,
    tokens: i64,
    usd: f64,
) -> Result<bool, StoreError> {
    Ok(diesel::update(companies::table.find(DbUuid::from(company)))
        .set((
            companies::token_balance.eq(companies::token_balance + tokens),
            companies::token_balance_usd.eq(companies::token_balance_usd + usd),
        ))
        .execute(conn)?
        == 1)
}

pub fn record_usage(conn: &mut AnyConnection, row: &UsageRow) -> Result<(), StoreError> {
    per_backend!(&mut *conn, |c| diesel::insert_into(token_usage::table)
        .values(row)
        .execute(c))?;
    Ok(())
}

/// A company's usage, newest first.
pub fn usage_of(
    conn: &mut AnyConnection,
    company: CompanyId,
    limit: i64,
    offset: i64,
) -> Result<Vec<UsageRow>, StoreError> {
    Ok(token_usage::table
        .filter(token_usage::company_id.eq(DbUuid::from(company)))
        .select(UsageRow::as_select())
        .order(token_usage::created_at.desc())
        .limit(limit)
        .offset(offset)
        .load(conn)?)
}

/// (input, output, total) summed over a company's usage.
pub fn usage_totals(
    conn: &mut AnyConnection,
    company: CompanyId,
) -> Result<(i64, i64, i64), StoreError> {
    use diesel::dsl::sql;
    use diesel::sql_types::{BigInt, Nullable};
    // SUM of BIGINT is NUMERIC on PostgreSQL; the cast keeps one type on both backends.
    let (input, output, total): (Option<i64>, Option<i64>, Option<i64>) = token_usage::table
        .filter(token_usage::company_id.eq(DbUuid::from(company)))
        .select((
            sql::<Nullable<BigInt>>("CAST(SUM(input_tokens) AS BIGINT)"),
            sql::<Nullable<BigInt>>("CAST(SUM(output_tokens) AS BIGINT)"),
            sql::<Nullable<BigInt>>("CAST(SUM(total_tokens) AS BIGINT)"),
        ))
        .first(conn)?;
    Ok((input.unwrap_or(0), output.unwrap_or(0), total.unwrap_or(0)))
}

/// A ledger row for `user`'s use of `company`'s tokens.
pub fn usage_row(
    company: CompanyId,
    user: UserId,
    input: i64,
    output: i64,
    at: NaiveDateTime,
) -> UsageRow {
    UsageRow {
        id: DbUuid::new(),
        company_id: company.into(),
        user_id: user.into(),
        input_tokens: input,
        output_tokens: output,
        total_tokens: input.saturating_add(output),
        created_at: at,
    }
}

/// Remember the balance at which the company dismissed its low-balance warning.
pub fn dismiss_warning(
    conn: &mut AnyConnection,
    company: CompanyId,
    balance: i64,
) -> Result<bool, StoreError> {
    Ok(diesel::update(companies::table.find(DbUuid::from(company)))
        .set(companies::low_balance_dismissed_at.eq(Some(balance)))
        .execute(conn)?
        == 1)
}
