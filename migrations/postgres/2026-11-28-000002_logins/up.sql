-- The TOTP step last accepted for a user, so a used code is refused.
ALTER TABLE users ADD COLUMN mfa_last_step BIGINT;

-- Failed password logins, for the reference's lockout (10 in 24 hours).
CREATE TABLE failed_logins (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    ip_address TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX failed_logins_user_time ON failed_logins (user_id, created_at);
