DROP TABLE stripe_events;
DROP TABLE payment_transactions;
ALTER TABLE companies DROP COLUMN subscription_active;
ALTER TABLE companies DROP COLUMN stripe_customer_id;
