-- Personal access tokens: `agixt_<64 hex>`, kept as SHA-256 (they carry 256 random bits, so a
-- slow hash buys nothing and would cost every request).
CREATE TABLE personal_access_tokens (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    token_prefix TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    scopes_json TEXT NOT NULL DEFAULT '[]',
    agents_json TEXT NOT NULL DEFAULT '[]',
    companies_json TEXT NOT NULL DEFAULT '[]',
    expires_at TIMESTAMP,
    is_revoked BOOLEAN NOT NULL DEFAULT FALSE,
    last_used_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX personal_access_tokens_user_id ON personal_access_tokens (user_id);
