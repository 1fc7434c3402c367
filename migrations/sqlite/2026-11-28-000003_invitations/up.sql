CREATE TABLE invitations (
    id TEXT PRIMARY KEY NOT NULL,
    email TEXT NOT NULL,
    company_id TEXT NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    role_id INTEGER NOT NULL REFERENCES roles (id),
    inviter_id TEXT REFERENCES users (id) ON DELETE SET NULL,
    is_accepted BOOLEAN NOT NULL DEFAULT FALSE,
    accepted_by TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX invitations_email ON invitations (email);
CREATE INDEX invitations_company_id ON invitations (company_id);
