-- Each user's chains (reference agents-memory.md section 5, the user tier): named lists of
-- steps, each a prompt, a command or another chain run by an agent. A step's `prompt` is
-- its JSON object (the target's name and its arguments). A chain's steps are rewritten
-- together when one changes, so numbers stay 1..n without gaps.
CREATE TABLE chains (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX chains_owner_name ON chains (user_id, name);

CREATE TABLE chain_steps (
    chain_id TEXT NOT NULL REFERENCES chains (id) ON DELETE CASCADE,
    step_number INTEGER NOT NULL,
    agent_name TEXT NOT NULL,
    prompt_type TEXT NOT NULL,
    prompt TEXT NOT NULL,
    PRIMARY KEY (chain_id, step_number)
);

-- What each step of each run answered.
CREATE TABLE chain_responses (
    id TEXT PRIMARY KEY NOT NULL,
    chain_id TEXT NOT NULL REFERENCES chains (id) ON DELETE CASCADE,
    run_id TEXT NOT NULL,
    step_number INTEGER NOT NULL,
    content TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX chain_responses_chain ON chain_responses (chain_id, created_at);
CREATE INDEX chain_responses_run ON chain_responses (chain_id, run_id);
