-- citycc warehouse schema, version 5: an alert lifecycle event carries the alert's end
-- (epoch ms; 0: none): it resolves unless its detector re-asserts it by then, so a book
-- rebuilt from this log expires what the live one would. 18.16 has no ADD COLUMN IF NOT
-- EXISTS; the runner treats "column already exists" from an ADD COLUMN as applied.

ALTER TABLE {db}.alert_events ADD COLUMN ends_ms UInt64 DEFAULT 0;
