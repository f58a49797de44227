-- citycc warehouse schema, version 5: a dead letter says how big its original was and its
-- sha256, because an original too big to travel whole keeps only a prefix in `raw`
-- (code too_large). Rows written before this have size 0 and an empty digest.

ALTER TABLE {db}.dead_letters ADD COLUMN raw_size UInt64 DEFAULT 0;
ALTER TABLE {db}.dead_letters ADD COLUMN raw_sha256 String DEFAULT '';
