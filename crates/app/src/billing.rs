//! Token billing use cases: the balance view, the configuration, charging usage, and the
//! 402 paywall (reference auth-billing.md section 5).

use std::collections::HashMap;
use std::sync::Arc;

use agentry_billing::{BillingError, Gate, Usage, charge, low_balance, paywall_blocks};
use agentry_cache::Ticket;
use agentry_domain::{CompanyId, UserId};
use agentry_store::Uow;
use agentry_store::companies;
use agentry_store::identity::CompanyRow;
use serde_json::json;

use crate::read_models::Through;
use crate::session::{Caller, naive_of, now_epoch};
use crate::{App, AppError};

pub use agentry_api::billing::{BalanceView, BillingConfig, UsageTotals, UsageView, WarningView};

/// A billing rule applied to a usage (`agentry_billing::charge` or `settle_within`).
type Debit = fn(
    &mut agentry_store::AnyConnection,
    &agentry_billing::BillingSettings,
    &Usage,
    chrono::NaiveDateTime,
) -> Result<(), BillingError>;

/// A company's billing state as the user views and the paywall read it: the read model keyed
/// by company, which `company.billing_changed` (a charge, a credit, a payment) invalidates and
/// nothing else does. So a charge reaches no member's access or view.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Balance {
    pub token_balance: i64,
    pub token_balance_usd: f64,
    pub tokens_used_total: i64,
    pub subscription_active: bool,
}

impl Balance {
    pub(crate) fn of(row: &CompanyRow) -> Self {
        Balance {
            token_balance: row.token_balance,
            token_balance_usd: row.token_balance_usd,
            tokens_used_total: row.tokens_used_total,
            subscription_active: row.subscription_active,
        }
    }

    /// Whether it opens the paywall (for the company that pays): tokens left, or an active
    /// auto top-up subscription, whose invoices refill it.
    pub(crate) fn passes(&self) -> bool {
        self.token_balance > 0 || self.subscription_active
    }
}

/// Balances by company.
pub(crate) type Balances = HashMap<CompanyId, Arc<Balance>>;

/// Token balances, usage, charges and credits, and the paywall. A view of the application's
/// [`Context`](crate::Context), taken with [`App::billing`](crate::App::billing).
#[derive(Clone, Copy)]
pub struct Billing<'a> {
    pub(crate) app: &'a App,
}

impl Billing<'_> {
    /// The balances of `companies` if this process holds them all (no I/O).
    pub(crate) fn held_balances(&self, companies_: &[CompanyId]) -> Option<Balances> {
        companies_
            .iter()
            .map(|company| Some((*company, self.app.balances.get(company)?)))
            .collect()
    }

    /// The balances of `companies`: those held, the others read in one statement (concurrent
    /// misses read once). A company that is gone is held as an empty balance, which opens
    /// nothing: a view or paywall still naming it does not read it on every request.
    pub(crate) fn balances(
        &self,
        uow: &mut Uow<'_>,
        companies_: &[CompanyId],
    ) -> Result<Balances, AppError> {
        self.app
            .balances
            .load_many(uow, companies_, |uow, missing| {
                let mut read: HashMap<CompanyId, Balance> =
                    companies::companies_by_ids(uow.conn()?, missing)?
                        .iter()
                        .map(|row| (CompanyId::from(row.id), Balance::of(row)))
                        .collect();
                Ok(missing
                    .iter()
                    .map(|company| (*company, read.remove(company).unwrap_or_default()))
                    .collect())
            })
    }

    /// Keep the balances of `rows`, read after `ticket` was taken (any read of company rows
    /// will do).
    pub(crate) fn keep_balances<'r>(
        &self,
        uow: &Uow<'_>,
        ticket: Ticket,
        rows: impl IntoIterator<Item = &'r CompanyRow>,
    ) {
        for row in rows {
            let _kept =
                self.app
                    .balances
                    .keep(uow, CompanyId::from(row.id), ticket, Balance::of(row));
        }
    }

    /// A ticket for [`Billing::keep_balances`], taken before the read.
    pub(crate) fn balance_ticket(&self) -> Ticket {
        self.app.balances.ticket()
    }

    /// `GET /v1/billing/config`.
    pub fn billing_config(&self) -> BillingConfig {
        BillingConfig {
            billing_enabled: self.app.settings.billing.enabled(),
            token_price_usd: self.app.settings.billing.token_price_per_million_usd,
        }
    }

    /// `GET /v1/billing/tokens/balance?company_id=`: members only (another company's id is
    /// unknown); a child company's warning follows its root parent's balance. From the
    /// rosters (names, parents) and the balance model: no statement once held, but one for a
    /// child company's root.
    pub fn token_balance(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        company: &str,
    ) -> Result<BalanceView, AppError> {
        let company = self.member_company(uow, caller, company)?;
        let not_found = || AppError::NotFound("Company not found".into());
        let companies_ = self.app.companies();
        let row = companies_
            .rosters(uow, &[company])?
            .remove(&company)
            .ok_or_else(not_found)?;
        let root = match row.company.parent_id {
            Some(_) => {
                let payer = crate::companies::payers(uow.conn()?, &[company])?
                    .get(&company)
                    .copied()
                    .filter(|payer| *payer != company);
                match payer {
                    Some(payer) => companies_.rosters(uow, &[payer])?.remove(&payer),
                    None => None,
                }
            }
            None => None,
        };
        let root_id = root.as_ref().map(|r| CompanyId::from(r.company.id));
        let wanted: Vec<CompanyId> = std::iter::once(company).chain(root_id).collect();
        let balances = self.balances(uow, &wanted)?;
        let own = balances.get(&company).ok_or_else(not_found)?;
        let root_balance = root_id.and_then(|id| balances.get(&id));
        let settings = &self.app.settings.billing;
        let warning_balance = root_balance.map_or(own.token_balance, |r| r.token_balance);
        Ok(BalanceView {
            token_balance: own.token_balance,
            available_tokens: own.token_balance,
            token_balance_usd: own.token_balance_usd,
            tokens_used_total: own.tokens_used_total,
            low_balance_warning: low_balance(settings, warning_balance),
            is_child_company: row.company.parent_id.is_some(),
            parent_company_id: root_id,
            parent_company_name: root.as_ref().map(|r| r.company.name.clone()),
            parent_token_balance: root_balance.map(|r| r.token_balance),
            parent_token_balance_usd: root_balance.map(|r| r.token_balance_usd),
            parent_tokens_used_total: root_balance.map(|r| r.tokens_used_total),
        })
    }

    /// The caller's company by id (a super admin's: any), or 404 (another company's id is
    /// unknown); a personal access token needs `billing:read`.
    fn member_company(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        company: &str,
    ) -> Result<CompanyId, AppError> {
        let company: CompanyId = crate::forms::parse_id(company, "Company")?;
        caller.require("billing:read")?;
        let access = self.app.sessions().caller_access(uow, caller)?;
        if access.is_member(company) || access.is_super_admin() {
            Ok(company)
        } else {
            Err(AppError::NotFound("Company not found".into()))
        }
    }

    /// `GET /v1/billing/usage?company_id=&limit=&offset=`: the ledger, newest first.
    pub fn usage(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        company: &str,
        limit: Option<i64>,
        offset: Option<i64>,
    ) -> Result<Vec<UsageView>, AppError> {
        let company = self.member_company(uow, caller, company)?;
        let (limit, offset) = (
            limit.unwrap_or(50).clamp(1, 500),
            offset.unwrap_or(0).max(0),
        );
        let conn = uow.conn()?;
        Ok(
            agentry_store::billing::usage_of(conn, company, limit, offset)?
                .into_iter()
                .map(|row| UsageView {
                    user_id: row.user_id.into(),
                    input_tokens: row.input_tokens,
                    output_tokens: row.output_tokens,
                    total_tokens: row.total_tokens,
                    timestamp: row.created_at,
                })
                .collect(),
        )
    }

    /// `GET /v1/billing/usage/totals?company_id=`.
    pub fn usage_totals(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        company: &str,
    ) -> Result<UsageTotals, AppError> {
        let company = self.member_company(uow, caller, company)?;
        let conn = uow.conn()?;
        let (input_tokens, output_tokens, total_tokens) =
            agentry_store::billing::usage_totals(conn, company)?;
        Ok(UsageTotals {
            input_tokens,
            output_tokens,
            total_tokens,
        })
    }

    /// `GET /v1/billing/tokens/should_warn?company_id=`.
    pub fn should_warn(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        company: &str,
    ) -> Result<WarningView, AppError> {
        let company = self.member_company(uow, caller, company)?;
        let conn = uow.conn()?;
        let row = companies::find_company(conn, company)?
            .ok_or_else(|| AppError::NotFound("Company not found".into()))?;
        let settings = &self.app.settings.billing;
        Ok(WarningView {
            should_warn: agentry_billing::should_warn(
                settings,
                row.token_balance,
                row.low_balance_dismissed_at,
            ),
            token_balance: row.token_balance,
            threshold: settings.low_balance_threshold,
        })
    }

    /// `POST /v1/billing/tokens/warning/dismiss {company_id}`: quiet until the balance drops
    /// by another `TOKEN_WARNING_INCREMENT`. It quiets the warning for the whole company, so
    /// it is a billing write (`billing:write` there).
    pub fn dismiss_warning(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        company: &str,
    ) -> Result<(), AppError> {
        let company = self.member_company(uow, caller, company)?;
        self.app
            .sessions()
            .authorize(uow, caller, Some(company), "billing:write")?;
        let conn = uow.conn()?;
        let row = companies::find_company(conn, company)?
            .ok_or_else(|| AppError::NotFound("Company not found".into()))?;
        agentry_store::billing::dismiss_warning(conn, company, row.token_balance)?;
        Ok(())
    }

    /// Charge `user`'s use of tokens in `company` (the inference hook) to the company that
    /// pays for it (its root, `companies::payers`); the usage row names `company`. With
    /// billing on, a payer without enough tokens gets 402 and nothing changes.
    pub fn charge_tokens(
        &self,
        uow: &mut Uow<'_>,
        user: UserId,
        company: CompanyId,
        input: i64,
        output: i64,
    ) -> Result<(), AppError> {
        self.debit_usage(uow, user, company, (input, output), charge)
    }

    /// [`Billing::charge_tokens`] for work already done and delivered (a model's answer),
    /// inside the caller's write: a payer whose balance no longer covers it gives what it
    /// has, down to 0, instead of refusing (the pre-check before the model ran is what
    /// refuses).
    pub(crate) fn settle_tokens_in(
        &self,
        work: &mut agentry_store::events::Work<'_>,
        user: UserId,
        company: CompanyId,
        input: i64,
        output: i64,
    ) -> Result<(), AppError> {
        self.debit_in(
            work,
            user,
            company,
            (input, output),
            agentry_billing::settle_within,
        )
    }

    fn debit_usage(
        &self,
        uow: &mut Uow<'_>,
        user: UserId,
        company: CompanyId,
        tokens: (i64, i64),
        debit: Debit,
    ) -> Result<(), AppError> {
        self.app.write(uow, |work| {
            self.debit_in(work, user, company, tokens, debit)
        })
    }

    fn debit_in(
        &self,
        work: &mut agentry_store::events::Work<'_>,
        user: UserId,
        company: CompanyId,
        (input, output): (i64, i64),
        debit: Debit,
    ) -> Result<(), AppError> {
        let payer = crate::companies::payers(work.conn(), &[company])?
            .get(&company)
            .copied()
            .unwrap_or(company);
        let usage = Usage {
            payer,
            company,
            user,
            input,
            output,
        };
        debit(
            work.conn(),
            &self.app.settings.billing,
            &usage,
            naive_of(now_epoch()),
        )
        .map_err(|error| match error {
            BillingError::InsufficientBalance => {
                AppError::PaymentRequired(json!(error.to_string()))
            }
            BillingError::Negative => AppError::BadRequest(error.to_string()),
            BillingError::Store(store) => AppError::Store(store),
        })?;
        // Only the payer's balance changed; whoever reads it reads it by company.
        crate::companies::billing_changed(work, &[payer]);
        Ok(())
    }

    /// Whether `header` carries the server's own key (`AGIXT_API_KEY`), as `POST /v1/credit`
    /// requires; compared in constant time.
    pub fn is_server_key(&self, header: Option<&str>) -> bool {
        let given = agentry_auth::token::strip_bearer(header.unwrap_or_default());
        agentry_auth::constant_time_eq(given.as_bytes(), &self.app.settings.token_secret)
    }

    /// `POST /v1/credit?company=&amount=`: credit `amount_usd` worth of tokens to a company
    /// (at the token price, or $0.50 a million with billing off). Returns the tokens added.
    /// Only the server's own key (`key`, the `Authorization` header) may.
    pub fn credit_company(
        &self,
        uow: &mut Uow<'_>,
        key: Option<&str>,
        company: &str,
        amount_usd: f64,
    ) -> Result<i64, AppError> {
        if !self.is_server_key(key) {
            return Err(AppError::Unauthorized("Invalid API Key".into()));
        }
        let company: CompanyId = crate::forms::parse_id(company, "Company")?;
        if !amount_usd.is_finite() || amount_usd <= 0.0 || amount_usd > 1_000_000.0 {
            return Err(AppError::Invalid {
                field: "amount".into(),
                message: "an amount in USD above 0 and at most 1000000".into(),
            });
        }
        let price = if self.app.settings.billing.enabled() {
            self.app.settings.billing.token_price_per_million_usd
        } else {
            0.5
        };
        let tokens = (amount_usd / price * 1_000_000.0).floor() as i64;
        // At least a cent, worth at least one token: `1e-300` is not a credit.
        if amount_usd < 0.01 || tokens < 1 {
            return Err(AppError::Invalid {
                field: "amount".into(),
                message: "an amount of at least 0.01 USD, worth at least one token".into(),
            });
        }
        self.app.write(uow, |work| {
            if !agentry_store::billing::credit(work.conn(), company, tokens, amount_usd)? {
                return Err(AppError::NotFound("Company not found".into()));
            }
            crate::companies::billing_changed(work, &[company]);
            Ok(())
        })?;
        Ok(tokens)
    }

    /// The inference pre-check for a charge to `company` (before any model runs): with
    /// billing on, a caller who is not a super admin gets 402 unless the company that pays
    /// for `company` (its root) holds tokens or has an active auto top-up. No company to
    /// charge: 402. Two statements at most (the payer, its balance when not held).
    pub(crate) fn require_tokens_for(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        company: Option<CompanyId>,
    ) -> Result<(), AppError> {
        if !self.app.settings.billing.enabled() {
            return Ok(());
        }
        let access = self.app.sessions().caller_access(uow, caller)?;
        if access.is_super_admin() {
            return Ok(());
        }
        let has_balance = match company {
            Some(company) => {
                let payer = crate::companies::payers(uow.conn()?, &[company])?
                    .get(&company)
                    .copied()
                    .unwrap_or(company);
                self.balances(uow, &[payer])?
                    .get(&payer)
                    .is_some_and(|balance| balance.passes())
            }
            None => false,
        };
        self.paywall_for(&access, has_balance, Gate::Inference)
    }

    /// The paywall: with billing on, a caller who is not a super admin needs some company of
    /// theirs (its root, `companies::payers`) to hold tokens.
    pub(crate) fn paywall(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        has_balance: bool,
        gate: Gate,
    ) -> Result<(), AppError> {
        let settings = &self.app.settings.billing;
        if !paywall_blocks(settings, false, has_balance) {
            return Ok(());
        }
        let access = self.app.sessions().caller_access(uow, caller)?;
        self.paywall_for(&access, has_balance, gate)
    }

    /// [`Billing::paywall`] for a caller whose access is at hand (no I/O).
    pub(crate) fn paywall_for(
        &self,
        access: &agentry_domain::access::Access,
        has_balance: bool,
        gate: Gate,
    ) -> Result<(), AppError> {
        let settings = &self.app.settings.billing;
        if !paywall_blocks(settings, access.is_super_admin(), has_balance) {
            return Ok(());
        }
        Err(AppError::PaymentRequired(json!({
            "message": gate.message(),
            "customer_session": {
                "client_secret": null,
                "company_id": access.primary().map(|c| c.company),
            },
            "token_price_per_million_usd": settings.token_price_per_million_usd,
        })))
    }
}
