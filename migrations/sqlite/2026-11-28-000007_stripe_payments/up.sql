-- Stripe: the company's customer, whether it holds an active auto top-up subscription, the
-- payments (one row per PaymentIntent, credited once), and the events already applied.
ALTER TABLE companies ADD COLUMN stripe_customer_id TEXT;
ALTER TABLE companies ADD COLUMN subscription_active BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE payment_transactions (
    reference_code TEXT PRIMARY KEY NOT NULL,
    company_id TEXT NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    user_id TEXT REFERENCES users (id) ON DELETE SET NULL,
    payment_intent_id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    currency TEXT NOT NULL,
    amount_usd DOUBLE PRECISION NOT NULL,
    token_amount BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX payment_transactions_company_time ON payment_transactions (company_id, created_at);

-- `signed_at` is the signature's timestamp: Stripe signs each delivery anew, so the same
-- event with the same signature is a replay of captured bytes, not a redelivery.
CREATE TABLE stripe_events (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    signed_at BIGINT NOT NULL,
    received_at TIMESTAMP NOT NULL
);
