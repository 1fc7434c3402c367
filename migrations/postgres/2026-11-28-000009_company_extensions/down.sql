DROP TABLE company_commands;
DROP TABLE company_settings;
