//! Stripe's webhook: verified, recorded by id, applied once in the transaction of its effect.

use agentry_store::Uow;

use super::*;

impl Payments<'_> {
    /// `POST /v1/webhook`: a Stripe event, verified (signature and timestamp) and applied
    /// once by its id, in one transaction with its effect. Stripe's redelivery (signed anew)
    /// is acknowledged without effect; the same signed bytes sent again are refused (400).
    pub fn apply_stripe_event(
        &self,
        uow: &mut Uow<'_>,
        payload: &str,
        signature: &str,
    ) -> Result<WebhookOutcome, AppError> {
        let Some(secret) = self.app.settings.stripe.webhook_secret.as_deref() else {
            return Err(AppError::NotFound("Not Found".into()));
        };
        let event = verify_event(payload, signature, secret).map_err(|refused| match refused {
            EventRefused::BadSignature | EventRefused::Stale | EventRefused::BadPayload => {
                AppError::BadRequest(refused.to_string())
            }
        })?;
        let fresh = self.app.write(uow, |work| {
            let conn = work.conn();
            match payments::record_event(conn, &event.id, &event.kind, event.signed_at, now())? {
                payments::EventRecord::New => {}
                payments::EventRecord::Redelivered => return Ok(false),
                payments::EventRecord::Replayed => {
                    return Err(AppError::BadRequest("Replayed Stripe event".into()));
                }
            }
            let touched: Vec<CompanyId> = match &event.effect {
                Effect::PaymentSucceeded { payment_intent } => {
                    match payments::find_by_intent(conn, payment_intent)? {
                        Some(row) => {
                            let company = row.company_id.into();
                            let credited = payments::complete_and_credit(
                                conn,
                                company,
                                std::slice::from_ref(payment_intent),
                                now(),
                            )?;
                            if credited.is_empty() {
                                Vec::new()
                            } else {
                                vec![company]
                            }
                        }
                        None => Vec::new(),
                    }
                }
                Effect::PaymentFailed {
                    payment_intent,
                    status,
                } => {
                    payments::set_status(conn, payment_intent, status, now())?;
                    Vec::new()
                }
                Effect::SubscriptionStarted { company, customer } => {
                    let company: Option<CompanyId> =
                        company.as_deref().and_then(|c| c.parse().ok());
                    match company {
                        Some(company) => {
                            if let Some(customer) = customer {
                                payments::set_customer(conn, company, customer)?;
                            }
                            payments::set_subscription_active(conn, &[company], true)?
                        }
                        None => Vec::new(),
                    }
                }
                Effect::SubscriptionEnded { customer } => {
                    match payments::company_of_customer(conn, customer)? {
                        Some(company) => {
                            payments::set_subscription_active(conn, &[company], false)?
                        }
                        None => Vec::new(),
                    }
                }
                Effect::Ignored => Vec::new(),
            };
            crate::companies::billing_changed(work, &touched);
            Ok(true)
        })?;
        Ok(WebhookOutcome {
            received: true,
            duplicate: !fresh,
        })
    }
}
