-- Agents, their settings (secret values encrypted by the application) and enabled commands;
-- conversations and their messages. `shared` and `company_id` mirror the settings of the same
-- names, so a user's visible agents are one indexed query.
CREATE TABLE agents (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    company_id TEXT REFERENCES companies (id) ON DELETE SET NULL,
    shared BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX agents_owner_name ON agents (user_id, name);
CREATE INDEX agents_company ON agents (company_id);

CREATE TABLE agent_settings (
    agent_id TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (agent_id, name)
);

CREATE TABLE agent_commands (
    agent_id TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    command TEXT NOT NULL,
    enabled BOOLEAN NOT NULL,
    PRIMARY KEY (agent_id, command)
);

CREATE TABLE conversations (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    agent_id TEXT REFERENCES agents (id) ON DELETE SET NULL,
    name TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX conversations_user_time ON conversations (user_id, updated_at);
CREATE INDEX conversations_user_name ON conversations (user_id, name);

CREATE TABLE messages (
    id TEXT PRIMARY KEY NOT NULL,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    updated_by TEXT,
    feedback_received BOOLEAN NOT NULL DEFAULT FALSE,
    notify BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX messages_conversation_time ON messages (conversation_id, created_at);
