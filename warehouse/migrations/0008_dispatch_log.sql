-- citycc warehouse schema, version 7: the dispatch log. Every dispatch record the worker's
-- dispatch board makes (dispatch.board; topic ``dispatch``): packages recommended,
-- confirmed, edited (with the dispatcher's reason) or rejected, units assigned, unit status
-- changes, stale positions, timers escalated, move-ups, signal pre-emption requests.
-- ``record_id`` is deterministic (a replayed input gives the same id), so a redelivered
-- record collapses (ReplacingMergeTree, read with FINAL). ``payload`` is canonical JSON.

CREATE TABLE IF NOT EXISTS {db}.dispatch_log (
    record_id String, kind String, at DateTime('UTC'), at_ms UInt64, incident_id String,
    unit_id String, actor String, payload String
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(at)
ORDER BY (incident_id, at_ms, record_id);
