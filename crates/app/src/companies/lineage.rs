//! A company's lineage: the members a billing change reaches (those of every company below
//! it) and the root whose balance a child company follows. Set at a time: one recursive
//! statement walks a chain whatever its length (up to [`companies::MAX_DEPTH`]).

use std::collections::{BTreeMap, HashMap};

use agentry_domain::events::DomainEvent;
use agentry_domain::{CompanyId, UserId};
use agentry_store::companies;
use agentry_store::events::Work;

use crate::AppError;

/// Record that the billing of each of `companies_` changed (balance or subscription),
/// naming the members whose views show it and whose paywall reads it: its own and those of
/// every company below it, which count its balance as a parent's (two statements).
pub(crate) fn billing_changed(
    work: &mut Work<'_>,
    companies_: &[CompanyId],
) -> Result<(), AppError> {
    if companies_.is_empty() {
        return Ok(());
    }
    let conn = work.conn();
    // Each company reads as itself and as the parent of each of its descendants.
    let mut readers: Vec<(CompanyId, CompanyId)> = companies_.iter().map(|c| (*c, *c)).collect();
    readers.extend(
        companies::descendants_of(conn, companies_)?
            .into_iter()
            .map(|link| (link.relative.into(), link.company.into())),
    );
    let mut below: HashMap<CompanyId, Vec<CompanyId>> = HashMap::new();
    for (reader, changed) in &readers {
        below.entry(*reader).or_default().push(*changed);
    }
    let reader_ids: Vec<CompanyId> = below.keys().copied().collect();
    let mut users: BTreeMap<CompanyId, Vec<UserId>> =
        companies_.iter().map(|c| (*c, Vec::new())).collect();
    for (membership, _) in companies::members_of(conn, &reader_ids)? {
        let reader = CompanyId::from(membership.company_id);
        for changed in below.get(&reader).into_iter().flatten() {
            users
                .entry(*changed)
                .or_default()
                .push(membership.user_id.into());
        }
    }
    for (company, mut users) in users {
        users.sort();
        users.dedup();
        work.record(DomainEvent::BillingChanged { company, users });
    }
    Ok(())
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
