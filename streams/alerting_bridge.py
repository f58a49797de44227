"""Findings and limit transitions -> alert messages (pure)."""

from __future__ import annotations

from typing import Any

from city.profile import CityProfile
from detectors.findings import Finding
from detectors.limits import HIGH, Transition
from schemas.catalog import MEASUREMENTS
from schemas.records import make_alert
from schemas.validate import format_event_time


def limit_finding(t: Transition, event: dict[str, Any], ts_ms: int, stream: str) -> Finding:
    """A physical-limit transition as a :class:`Finding`, explained."""
    m = MEASUREMENTS[t.kind]
    above = t.side == HIGH
    return Finding(
        detector="limit", kind=f"{t.kind}_{t.side}", entity_id=t.entity_id, status=t.status,
        severity=t.severity, event_ms=ts_ms, title_zh=m.zh + ("超限" if above else "过低"),
        title_en=f"{m.en} {'above' if above else 'below'} alarm level", stream=stream,
        value=t.value, threshold=t.threshold, unit=m.unit, lat=event.get("lat"),
        lon=event.get("lon"), district=event.get("district", ""),
        evidence=(event["event_id"],),
        explanation={"rule": "physical limit", "alarm_level": t.threshold,
                     "recover_level": t.recover, "deviation": round(t.value - t.threshold, 6),
                     "physical_range": [m.lo, m.hi]})


def finding_alert(f: Finding, profile: CityProfile, detected_at_ms: int,
                  ttl_ms: int | None = None, reasserted: bool = False) -> dict[str, Any]:
    """The alert message for a finding (``detected_at_ms``: when the worker decided). A
    firing one ends ``ttl_ms`` later unless re-asserted (None: it carries no end). A
    re-assertion (``reasserted``) repeats a firing finding at ``detected_at_ms``: same
    fingerprint and alert id, its own event time (so the engine takes it as news)."""
    district = _district(profile, f.district)
    firing = f.status == "firing"
    return make_alert(
        detector=f.detector, kind=f.kind, status=f.status, severity=f.severity,
        stream=f.stream, entity_id=f.entity_id, district=f.district,
        district_zh=district.zh if district else "",
        district_en=district.en if district else "", lat=f.lat, lon=f.lon,
        event_time=format_event_time(detected_at_ms if reasserted else f.event_ms),
        value=float(f.value), threshold=float(f.threshold),
        unit=f.unit, title_zh=f.title_zh, title_en=f.title_en, evidence=list(f.evidence),
        detected_at=format_event_time(detected_at_ms), explanation=f.explanation,
        ends_at=format_event_time(detected_at_ms + ttl_ms) if firing and ttl_ms else None,
        reasserted=reasserted and firing)


def _district(profile: CityProfile, code: str) -> Any:
    try:
        return profile.district(code) if code else None
    except KeyError:
        return None
