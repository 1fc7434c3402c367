-- Identity (users, preferences, companies, memberships, roles, scopes), the durable job queue,
-- and the seed marks. Ids are UUID text; timestamps are UTC, set by the application.

CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    email TEXT NOT NULL UNIQUE,
    username TEXT UNIQUE,
    password_hash TEXT,
    first_name TEXT NOT NULL DEFAULT '',
    last_name TEXT NOT NULL DEFAULT '',
    admin BOOLEAN NOT NULL DEFAULT FALSE,
    mfa_secret TEXT,
    mfa_enabled BOOLEAN NOT NULL DEFAULT FALSE,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    tos_accepted_at TIMESTAMP,
    avatar_url TEXT,
    last_seen TIMESTAMP,
    status_text TEXT,
    status_mode TEXT NOT NULL DEFAULT 'online',
    -- Tokens issued before this instant are revoked (logout everywhere, password change).
    tokens_valid_after TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE user_preferences (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    pref_key TEXT NOT NULL,
    pref_value TEXT,
    PRIMARY KEY (user_id, pref_key)
);

CREATE TABLE companies (
    id TEXT PRIMARY KEY NOT NULL,
    parent_id TEXT REFERENCES companies (id) ON DELETE SET NULL,
    name TEXT NOT NULL,
    agent_name TEXT NOT NULL DEFAULT 'AGiXT',
    status BOOLEAN NOT NULL DEFAULT TRUE,
    address TEXT,
    phone_number TEXT,
    email TEXT,
    website TEXT,
    city TEXT,
    state TEXT,
    zip_code TEXT,
    country TEXT,
    notes TEXT,
    icon_url TEXT,
    user_limit INTEGER NOT NULL DEFAULT 1,
    mfa_required BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX companies_parent_id ON companies (parent_id);

CREATE TABLE roles (
    id INTEGER PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE,
    friendly_name TEXT NOT NULL,
    display_order INTEGER NOT NULL
);

CREATE TABLE memberships (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    company_id TEXT NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    role_id INTEGER NOT NULL REFERENCES roles (id),
    sort_order INTEGER,
    created_at TIMESTAMP NOT NULL,
    -- The reference has no such constraint and checks in code; a constraint cannot race.
    UNIQUE (user_id, company_id)
);
CREATE INDEX memberships_company_id ON memberships (company_id);

CREATE TABLE scopes (
    name TEXT PRIMARY KEY NOT NULL,
    resource TEXT NOT NULL,
    action TEXT NOT NULL,
    description TEXT NOT NULL,
    category TEXT NOT NULL,
    is_system BOOLEAN NOT NULL DEFAULT TRUE
);

CREATE TABLE role_scopes (
    role_id INTEGER NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    scope_name TEXT NOT NULL REFERENCES scopes (name) ON DELETE CASCADE,
    PRIMARY KEY (role_id, scope_name)
);

-- Durable background work (webhook deliveries, Stripe syncs, ...), written in the same
-- transaction as the change that causes it.
CREATE TABLE jobs (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    dedupe_key TEXT,
    payload TEXT NOT NULL DEFAULT '{}',
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'running', 'done', 'failed')),
    run_at TIMESTAMP NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL DEFAULT 10,
    last_error TEXT,
    locked_until TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX jobs_due ON jobs (status, run_at);
-- At most one pending job per (kind, key) when the caller gives a key.
CREATE UNIQUE INDEX jobs_one_pending_per_key ON jobs (kind, dedupe_key)
    WHERE dedupe_key IS NOT NULL AND status = 'pending';

-- What the idempotent seeds last wrote, so startup skips a seed that is already current.
CREATE TABLE seed_marks (
    name TEXT PRIMARY KEY NOT NULL,
    fingerprint TEXT NOT NULL,
    applied_at TIMESTAMP NOT NULL
);
