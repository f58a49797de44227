"""Operations panels as ClickHouse SQL: alert volumes, MTTA/MTTR, sensor health, congestion,
hazmat exposure.

Each takes its facts from the module that owns them: the alert actions and states of
:mod:`alerting.alert_model` (an alert *begins* on ``fire``/``refire``, as the cockpit's KPI
trend counts it in :func:`warehouse.kpi_trend.alert_starts`), the severity words of
:data:`alerting.exports.SEVERITY_WORDS`, the sensor conditions of
:mod:`cockpit_api.sensor_health`, the congestion levels and bounds of
:mod:`cockpit_api.layers` (speed against the road's free-flow speed, else occupancy).

* MTTA / MTTR: per alert occurrence begun in the range, the time from its first
  ``fire``/``refire`` to its first ``ack`` / its first change to ``resolved`` (the ones not
  yet acknowledged / resolved are left out); per incident opened in the range, the time
  from ``opened`` to ``resolved`` (``incident_events``).
* Sensor health: lifeline sensors with an alert begun in the range, by condition (the
  cockpit counts those firing *now*; a dashboard range counts those that began), beside the
  sensors heard of in the range (what the cockpit cannot see).
* Hazmat exposure: hazardous-goods vehicles present and vehicle-minutes (distinct
  vehicle x minute with a position fix) per district and hazard class.

SQL runs on ClickHouse 18.16 and current: no CTE, window function, DateTime64, JSONExtract.
"""

from __future__ import annotations

from collections.abc import Mapping

from alerting.alert_model import ACK, FIRE, REFIRE, RESOLVED
from alerting.exports import SEVERITY_WORDS
from cockpit_api.layers import OCCUPANCY_BOUNDS, RATIO_BOUNDS
from cockpit_api.sensor_health import AREA_DETECTORS, CONDITIONS, QUALITY
from cockpit_api.sensor_health import STREAM as SENSOR_STREAM

from .kpi_sql import bucket, quote, quoted

BEGIN = (FIRE, REFIRE)


def label(column: str, labels: Mapping[str, str]) -> str:
    """``column``'s value turned into its label (unknown values stay as they are)."""
    keys = list(labels)
    return (f"transform({column}, [{quoted(keys)}], [{quoted([labels[k] for k in keys])}], "
            f"{column})")


def _label_of(key: str) -> str:
    return f"label_values[indexOf(label_keys, {quote(key)})]"


def severity_label(column: str = "severity") -> str:
    return label(column, {k: zh for k, (zh, _) in SEVERITY_WORDS.items()})


def _begun(db: str) -> str:
    return (f"FROM {db}.alert_events FINAL WHERE $__timeFilter(at) "
            f"AND action IN ({quoted(BEGIN)})")


def alerts_by_severity(db: str) -> str:
    """Time series (long: time, severity, alerts): alerts begun per bucket and severity."""
    return (f"SELECT time, {severity_label()} AS severity_label, alerts FROM "
            f"(SELECT {bucket('at_ms')} AS time, severity, count() AS alerts {_begun(db)} "
            f"GROUP BY time, severity) ORDER BY time, severity_label")


def alerts_by_kind(db: str) -> str:
    """Table: alerts begun per kind (its zh title where an alert of it is stored) and
    severity, most first."""
    return (f"SELECT if(title = '', kind, title) AS kind_label, {severity_label()} "
            f"AS severity_label, alerts FROM (SELECT kind, severity, count() AS alerts "
            f"{_begun(db)} GROUP BY kind, severity) AS a ANY LEFT JOIN (SELECT kind, "
            f"any(title_zh) AS title FROM {db}.alerts FINAL GROUP BY kind) AS t USING kind "
            f"ORDER BY alerts DESC, kind_label, severity_label")


def _in_range(ms: str) -> str:
    return (f"{ms} > 0 AND toDateTime(intDiv({ms}, 1000)) >= $__fromTime "
            f"AND toDateTime(intDiv({ms}, 1000)) <= $__toTime")


def _mean_after(start: str, end: str) -> str:
    return (f"if(countIf({end} >= {start}) = 0, NULL, round(avgIf((toInt64({end}) - "
            f"toInt64({start})) / 1000, {end} >= {start}), 1))")


def alert_mtta_mttr(db: str) -> str:
    """One row: occurrences begun, MTTA and MTTR of alerts (seconds)."""
    occ = (f"SELECT occurrence_id, minIf(at_ms, action IN ({quoted(BEGIN)})) AS began, "
           f"minIf(at_ms, action = {quote(ACK)}) AS acked, "
           f"minIf(at_ms, to_state = {quote(RESOLVED)}) AS resolved "
           f"FROM {db}.alert_events FINAL WHERE at >= $__fromTime GROUP BY occurrence_id")
    return (f"SELECT count() AS occurrences, {_mean_after('began', 'acked')} AS mtta_s, "
            f"{_mean_after('began', 'resolved')} AS mttr_s FROM ({occ}) "
            f"WHERE {_in_range('began')}")


def incident_mttr(db: str) -> str:
    """One row: incidents opened, and their mean time to resolve (seconds)."""
    inc = (f"SELECT incident_id, minIf(at_ms, kind = 'opened') AS opened, "
           f"minIf(at_ms, kind = 'resolved') AS resolved FROM {db}.incident_events FINAL "
           f"WHERE at >= $__fromTime GROUP BY incident_id")
    return (f"SELECT count() AS incidents, {_mean_after('opened', 'resolved')} "
            f"AS incident_mttr_s FROM ({inc}) WHERE {_in_range('opened')}")


def sensor_health(db: str, districts: Mapping[str, str]) -> str:
    """Table per district: sensors heard of, and sensors with an alert begun per condition
    (:data:`cockpit_api.sensor_health.CONDITIONS`)."""
    quality = list(QUALITY)
    cond = (f"transform(kind, [{quoted(quality)}], [{quoted([QUALITY[k] for k in quality])}],"
            f" 'alarm')")
    per = ", ".join(f"uniqExactIf(entity_id, cond = {quote(c)}) AS {c}" for c in CONDITIONS)
    alarms = (f"SELECT district, {per} FROM (SELECT district, entity_id, {cond} AS cond "
              f"{_begun(db)} AND {_label_of('stream')} = {quote(SENSOR_STREAM)} "
              f"AND {_label_of('detector')} NOT IN ({quoted(sorted(AREA_DETECTORS))})) "
              f"GROUP BY district")
    heard = (f"SELECT district, uniqExact(entity_id) AS sensors FROM {db}.events_lifeline FINAL "
             f"WHERE $__timeFilter(event_time) GROUP BY district")
    return (f"SELECT {label('district', districts)} AS district_label, sensors, "
            f"{', '.join(CONDITIONS)} FROM ({heard}) AS h ALL LEFT JOIN ({alarms}) AS a "
            f"USING district ORDER BY district")


def congestion_level(free_kmh: Mapping[str, float]) -> str:
    """The level (0 free .. 3 jammed) of a traffic ``segment`` reading, as
    :func:`cockpit_api.layers.congestion_level`: a segment ``F:k`` lies on road ``F``."""
    roads = sorted(free_kmh)
    free = (f"transform(splitByChar(':', entity_id)[1], [{quoted(roads)}], "
            f"[{', '.join(repr(float(free_kmh[r])) for r in roads)}], 0.)") if roads else "0."
    by_ratio = ", ".join(f"speed_kmh / free >= {b}, {k}" for k, b in enumerate(RATIO_BOUNDS))
    by_occ = ", ".join(f"occupancy < {b}, {k}" for k, b in enumerate(OCCUPANCY_BOUNDS))
    return (f"multiIf(({free} AS free) > 0, multiIf({by_ratio}, 3), "
            f"multiIf({by_occ}, 3))")


def _segments(db: str, free_kmh: Mapping[str, float]) -> str:
    return (f"SELECT event_ms, entity_id, district, speed_kmh, "
            f"{congestion_level(free_kmh)} AS level FROM {db}.events_traffic FINAL "
            f"WHERE $__timeFilter(event_time) AND type = 'segment'")


def congestion_trend(db: str, free_kmh: Mapping[str, float]) -> str:
    """Time series: the share (%) of the segments heard of in each bucket that were
    congested or jammed (level >= 2) at some reading."""
    return (f"SELECT {bucket('event_ms')} AS time, round(100 * uniqExactIf(entity_id, level >= 2) "
            f"/ uniqExact(entity_id), 1) AS congested_pct FROM ({_segments(db, free_kmh)}) "
            f"GROUP BY time ORDER BY time")


def congestion_by_district(db: str, free_kmh: Mapping[str, float],
                           districts: Mapping[str, str]) -> str:
    """Table per district: segments heard of, mean speed, segments congested / jammed at
    some reading."""
    return (f"SELECT {label('district', districts)} AS district_label, "
            f"uniqExact(entity_id) AS segments, round(avg(speed_kmh), 1) AS mean_speed_kmh, "
            f"uniqExactIf(entity_id, level = 2) AS congested, uniqExactIf(entity_id, level = 3) "
            f"AS jammed FROM ({_segments(db, free_kmh)}) GROUP BY district "
            f"ORDER BY district")


def _hazmat(db: str) -> str:
    return (f"FROM {db}.events_hazmat FINAL WHERE $__timeFilter(event_time) "
            f"AND type = 'vehicle_gps'")


def hazmat_exposure(db: str, districts: Mapping[str, str]) -> str:
    """Table per district and hazard class: vehicles present and vehicle-minutes."""
    return (f"SELECT {label('district', districts)} AS district_label, hazard_class, "
            f"uniqExact(entity_id) AS vehicles, uniqExact(entity_id, intDiv(event_ms, 60000)) "
            f"AS vehicle_minutes {_hazmat(db)} GROUP BY district, hazard_class "
            f"ORDER BY vehicle_minutes DESC, district_label, hazard_class")


def hazmat_trend(db: str) -> str:
    """Time series: hazardous-goods vehicles with a position fix in each bucket."""
    return (f"SELECT {bucket('event_ms')} AS time, uniqExact(entity_id) AS vehicles "
            f"{_hazmat(db)} GROUP BY time ORDER BY time")
