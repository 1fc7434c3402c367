//! Stripe customers, auto top-up checkout, the billing portal and the subscription check.

use super::*;

impl Payments<'_> {
    /// The company's Stripe customer, created (and remembered) when it has none.
    pub(super) async fn customer_for(
        &self,
        caller: &Caller,
        company: Option<&str>,
    ) -> Result<(CompanyRow, String), AppError> {
        let gateway = self.gateway()?;
        let (caller_, company) = (caller.clone(), company.map(str::to_owned));
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
        if let Some(customer) = root.stripe_customer_id.clone() {
            return Ok((root, customer));
        }
        let customer = gateway
            .create_customer(&caller.email, root.id.into(), &root.name)
            .await
            .map_err(gateway_error)?;
        let (company, customer_) = (CompanyId::from(root.id), customer.clone());
        self.app
            .run(move |_, uow| {
                let conn = uow.conn()?;
                payments::set_customer(conn, company, &customer_)?;
                Ok(())
            })
            .await?;
        Ok((root, customer))
    }

    /// `POST /v1/billing/auto-topup {amount_usd, company_id?}`: a Checkout session for a
    /// monthly top-up subscription; Stripe's `checkout.session.completed` turns it on.
    pub async fn auto_topup_checkout(
        &self,
        caller: &Caller,
        company: Option<&str>,
        amount_usd: f64,
    ) -> Result<CheckoutLink, AppError> {
        let gateway = self.gateway()?;
        if !self.app.settings.billing.enabled() {
            return Err(AppError::BadRequest(
                "Billing is disabled; token purchases are not available".into(),
            ));
        }
        if !amount_usd.is_finite()
            || !(MIN_AUTO_TOPUP_USD..=MAX_AUTO_TOPUP_USD).contains(&amount_usd)
        {
            return Err(AppError::Invalid {
                field: "amount_usd".into(),
                message: format!(
                    "a monthly amount from ${MIN_AUTO_TOPUP_USD:.2} to ${MAX_AUTO_TOPUP_USD:.0}"
                ),
            });
        }
        let (root, customer) = self.customer_for(caller, company).await?;
        let base = self
            .app
            .settings
            .stripe
            .return_url
            .trim_end_matches('/')
            .to_owned();
        let session = gateway
            .create_subscription_checkout(&SubscriptionCheckout {
                customer,
                company: root.id.into(),
                amount: (amount_usd * 100.0).round() as i64,
                product_name: format!("{} token auto top-up", self.app.settings.app_name),
                success_url: format!("{base}/thank-you?session_id={{CHECKOUT_SESSION_ID}}"),
                cancel_url: format!("{base}/billing?subscription=cancelled"),
            })
            .await
            .map_err(gateway_error)?;
        Ok(CheckoutLink {
            session_id: session.id,
            checkout_url: session.url,
        })
    }

    /// `POST /v1/billing/portal {company_id?}`: a Stripe customer portal session's URL.
    pub async fn portal_session(
        &self,
        caller: &Caller,
        company: Option<&str>,
    ) -> Result<String, AppError> {
        let gateway = self.gateway()?;
        let (_, customer) = self.customer_for(caller, company).await?;
        let return_url = format!(
            "{}/billing",
            self.app.settings.stripe.return_url.trim_end_matches('/')
        );
        gateway
            .create_portal_session(&customer, &return_url)
            .await
            .map_err(gateway_error)
    }

    /// Queue a check of the caller's Stripe subscriptions (from `GET /v1/user`): at most once
    /// per user per interval on this instance, at most one pending across instances, never
    /// inside the request (the enqueue itself runs on the blocking pool).
    pub fn request_subscription_check(&self, caller: &Caller) {
        if self.app.gateway.is_none() || !self.app.settings.billing.enabled() {
            return;
        }
        let interval = self.app.settings.stripe.subscription_check_interval;
        {
            let mut last = self
                .app
                .subscription_checks
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let now = Instant::now();
            if last
                .get(&caller.user)
                .is_some_and(|at| now.duration_since(*at) < interval)
            {
                return;
            }
            if last.len() >= 100_000 {
                last.retain(|_, at| now.duration_since(*at) < interval);
            }
            last.insert(caller.user, now);
        }
        let (app, user) = (self.app.clone(), caller.user);
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn_blocking(move || {
            let job = NewJob {
                kind: SUBSCRIPTION_CHECK_JOB.into(),
                dedupe_key: Some(user.to_string()),
                payload: serde_json::json!({ "user_id": user }).to_string(),
                run_at: now(),
                max_attempts: 5,
            };
            if let Err(error) = app.jobs().enqueue_now(&job) {
                tracing::warn!(%error, "could not queue a subscription check");
            }
        });
    }

    /// The subscription check job: if a Stripe customer with the user's email has an active
    /// subscription, the companies the user administers (role 2 or above) hold one.
    pub(super) async fn check_subscription(&self, user: UserId) -> Result<(), AppError> {
        let gateway = self.gateway()?;
        let (email, admin_of) = self
            .app
            .run(move |_, uow| {
                let conn = uow.conn()?;
                let Some(row) = identity::find_user(conn, user)? else {
                    return Ok((None, Vec::new()));
                };
                let admin_of: Vec<CompanyId> = identity::memberships_for(conn, user)?
                    .into_iter()
                    .filter(|m| m.role.id <= 2)
                    .map(|m| CompanyId::from(m.company.id))
                    .collect();
                Ok((Some(row.email), admin_of))
            })
            .await?;
        let Some(email) = email else { return Ok(()) };
        let mut active = false;
        for customer in gateway
            .customers_by_email(&email)
            .await
            .map_err(gateway_error)?
        {
            if gateway
                .has_active_subscription(&customer)
                .await
                .map_err(gateway_error)?
            {
                active = true;
                break;
            }
        }
        if !active || admin_of.is_empty() {
            return Ok(());
        }
        self.app
            .run(move |app, uow| {
                app.write(uow, |work| {
                    let changed = payments::set_subscription_active(work.conn(), &admin_of, true)?;
                    crate::companies::billing_changed(work, &changed);
                    Ok(())
                })
            })
            .await
    }
}
