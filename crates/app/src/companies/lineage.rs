//! A company's lineage: the root whose balance a child company follows, and the record of a
//! billing change. Set at a time: one recursive statement walks a chain whatever its length
//! (up to [`companies::MAX_DEPTH`]).

use std::collections::HashMap;

use agentry_domain::CompanyId;
use agentry_domain::events::DomainEvent;
use agentry_store::companies;
use agentry_store::events::Work;

use crate::AppError;

/// Record that the billing of each of `companies_` changed (balance or subscription). Views
/// and the paywall read balances by company (`Billing::balances`), so the event names the
/// company alone: no statement, and no member's access or view goes stale.
pub(crate) fn billing_changed(work: &mut Work<'_>, companies_: &[CompanyId]) {
    for company in companies_ {
        work.record(DomainEvent::BillingChanged { company: *company });
    }
}

/// The one rule for which company pays for each of `companies`: the root of its parent chain
/// (itself when it has none), as the reference's billing company. The charge debits it, the
/// paywall and the balance view's low-balance warning read it (`should_warn` reads the
/// company's own balance, as the reference's). One statement.
pub(crate) fn payers(
    conn: &mut agentry_store::AnyConnection,
    companies_: &[CompanyId],
) -> Result<HashMap<CompanyId, CompanyId>, AppError> {
    let mut payers: HashMap<CompanyId, (CompanyId, i32)> =
        companies_.iter().map(|c| (*c, (*c, 0))).collect();
    for link in companies::ancestors_of(conn, companies_)? {
        let payer = payers
            .entry(link.company.into())
            .or_insert((link.company.into(), 0));
        if link.depth > payer.1 {
            *payer = (link.relative.into(), link.depth);
        }
    }
    Ok(payers
        .into_iter()
        .map(|(company, (payer, _))| (company, payer))
        .collect())
}

/// The company that pays for `row` ([`payers`]), read: two statements (none without a
/// parent).
pub(crate) fn root_of(
    conn: &mut agentry_store::AnyConnection,
    row: agentry_store::identity::CompanyRow,
) -> Result<agentry_store::identity::CompanyRow, AppError> {
    if row.parent_id.is_none() {
        return Ok(row);
    }
    let company = CompanyId::from(row.id);
    let payer = payers(conn, &[company])?
        .get(&company)
        .copied()
        .unwrap_or(company);
    if payer == company {
        return Ok(row);
    }
    Ok(companies::find_company(conn, payer)?.unwrap_or(row))
}
