#![doc = include_str!("../README.md")]

pub mod gateway;
pub mod stripe;
pub mod webhook;

use agentry_domain::{CompanyId, UserId};
use agentry_store::billing::{self, usage_row};
use agentry_store::write_transaction;
use agentry_store::{AnyConnection, StoreError};
use chrono::NaiveDateTime;

/// The billing configuration (from the server's settings).
#[derive(Debug, Clone, PartialEq)]
pub struct BillingSettings {
    /// `TOKEN_PRICE_PER_MILLION_USD`; billing is on when above 0.
    pub token_price_per_million_usd: f64,
    /// `LOW_BALANCE_WARNING_THRESHOLD`, in tokens.
    pub low_balance_threshold: i64,
    /// `TOKEN_WARNING_INCREMENT`: after a dismissal, warn again once the balance has dropped
    /// by this many tokens.
    pub warning_increment: i64,
}

impl Default for BillingSettings {
    fn default() -> Self {
        Self {
            token_price_per_million_usd: 0.0,
            low_balance_threshold: 10_000_000,
            warning_increment: 1_000_000,
        }
    }
}

impl BillingSettings {
    pub fn enabled(&self) -> bool {
        self.token_price_per_million_usd > 0.0
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BillingError {
    #[error("Insufficient token balance. Please top up your company's token balance.")]
    InsufficientBalance,
    #[error("tokens must not be negative")]
    Negative,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<diesel::result::Error> for BillingError {
    fn from(error: diesel::result::Error) -> Self {
        BillingError::Store(StoreError::Query(error))
    }
}

/// Tokens `user` used in `company`, charged to `payer` (the company that pays for it;
/// `company` itself at the top of a chain).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub payer: CompanyId,
    pub company: CompanyId,
    pub user: UserId,
    pub input: i64,
    pub output: i64,
}

/// Charge a [`Usage`]: with billing on, the payer's balance must cover it (else nothing
/// changes); the payer's usage is counted and the ledger row, naming the company the usage
/// was in, written either way. One transaction.
pub fn charge(
    conn: &mut AnyConnection,
    settings: &BillingSettings,
    usage: &Usage,
    at: NaiveDateTime,
) -> Result<(), BillingError> {
    let Usage {
        payer,
        company,
        user,
        input,
        output,
    } = *usage;
    if input < 0 || output < 0 {
        return Err(BillingError::Negative);
    }
    let total = input.saturating_add(output);
    write_transaction(&mut *conn, |conn| {
        if settings.enabled() {
            if !billing::debit(conn, payer, total)? {
                return Err(BillingError::InsufficientBalance);
            }
        } else {
            billing::count_usage(conn, payer, total)?;
        }
        billing::record_usage(conn, &usage_row(company, user, input, output, at))?;
        Ok(())
    })
}

/// How many times [`settle`] reads a balance that keeps moving across the total.
const SETTLE_TRIES: usize = 4;

/// Charge a [`Usage`] for work already done (a model's answer, sent to the user): as
/// [`charge`], except that a payer whose balance no longer covers it gives what it has
/// (down to 0) instead of refusing. The pre-check before the work ([`paywall_blocks`]) is
/// what refuses. The ledger row records the whole usage. One transaction.
pub fn settle(
    conn: &mut AnyConnection,
    settings: &BillingSettings,
    usage: &Usage,
    at: NaiveDateTime,
) -> Result<(), BillingError> {
    write_transaction(&mut *conn, |conn| settle_within(conn, settings, usage, at))
}

/// [`settle`] inside the caller's transaction (a turn writes its messages and its charge
/// in one).
pub fn settle_within(
    conn: &mut AnyConnection,
    settings: &BillingSettings,
    usage: &Usage,
    at: NaiveDateTime,
) -> Result<(), BillingError> {
    let Usage {
        payer,
        company,
        user,
        input,
        output,
    } = *usage;
    if input < 0 || output < 0 {
        return Err(BillingError::Negative);
    }
    let total = input.saturating_add(output);
    if settings.enabled() {
        // The whole total when it is there, else what is left. Each is one conditional
        // statement; a balance that moved across the line between the two (a credit, or
        // another debit) is read again, a few times at most.
        for _ in 0..SETTLE_TRIES {
            if billing::debit(conn, payer, total)? || billing::debit_rest(conn, payer, total)? {
                break;
            }
        }
    } else {
        billing::count_usage(conn, payer, total)?;
    }
    billing::record_usage(conn, &usage_row(company, user, input, output, at))?;
    Ok(())
}

/// Where the paywall stands (reference section 5.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// `GET /v1/user`.
    Account,
    /// Before inference (chat completions and the like).
    Inference,
}

impl Gate {
    /// The reference's message at this gate.
    pub fn message(self) -> &'static str {
        match self {
            Gate::Account => "Insufficient token balance. Please top up your tokens.",
            Gate::Inference => "Insufficient token balance. Please top up your tokens to continue.",
        }
    }
}

/// The paywall decision: with billing on, a caller who is not a super admin passes only if
/// one of their companies (or a parent of one) holds tokens.
pub fn paywall_blocks(settings: &BillingSettings, super_admin: bool, has_balance: bool) -> bool {
    settings.enabled() && !super_admin && !has_balance
}

/// Whether the balance warning applies.
pub fn low_balance(settings: &BillingSettings, balance: i64) -> bool {
    balance <= settings.low_balance_threshold
}

/// Whether to warn now: low, and not dismissed since the balance last dropped by the
/// increment.
pub fn should_warn(settings: &BillingSettings, balance: i64, dismissed_at: Option<i64>) -> bool {
    low_balance(settings, balance)
        && dismissed_at.is_none_or(|at| at.saturating_sub(balance) >= settings.warning_increment)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_paywall_blocks_only_with_billing_on_and_no_balance() {
        let on = BillingSettings {
            token_price_per_million_usd: 1.0,
            ..BillingSettings::default()
        };
        assert!(paywall_blocks(&on, false, false));
        assert!(!paywall_blocks(&on, true, false), "super admins pass");
        assert!(!paywall_blocks(&on, false, true));
        assert!(
            !paywall_blocks(&BillingSettings::default(), false, false),
            "billing off"
        );
        assert_ne!(Gate::Account.message(), Gate::Inference.message());
    }

    #[test]
    fn warnings_come_back_after_the_increment() {
        let settings = BillingSettings {
            low_balance_threshold: 100,
            warning_increment: 10,
            ..BillingSettings::default()
        };
        assert!(!should_warn(&settings, 101, None), "not low");
        assert!(should_warn(&settings, 100, None));
        assert!(
            !should_warn(&settings, 95, Some(100)),
            "dismissed, dropped 5"
        );
        assert!(
            should_warn(&settings, 90, Some(100)),
            "dropped by the increment"
        );
    }
}
