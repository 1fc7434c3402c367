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

/// The root of `row`'s parent chain (`row` itself when it has none), at most
/// [`companies::MAX_DEPTH`] levels up: two statements.
pub(crate) fn root_of(
    conn: &mut agentry_store::AnyConnection,
    row: agentry_store::identity::CompanyRow,
) -> Result<agentry_store::identity::CompanyRow, AppError> {
    if row.parent_id.is_none() {
        return Ok(row);
    }
    let top = companies::ancestors_of(conn, &[row.id.into()])?
        .into_iter()
        .max_by_key(|link| link.depth);
    Ok(match top {
        Some(link) => companies::find_company(conn, link.relative.into())?.unwrap_or(row),
        None => row,
    })
}
