-- citycc warehouse schema, version 1. Runs on ClickHouse 18.16 and current releases.
-- {db} is replaced by the database name. Every statement is idempotent (IF NOT EXISTS):
-- two processes may apply this file at the same time.
--
-- Dedup: ReplacingMergeTree collapses rows with the same sorting key *within a partition*,
-- so partition and sorting keys hold only values fixed by the record's id (never ingest
-- time, offsets or wall clocks). Read with FINAL.

CREATE TABLE IF NOT EXISTS {db}.events_lifeline (
    event_id String, type String, event_time DateTime('UTC'), event_ms UInt64,
    entity_id String, source String, district String, lat Float64, lon Float64,
    body String, src_topic String, src_partition UInt32, src_offset UInt64, src_index Int32,
    ingested_at DateTime('UTC'),
    kind String, unit String, value Float64
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMMDD(event_time)
ORDER BY (district, entity_id, event_time, event_id);

CREATE TABLE IF NOT EXISTS {db}.events_ems (
    event_id String, type String, event_time DateTime('UTC'), event_ms UInt64,
    entity_id String, source String, district String, lat Float64, lon Float64,
    body String, src_topic String, src_partition UInt32, src_offset UInt64, src_index Int32,
    ingested_at DateTime('UTC'),
    status String, complaint String, priority UInt8, call_id String
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMMDD(event_time)
ORDER BY (district, entity_id, event_time, event_id);

CREATE TABLE IF NOT EXISTS {db}.events_fire (
    event_id String, type String, event_time DateTime('UTC'), event_ms UInt64,
    entity_id String, source String, district String, lat Float64, lon Float64,
    body String, src_topic String, src_partition UInt32, src_offset UInt64, src_index Int32,
    ingested_at DateTime('UTC'),
    signal String, category String, status String, building_id String, incident_id String,
    alarm_level UInt8
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMMDD(event_time)
ORDER BY (district, entity_id, event_time, event_id);

CREATE TABLE IF NOT EXISTS {db}.events_traffic (
    event_id String, type String, event_time DateTime('UTC'), event_ms UInt64,
    entity_id String, source String, district String, lat Float64, lon Float64,
    body String, src_topic String, src_partition UInt32, src_offset UInt64, src_index Int32,
    ingested_at DateTime('UTC'),
    speed_kmh Float64, flow_vph Float64, occupancy Float64, severity UInt8,
    lanes_blocked UInt8, fault String, segment_id String
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMMDD(event_time)
ORDER BY (district, entity_id, event_time, event_id);

CREATE TABLE IF NOT EXISTS {db}.events_hazmat (
    event_id String, type String, event_time DateTime('UTC'), event_ms UInt64,
    entity_id String, source String, district String, lat Float64, lon Float64,
    body String, src_topic String, src_partition UInt32, src_offset UInt64, src_index Int32,
    ingested_at DateTime('UTC'),
    kind String, unit String, value Float64, un_number String, hazard_class String,
    speed_kmh Float64
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMMDD(event_time)
ORDER BY (district, entity_id, event_time, event_id);

-- One row per alert state change. Not partitioned by time: nothing but alert_id is
-- guaranteed to be equal between two copies of one alert, and the table is small.
CREATE TABLE IF NOT EXISTS {db}.alerts (
    alert_id String, fingerprint String, status String, severity String, detector String,
    kind String, stream String, entity_id String, district String, district_zh String,
    district_en String, lat Float64, lon Float64, event_time DateTime('UTC'), event_ms UInt64,
    value Float64, threshold Float64, unit String, title_zh String, title_en String,
    evidence Array(String), detected_at DateTime('UTC'), detected_ms UInt64
) ENGINE = ReplacingMergeTree()
PARTITION BY tuple()
ORDER BY alert_id;

-- received_ms is a wall clock (a re-validated message gets a new one), so it is not a key.
-- source_partition/source_offset are signed: -1 means unknown (a record without headers).
CREATE TABLE IF NOT EXISTS {db}.dead_letters (
    dl_id String, source_topic String, source_partition Int32, source_offset Int64,
    batch_index Int32, code String, field String, reason String, event_id String,
    received_at DateTime('UTC'), received_ms UInt64, raw String
) ENGINE = ReplacingMergeTree()
PARTITION BY tuple()
ORDER BY dl_id;
