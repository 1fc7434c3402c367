//! The Stripe adapter of the payment gateway port, over async-stripe 1.0 (only the resources
//! used are compiled in). The base URL is configurable so tests reach a fake on 127.0.0.1.

use std::collections::HashMap;
use std::time::Duration;

use agentry_domain::CompanyId;
use stripe::{Client, ClientBuilder, IdempotencyKey, RequestStrategy, StripeError, StripeRequest};
use stripe_billing::billing_portal_session::CreateBillingPortalSession;
use stripe_billing::subscription::{ListSubscription, ListSubscriptionStatus};
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionLineItemsPriceData,
    CreateCheckoutSessionLineItemsPriceDataRecurring,
    CreateCheckoutSessionLineItemsPriceDataRecurringInterval, ProductData,
};
use stripe_core::customer::{CreateCustomer, ListCustomer};
use stripe_core::payment_intent::{
    CreatePaymentIntent, CreatePaymentIntentAutomaticPaymentMethods, RetrievePaymentIntent,
};
use stripe_shared::{CheckoutSessionMode, PaymentIntent};
use stripe_types::Currency;

use crate::gateway::{
    CheckoutView, GatewayError, NewPaymentIntent, PaymentGateway, PaymentIntentView,
    SubscriptionCheckout,
};

/// Stripe, reached at `base_url` (`https://api.stripe.com` in production).
pub struct StripeGateway {
    client: Client,
}

/// How long one call to Stripe may take before it counts as unavailable.
const TIMEOUT: Duration = Duration::from_secs(20);

impl StripeGateway {
    pub fn new(secret_key: &str, base_url: &str) -> Result<Self, GatewayError> {
        let client = ClientBuilder::new(secret_key)
            .url(base_url.trim_end_matches('/'))
            .timeout(TIMEOUT)
            .build()
            .map_err(unavailable)?;
        Ok(Self { client })
    }
}

fn unavailable(error: StripeError) -> GatewayError {
    match error {
        StripeError::Stripe(errors, status) if (400..500).contains(&status) => {
            GatewayError::Refused {
                status,
                message: errors
                    .message
                    .clone()
                    .unwrap_or_else(|| format!("status {status}")),
            }
        }
        other => GatewayError::Unavailable(other.to_string()),
    }
}

fn view(intent: PaymentIntent) -> PaymentIntentView {
    PaymentIntentView {
        id: intent.id.as_str().to_owned(),
        status: intent.status.as_str().to_owned(),
        client_secret: intent.client_secret,
        amount: intent.amount,
        metadata: intent.metadata,
    }
}

#[async_trait::async_trait]
impl PaymentGateway for StripeGateway {
    async fn create_payment_intent(
        &self,
        intent: &NewPaymentIntent,
    ) -> Result<PaymentIntentView, GatewayError> {
        let metadata = HashMap::from([
            ("reference_code".to_owned(), intent.reference_code.clone()),
            ("token_amount".to_owned(), intent.token_amount.to_string()),
            ("company_id".to_owned(), intent.company.to_string()),
            ("type".to_owned(), "token_purchase".to_owned()),
        ]);
        let key = IdempotencyKey::new(&intent.reference_code)
            .map_err(|error| GatewayError::Unavailable(error.to_string()))?;
        CreatePaymentIntent::new(intent.amount, Currency::USD)
            .automatic_payment_methods(CreatePaymentIntentAutomaticPaymentMethods::new(true))
            .metadata(metadata)
            .customize()
            .request_strategy(RequestStrategy::Idempotent(key))
            .send(&self.client)
            .await
            .map(view)
            .map_err(unavailable)
    }

    async fn retrieve_payment_intent(&self, id: &str) -> Result<PaymentIntentView, GatewayError> {
        RetrievePaymentIntent::new(id)
            .send(&self.client)
            .await
            .map(view)
            .map_err(unavailable)
    }

    async fn create_customer(
        &self,
        email: &str,
        company: CompanyId,
        company_name: &str,
    ) -> Result<String, GatewayError> {
        let customer = CreateCustomer::new()
            .email(email)
            .name(company_name)
            .metadata(HashMap::from([(
                "company_id".to_owned(),
                company.to_string(),
            )]))
            .send(&self.client)
            .await
            .map_err(unavailable)?;
        Ok(customer.id.as_str().to_owned())
    }

    async fn customers_by_email(&self, email: &str) -> Result<Vec<String>, GatewayError> {
        let list = ListCustomer::new()
            .email(email)
            .limit(10)
            .send(&self.client)
            .await
            .map_err(unavailable)?;
        Ok(list
            .data
            .into_iter()
            .map(|customer| customer.id.as_str().to_owned())
            .collect())
    }

    async fn has_active_subscription(&self, customer: &str) -> Result<bool, GatewayError> {
        let list = ListSubscription::new()
            .customer(customer)
            .status(ListSubscriptionStatus::Active)
            .limit(1)
            .send(&self.client)
            .await
            .map_err(unavailable)?;
        Ok(!list.data.is_empty())
    }

    async fn create_subscription_checkout(
        &self,
        checkout: &SubscriptionCheckout,
    ) -> Result<CheckoutView, GatewayError> {
        let mut price = CreateCheckoutSessionLineItemsPriceData::new(Currency::USD);
        price.unit_amount = Some(checkout.amount);
        price.recurring = Some(CreateCheckoutSessionLineItemsPriceDataRecurring::new(
            CreateCheckoutSessionLineItemsPriceDataRecurringInterval::Month,
        ));
        price.product_data = Some(ProductData::new(checkout.product_name.clone()));
        let mut item = CreateCheckoutSessionLineItems::new();
        item.price_data = Some(price);
        item.quantity = Some(1);
        let session = CreateCheckoutSession::new()
            .mode(CheckoutSessionMode::Subscription)
            .customer(checkout.customer.clone())
            .line_items(vec![item])
            .success_url(checkout.success_url.clone())
            .cancel_url(checkout.cancel_url.clone())
            .metadata(HashMap::from([
                ("company_id".to_owned(), checkout.company.to_string()),
                ("type".to_owned(), "auto_topup_subscription".to_owned()),
                (
                    "amount_usd".to_owned(),
                    format!("{:.2}", checkout.amount as f64 / 100.0),
                ),
            ]))
            .send(&self.client)
            .await
            .map_err(unavailable)?;
        Ok(CheckoutView {
            id: session.id.as_str().to_owned(),
            url: session.url,
        })
    }

    async fn create_portal_session(
        &self,
        customer: &str,
        return_url: &str,
    ) -> Result<String, GatewayError> {
        let session = CreateBillingPortalSession::new()
            .customer(customer)
            .return_url(return_url)
            .send(&self.client)
            .await
            .map_err(unavailable)?;
        Ok(session.url)
    }
}
