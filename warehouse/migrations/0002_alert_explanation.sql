-- citycc warehouse schema, version 2: alerts carry the detector's explanation (JSON text:
-- baseline, deviation, window, counts). 18.16 has no ADD COLUMN IF NOT EXISTS; the runner
-- treats "column already exists" from an ADD COLUMN as applied.

ALTER TABLE {db}.alerts ADD COLUMN explanation String DEFAULT '{}';
