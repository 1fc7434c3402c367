//! The payment gateway port: what Agentry asks of a payment provider. `StripeGateway` is the
//! real one (async-stripe, confined to this crate); tests point it at a fake Stripe on
//! 127.0.0.1 through its base URL.

use std::collections::HashMap;

use agentry_domain::CompanyId;

/// A PaymentIntent as Agentry needs to see it.
#[derive(Debug, Clone, PartialEq)]
pub struct PaymentIntentView {
    pub id: String,
    /// Stripe's status: `requires_payment_method`, `processing`, `succeeded`...
    pub status: String,
    pub client_secret: Option<String>,
    /// In cents.
    pub amount: i64,
    pub metadata: HashMap<String, String>,
}

impl PaymentIntentView {
    pub fn succeeded(&self) -> bool {
        self.status == "succeeded"
    }
}

/// A token top-up to charge.
#[derive(Debug, Clone)]
pub struct NewPaymentIntent {
    /// In cents (USD).
    pub amount: i64,
    /// Agentry's reference for the payment; also the idempotency key, so a retried create
    /// never makes a second intent.
    pub reference_code: String,
    pub token_amount: i64,
    pub company: CompanyId,
}

/// A monthly auto top-up subscription, paid through Stripe Checkout.
#[derive(Debug, Clone)]
pub struct SubscriptionCheckout {
    pub customer: String,
    pub company: CompanyId,
    /// In cents, each month.
    pub amount: i64,
    pub product_name: String,
    pub success_url: String,
    pub cancel_url: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CheckoutView {
    pub id: String,
    pub url: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// Stripe answered and refused (a 4xx): the request was wrong or the object is unknown.
    #[error("Stripe refused the request: {message}")]
    Refused { status: u16, message: String },
    /// Stripe could not be reached, failed (5xx) or answered something unreadable.
    #[error("Stripe is unavailable: {0}")]
    Unavailable(String),
}

/// What Agentry asks of a payment provider.
#[async_trait::async_trait]
pub trait PaymentGateway: Send + Sync {
    async fn create_payment_intent(
        &self,
        intent: &NewPaymentIntent,
    ) -> Result<PaymentIntentView, GatewayError>;

    async fn retrieve_payment_intent(&self, id: &str) -> Result<PaymentIntentView, GatewayError>;

    /// A new customer for a company; its id.
    async fn create_customer(
        &self,
        email: &str,
        company: CompanyId,
        company_name: &str,
    ) -> Result<String, GatewayError>;

    /// The ids of the customers with this email.
    async fn customers_by_email(&self, email: &str) -> Result<Vec<String>, GatewayError>;

    /// Whether the customer has an active subscription.
    async fn has_active_subscription(&self, customer: &str) -> Result<bool, GatewayError>;

    async fn create_subscription_checkout(
        &self,
        checkout: &SubscriptionCheckout,
    ) -> Result<CheckoutView, GatewayError>;

    /// A customer portal session; its URL.
    async fn create_portal_session(
        &self,
        customer: &str,
        return_url: &str,
    ) -> Result<String, GatewayError>;
}
