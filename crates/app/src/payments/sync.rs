//! Settling payments with Stripe: the sync route, the balance after a sync, and the payment
//! sync job with its runner.

use super::*;

impl Payments<'_> {
    /// `POST /v1/billing/sync?company_id=` (and the balance's `sync=true`): credit the
    /// company's payments that Stripe has settled but no webhook or confirm reported.
    pub async fn sync_payments(
        &self,
        caller: &Caller,
        company: &str,
    ) -> Result<SyncResult, AppError> {
        let gateway = self.gateway()?;
        let (caller_, company) = (caller.clone(), company.to_owned());
        let (root, open) = self
            .app
            .run(move |app, uow| {
                let company = app.payments().billing_company(
                    uow,
                    &caller_,
                    Some(&company),
                    "billing:write",
                )?;
                let conn = uow.conn()?;
                let root: CompanyId = root_company(conn, company)?.id.into();
                Ok((root, payments::open_payments(conn, root, SYNC_BATCH)?))
            })
            .await?;
        let mut paid = Vec::new();
        for row in &open {
            let intent = gateway
                .retrieve_payment_intent(&row.payment_intent_id)
                .await
                .map_err(gateway_error)?;
            if intent.succeeded() {
                paid.push(intent.id);
            }
        }
        let checked = open.len();
        self.app
            .run(move |app, uow| {
                let credited = app.write(uow, |work| {
                    let credited = payments::complete_and_credit(work.conn(), root, &paid, now())?;
                    if !credited.is_empty() {
                        crate::companies::billing_changed(work, &[root]);
                    }
                    Ok(credited)
                })?;
                Ok(SyncResult {
                    checked,
                    credited: credited.len(),
                    tokens_added: credited.iter().map(|r| r.token_amount).sum(),
                })
            })
            .await
    }

    /// `GET /v1/billing/tokens/balance?sync=true`: the payment sync, then the balance.
    pub async fn synced_balance(
        &self,
        caller: &Caller,
        company: &str,
    ) -> Result<(crate::billing::BalanceView, SyncResult), AppError> {
        let synced = self.sync_payments(caller, company).await?;
        let (caller_, company) = (caller.clone(), company.to_owned());
        let balance = self
            .app
            .run(move |app, uow| app.billing().token_balance(uow, &caller_, &company))
            .await?;
        Ok((balance, synced))
    }

    /// The payment sync job for one PaymentIntent (at most one pending per intent), after
    /// the configured delay.
    pub(super) fn payment_sync_job(&self, payment_intent: &str) -> NewJob {
        let delay = self.app.settings.stripe.payment_sync_delay;
        payment_sync_job(
            payment_intent,
            now()
                .checked_add_signed(chrono::Duration::from_std(delay).unwrap_or_default())
                .unwrap_or(chrono::NaiveDateTime::MAX),
        )
    }

    /// The payment sync job: ask Stripe about one payment; credit it when paid, finish when
    /// it failed for good, and fail (to be retried with backoff) while it is still open. For
    /// a placeholder, recover the top-up's intent instead.
    pub(super) async fn sync_payment(&self, payment_intent: String) -> Result<(), AppError> {
        if let Some(reference) = payments::pending_reference(&payment_intent) {
            return self.recover_intent(reference.to_owned()).await;
        }
        let gateway = self.gateway()?;
        let intent_id = payment_intent.clone();
        let row = self
            .app
            .run(move |_, uow| {
                let conn = uow.conn()?;
                Ok(payments::find_by_intent(conn, &intent_id)?)
            })
            .await?;
        let Some(row) = row.filter(|r| r.status != payments::COMPLETED) else {
            return Ok(());
        };
        let intent = gateway
            .retrieve_payment_intent(&payment_intent)
            .await
            .map_err(gateway_error)?;
        let status = intent.status.clone();
        self.app
            .run(move |app, uow| app.payments().settle(uow, &intent, &row))
            .await?;
        match status.as_str() {
            "succeeded" | "canceled" => Ok(()),
            open => Err(AppError::BadRequest(format!("payment still {open}"))),
        }
    }

    /// The handlers of the payment jobs (sync a payment, check a subscription), for the job
    /// runner.
    pub fn job_handlers(&self) -> Vec<(&'static str, JobHandler)> {
        let (sync_app, check_app) = (self.app.clone(), self.app.clone());
        let sync: JobHandler = Arc::new(move |job: JobRow| {
            let app = sync_app.clone();
            Box::pin(async move {
                let payload: serde_json::Value =
                    serde_json::from_str(&job.payload).map_err(|e| e.to_string())?;
                let intent = payload["payment_intent"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                app.payments()
                    .sync_payment(intent)
                    .await
                    .map_err(|e| e.to_string())
            })
        });
        let check: JobHandler = Arc::new(move |job: JobRow| {
            let app = check_app.clone();
            Box::pin(async move {
                let payload: serde_json::Value =
                    serde_json::from_str(&job.payload).map_err(|e| e.to_string())?;
                let user: UserId = payload["user_id"]
                    .as_str()
                    .and_then(|u| u.parse().ok())
                    .ok_or("a job without its user")?;
                app.payments()
                    .check_subscription(user)
                    .await
                    .map_err(|e| e.to_string())
            })
        });
        vec![(PAYMENT_SYNC_JOB, sync), (SUBSCRIPTION_CHECK_JOB, check)]
    }
}
