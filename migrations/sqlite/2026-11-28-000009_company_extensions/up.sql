-- A company's extension settings and command states: the layer between the server's
-- settings (the environment) and each agent's own. Secret values are encrypted by the
-- application, as agent settings are.
CREATE TABLE company_settings (
    company_id TEXT NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (company_id, name)
);

CREATE TABLE company_commands (
    company_id TEXT NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    command TEXT NOT NULL,
    enabled BOOLEAN NOT NULL,
    PRIMARY KEY (company_id, command)
);
