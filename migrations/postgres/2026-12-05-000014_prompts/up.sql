-- Each user's prompts (reference agents-memory.md section 6, the user tier), over Agentry's
-- built-in set. A name is unique within a user's category (409 on a duplicate): the
-- reference creates duplicates freely, and then resolves a name to whichever comes first.
CREATE TABLE prompts (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    category TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    content TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX prompts_owner_category_name ON prompts (user_id, category, name);
