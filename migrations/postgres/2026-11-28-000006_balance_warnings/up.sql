-- The balance at which a company last dismissed its low-balance warning.
ALTER TABLE companies ADD COLUMN low_balance_dismissed_at BIGINT;
