-- citycc warehouse schema, version 4: the silence history. Who muted what, why, from when
-- until when, and how each silence ended (alerting.silence_log); ids are deterministic,
-- so a redelivered copy collapses (ReplacingMergeTree, read with FINAL). ``record`` is the
-- event as published (exact times, for rebuilding the alerting state).

CREATE TABLE IF NOT EXISTS {db}.silence_events (
    event_id String, silence_id String, action String, at DateTime('UTC'), at_ms UInt64,
    actor String, author String, reason String, matchers Array(String),
    starts_at DateTime('UTC'), ends_at Nullable(DateTime('UTC')), until_resolved UInt8,
    end_reason String, record String
) ENGINE = ReplacingMergeTree()
PARTITION BY tuple()
ORDER BY (silence_id, event_id);
