DROP TABLE failed_logins;
ALTER TABLE users DROP COLUMN mfa_last_step;
