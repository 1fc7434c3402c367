-- The login throttle: password and TOTP checks counted per account, atomically (each check
-- claims the next count before it runs), and the instant before which no check runs.
ALTER TABLE users ADD COLUMN failed_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN attempt_gate TIMESTAMP;
