-- Token balances per company and the append-only usage ledger.
ALTER TABLE companies ADD COLUMN token_balance BIGINT NOT NULL DEFAULT 0;
ALTER TABLE companies ADD COLUMN token_balance_usd DOUBLE NOT NULL DEFAULT 0;
ALTER TABLE companies ADD COLUMN tokens_used_total BIGINT NOT NULL DEFAULT 0;

CREATE TABLE token_usage (
    id TEXT PRIMARY KEY NOT NULL,
    company_id TEXT NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    input_tokens BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    total_tokens BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX token_usage_company_time ON token_usage (company_id, created_at);
