-- citycc warehouse schema, version 3: the alerting history. Every alert lifecycle change,
-- every incident change (the incident timeline) and every notification outcome is a row,
-- so any moment can be queried and rebuilt (Alertmanager keeps none of this). Ids are
-- deterministic, so a redelivered copy collapses (ReplacingMergeTree, read with FINAL).
-- Not partitioned by time: a replayed copy keeps its id but may carry another time.

CREATE TABLE IF NOT EXISTS {db}.alert_events (
    event_id String, fingerprint String, occurrence UInt32, occurrence_id String, seq UInt32,
    from_state String, to_state String, action String, actor String, comment String,
    at DateTime('UTC'), at_ms UInt64, severity String, kind String, entity_id String,
    district String, label_keys Array(String), label_values Array(String), alert_id String,
    cause_id String, notify UInt8
) ENGINE = ReplacingMergeTree()
PARTITION BY tuple()
ORDER BY (fingerprint, event_id);

CREATE TABLE IF NOT EXISTS {db}.incident_events (
    event_id String, incident_id String, seq UInt32, lsn UInt64, kind String,
    at DateTime('UTC'), at_ms UInt64, actor String, payload String
) ENGINE = ReplacingMergeTree()
PARTITION BY tuple()
ORDER BY (incident_id, event_id);

-- One row per (notification, outcome): queued, delivered, retrying, dead.
CREATE TABLE IF NOT EXISTS {db}.notifications (
    key String, receiver String, fingerprint String, status String, severity String,
    summary String, outcome String, attempts UInt32, reason String, at DateTime('UTC'),
    at_ms UInt64, payload String
) ENGINE = ReplacingMergeTree()
PARTITION BY tuple()
ORDER BY (key, outcome);
