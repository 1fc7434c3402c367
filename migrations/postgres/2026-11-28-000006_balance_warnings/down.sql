ALTER TABLE companies DROP COLUMN low_balance_dismissed_at;
