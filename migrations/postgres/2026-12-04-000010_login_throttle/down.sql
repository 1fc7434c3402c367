ALTER TABLE users DROP COLUMN attempt_gate;
ALTER TABLE users DROP COLUMN failed_attempts;
