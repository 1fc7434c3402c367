DROP TABLE token_usage;
ALTER TABLE companies DROP COLUMN tokens_used_total;
ALTER TABLE companies DROP COLUMN token_balance_usd;
ALTER TABLE companies DROP COLUMN token_balance;
