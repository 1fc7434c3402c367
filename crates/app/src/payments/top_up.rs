//! Buying tokens: the quote, the top-up (written before Stripe is called), its confirmation,
//! the transactions list, and the recovery of a top-up whose process died mid-call.

use agentry_store::Uow;

use super::*;

impl Payments<'_> {
    /// `POST /v1/billing/tokens/quote {token_millions}`: the price of a top-up.
    pub fn quote(&self, token_millions_: &serde_json::Value) -> Result<Quote, AppError> {
        let millions = token_millions(token_millions_)?;
        let price = self.app.settings.billing.token_price_per_million_usd;
        if !self.app.settings.billing.enabled() {
            return Err(AppError::BadRequest(
                "Billing is disabled; token purchases are not available".into(),
            ));
        }
        Ok(Quote {
            token_millions: millions,
            // At most MAX_TOKEN_MILLIONS (checked above).
            tokens: millions.saturating_mul(1_000_000),
            amount_usd: (millions as f64 * price * 100.0).round() / 100.0,
            price_per_million: price,
        })
    }

    /// `POST /v1/billing/tokens/topup/stripe`: the top-up's row and recovery job first, then
    /// a PaymentIntent for the tokens, recorded with its payment sync job in one transaction.
    pub async fn top_up(&self, caller: &Caller, request: TopUpRequest) -> Result<TopUp, AppError> {
        let gateway = self.gateway()?;
        let quote = self.quote(&request.token_millions)?;
        let minimum = self.app.settings.stripe.min_topup_usd;
        if quote.amount_usd < minimum {
            return Err(AppError::Invalid {
                field: "token_millions".into(),
                message: format!("the minimum top-up is ${minimum:.2}"),
            });
        }
        let (caller_, company) = (caller.clone(), request.company_id.clone());
        let root = self
            .app
            .run(move |app, uow| {
                let company = app.payments().billing_company(
                    uow,
                    &caller_,
                    company.as_deref(),
                    "billing:write",
                )?;
                let conn = uow.conn()?;
                root_company(conn, company)
            })
            .await?;
        let reference_code = uuid::Uuid::new_v4().simple().to_string();
        let row = TransactionRow {
            reference_code: reference_code.clone(),
            company_id: root.id,
            user_id: Some(caller.user.into()),
            payment_intent_id: payments::pending_intent(&reference_code),
            status: payments::CREATING.into(),
            currency: "USD".into(),
            amount_usd: quote.amount_usd,
            token_amount: quote.tokens,
            created_at: now(),
            updated_at: now(),
        };
        // The row and its job before the call: whatever becomes of this process during it,
        // the job asks Stripe again under the same idempotency key and finds the intent.
        let pending = row.clone();
        self.app
            .run(move |app, uow| {
                let conn = uow.conn()?;
                write_transaction(conn, |conn| {
                    payments::insert_transaction(conn, &pending)?;
                    crate::jobs::Jobs::enqueue(
                        conn,
                        &app.payments().recovery_job(&pending.payment_intent_id),
                    )?;
                    Ok::<_, AppError>(())
                })
            })
            .await?;
        let intent = match gateway.create_payment_intent(&new_intent(&row)).await {
            Ok(intent) => intent,
            Err(error) => {
                // Refused or unreachable: no client secret left here, so nothing can be
                // paid, and nothing is kept.
                let reference = reference_code.clone();
                self.app
                    .run(move |_, uow| {
                        payments::forget_pending(uow.conn()?, &reference)?;
                        Ok(())
                    })
                    .await?;
                return Err(gateway_error(error));
            }
        };
        self.record_intent(&reference_code, &intent).await?;
        Ok(TopUp {
            reference_code,
            client_secret: intent.client_secret,
            payment_intent_id: intent.id,
            amount_usd: quote.amount_usd,
            token_amount: quote.tokens,
            status: intent.status,
        })
    }

    /// Apply what Stripe says of a payment: credit it once when it succeeded, else record its
    /// status. `Some(tokens credited now)` when it succeeded.
    pub(super) fn settle(
        &self,
        uow: &mut Uow<'_>,
        intent: &PaymentIntentView,
        row: &TransactionRow,
    ) -> Result<Option<i64>, AppError> {
        let conn = uow.conn()?;
        if !intent.succeeded() {
            payments::set_status(conn, &intent.id, &intent.status, now())?;
            return Ok(None);
        }
        let company: CompanyId = row.company_id.into();
        let credited = self.app.write(uow, |work| {
            let credited = payments::complete_and_credit(
                work.conn(),
                company,
                std::slice::from_ref(&intent.id),
                now(),
            )?;
            if !credited.is_empty() {
                crate::companies::billing_changed(work, &[company]);
            }
            Ok(credited)
        })?;
        let tokens = credited.iter().map(|r| r.token_amount).sum();
        Ok(Some(tokens))
    }

    /// `POST /v1/billing/tokens/topup/stripe/confirm {payment_intent_id}`: ask Stripe, and
    /// credit the tokens if it was paid (once, however often this is called).
    pub async fn confirm_top_up(
        &self,
        caller: &Caller,
        payment_intent: &str,
    ) -> Result<Confirmation, AppError> {
        let gateway = self.gateway()?;
        let (caller_, intent_id) = (caller.clone(), payment_intent.trim().to_owned());
        let row = self
            .app
            .run(move |app, uow| {
                caller_.require("billing:write")?;
                // Read before the connection is taken: no second connection while one is held.
                let access = app.sessions().caller_access(uow, &caller_)?;
                let conn = uow.conn()?;
                // A placeholder names no PaymentIntent: nothing to confirm.
                let row = payments::pending_reference(&intent_id)
                    .is_none()
                    .then(|| payments::find_by_intent(conn, &intent_id))
                    .transpose()?
                    .flatten()
                    .ok_or_else(|| AppError::NotFound("Payment not found".into()))?;
                let own = row.user_id == Some(caller_.user.into());
                if !own && !access.is_member(row.company_id.into()) {
                    return Err(AppError::NotFound("Payment not found".into()));
                }
                Ok(row)
            })
            .await?;
        if row.status == payments::COMPLETED {
            return Ok(Confirmation {
                success: true,
                status: row.status,
                tokens_added: 0,
                reference_code: row.reference_code,
            });
        }
        let intent = gateway
            .retrieve_payment_intent(&row.payment_intent_id)
            .await
            .map_err(gateway_error)?;
        let (intent_, row_) = (intent.clone(), row.clone());
        let credited = self
            .app
            .run(move |app, uow| app.payments().settle(uow, &intent_, &row_))
            .await?;
        match (credited, intent.status.as_str()) {
            (Some(tokens), _) => Ok(Confirmation {
                success: true,
                status: payments::COMPLETED.into(),
                tokens_added: tokens,
                reference_code: row.reference_code,
            }),
            (None, "processing") => Ok(Confirmation {
                success: false,
                status: intent.status,
                tokens_added: 0,
                reference_code: row.reference_code,
            }),
            (None, status) => Err(AppError::BadRequest(format!(
                "Payment not completed (status: {status})"
            ))),
        }
    }

    /// `GET /v1/billing/transactions?company_id=&status=&limit=&offset=`.
    pub fn transactions(
        &self,
        uow: &mut Uow<'_>,
        caller: &Caller,
        company: Option<&str>,
        status: Option<&str>,
        limit: Option<i64>,
        offset: Option<i64>,
    ) -> Result<Vec<TransactionView>, AppError> {
        let company = self.billing_company(uow, caller, company, "billing:read")?;
        let conn = uow.conn()?;
        let root: CompanyId = root_company(conn, company)?.id.into();
        let (limit, offset) = (
            limit.unwrap_or(50).clamp(1, 500),
            offset.unwrap_or(0).max(0),
        );
        Ok(
            payments::transactions_of(conn, root, status, limit, offset)?
                .into_iter()
                .map(transaction_view)
                .collect(),
        )
    }

    /// Record the PaymentIntent Stripe made for a top-up, and queue its sync job, together.
    pub(super) async fn record_intent(
        &self,
        reference_code: &str,
        intent: &PaymentIntentView,
    ) -> Result<(), AppError> {
        let (reference, id, status) = (
            reference_code.to_owned(),
            intent.id.clone(),
            intent.status.clone(),
        );
        self.app
            .run(move |app, uow| {
                let conn = uow.conn()?;
                write_transaction(conn, |conn| {
                    if payments::record_intent(conn, &reference, &id, &status, now())? {
                        crate::jobs::Jobs::enqueue(conn, &app.payments().payment_sync_job(&id))?;
                    }
                    Ok::<_, AppError>(())
                })
            })
            .await
    }

    /// The job of a top-up whose intent was never recorded (the process died during the
    /// call): the same request again, under the same idempotency key, gives the same intent.
    pub(super) async fn recover_intent(&self, reference_code: String) -> Result<(), AppError> {
        let gateway = self.gateway()?;
        let reference = reference_code.clone();
        let row = self
            .app
            .run(move |_, uow| Ok(payments::find_by_reference(uow.conn()?, &reference)?))
            .await?;
        let Some(row) = row.filter(|row| row.status == payments::CREATING) else {
            // Recorded meanwhile (its own sync job runs), or forgotten (Stripe refused it).
            return Ok(());
        };
        let intent = match gateway.create_payment_intent(&new_intent(&row)).await {
            Ok(intent) => intent,
            // Stripe says no for good: nothing can be paid, so nothing is kept.
            Err(GatewayError::Refused { .. }) => {
                let reference = reference_code.clone();
                return self
                    .app
                    .run(move |_, uow| {
                        payments::forget_pending(uow.conn()?, &reference)?;
                        Ok(())
                    })
                    .await;
            }
            Err(unavailable) => return Err(gateway_error(unavailable)),
        };
        self.record_intent(&reference_code, &intent).await
    }

    /// The job of a top-up not yet known to Stripe's id: it runs only after the top-up's own
    /// call to Stripe has surely ended (Stripe's timeout and a margin), so the two never ask
    /// at once (Stripe answers a key still in use with 409).
    pub(super) fn recovery_job(&self, placeholder: &str) -> NewJob {
        let delay = self
            .app
            .settings
            .stripe
            .payment_sync_delay
            .max(RECOVERY_AFTER);
        payment_sync_job(
            placeholder,
            now()
                .checked_add_signed(chrono::Duration::from_std(delay).unwrap_or_default())
                .unwrap_or(chrono::NaiveDateTime::MAX),
        )
    }
}
