"""Exports: CAP 1.2 and GB/T 35965.1-style XML (parsed back), their validators, the timeline."""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import xml.etree.ElementTree as ET
from typing import Any, Callable

import pytest

from alerting.cap import NS, incident_to_cap, validate_cap
from alerting.enrich import enrich
from alerting.exports import local_time, timeline
from alerting.gbt import LEVELS, gbt_identifier, incident_to_gbt, validate_gbt
from alerting.incidents import (DEFAULT_CATEGORIES, Correlator, CorrelatorConfig, Incident,
                                IncidentEvent)
from city.profile import PROFILE_DIR, parse_profile
from schemas.records import make_alert
from schemas.validate import format_event_time
from unit_helpers import NOW_MS, PROFILE

T0 = NOW_MS  # 2025-06-01T08:00:00Z = 16:00 in Changsha
C = {"c": NS}
TUNNEL = (28.2055, 112.961)


def alert(kind: str, entity: str, t_s: int = 0, *, status: str = "firing",
          severity: str = "critical", expl: dict[str, Any] | None = None,
          title: str = "告警", located: bool = True) -> dict[str, Any]:
    t = T0 + t_s * 1000
    lat, lon = TUNNEL if located else (None, None)
    return make_alert(detector="test", kind=kind, status=status, severity=severity,
                      stream=kind.split("_")[0], entity_id=entity, district="kaifu",
                      district_zh="开福区", district_en="Kaifu", lat=lat, lon=lon,
                      event_time=format_event_time(t), value=1.0, threshold=0.0, unit="",
                      title_zh=title, title_en=title, evidence=[f"ev-{entity}-{status}-{t}"],
                      detected_at=format_event_time(t), explanation=expl)


def hazmat_incident(profile: Any = PROFILE, **kw: Any) -> tuple[Correlator, Incident,
                                                                list[IncidentEvent]]:
    c = Correlator(enricher=functools.partial(enrich, profile=profile))
    events = c.observe(alert("hazmat_stopped", "HZV-7", title="危化品车辆停驶 <A&B>\x01",
                             expl={"un_number": "1017", "hazard_class": "2.3"}, **kw), T0)
    events += c.observe(alert("ems_calls", "C120-1", 60, severity="major",
                              expl={"key": "toxic", "members": ["C120-1", "C120-2"]}), T0)
    return c, c.open_incidents()[0], events


def cap_root(doc: str) -> ET.Element:
    return ET.fromstring(doc.encode())


# -- CAP --------------------------------------------------------------------------------------
def test_cap_document_is_valid_and_says_what_happened() -> None:
    _, inc, _ = hazmat_incident()
    doc = incident_to_cap(inc, inc.enrichment, T0 + 120_000)
    assert validate_cap(doc) == []
    root = cap_root(doc)
    assert root.tag == f"{{{NS}}}alert"
    get = lambda path: root.findtext(path, namespaces=C)  # noqa: E731
    assert get("c:sent") == "2025-06-01T16:02:00+08:00"
    assert (get("c:status"), get("c:msgType"), get("c:scope")) == ("Actual", "Alert", "Public")
    assert get("c:incidents") == inc.incident_id and " " not in get("c:identifier")
    infos = root.findall("c:info", C)
    assert [i.findtext("c:language", namespaces=C) for i in infos] == ["zh-CN", "en"]
    zh, en = infos
    assert [e.text for e in zh.findall("c:category", C)] == ["CBRNE", "Transport"]
    assert (zh.findtext("c:severity", namespaces=C), zh.findtext("c:urgency", namespaces=C),
            zh.findtext("c:certainty", namespaces=C)) == ("Extreme", "Immediate", "Observed")
    assert zh.findtext("c:event", namespaces=C) == "危化品事故"
    assert "液氯" in zh.findtext("c:description", namespaces=C)  # type: ignore[operator]
    assert "Chlorine" in en.findtext("c:description", namespaces=C)  # type: ignore[operator]
    assert "100" in en.findtext("c:instruction", namespaces=C)  # type: ignore[operator]
    lat, lon, radius = re.split("[, ]", zh.findtext("c:area/c:circle", namespaces=C) or "")
    assert (float(lat), float(lon), float(radius)) == (*TUNNEL, 1.6)
    assert zh.findtext("c:area/c:areaDesc", namespaces=C) == "长沙市开福区"
    params = {p.findtext("c:valueName", namespaces=C): p.findtext("c:value", namespaces=C)
              for p in zh.findall("c:parameter", C)}
    assert params["UN_number"] == "1017" and params["alerts"] == "2"


def test_cap_text_is_escaped_and_control_characters_removed() -> None:
    _, inc, _ = hazmat_incident()
    doc = incident_to_cap(inc, inc.enrichment, T0)
    assert "&lt;A&amp;B&gt;" in doc and "\x01" not in doc
    desc = cap_root(doc).findtext("c:info/c:description", namespaces=C) or ""
    assert "危化品车辆停驶 <A&B>" in desc


def test_cap_drill_is_an_exercise_and_bad_enums_are_refused() -> None:
    _, inc, _ = hazmat_incident()
    root = cap_root(incident_to_cap(inc, inc.enrichment, T0, "Exercise"))
    assert root.findtext("c:status", namespaces=C) == "Exercise"
    with pytest.raises(ValueError, match="status"):
        incident_to_cap(inc, inc.enrichment, T0, "Drill")


def test_cap_utc_is_minus_zero_not_z() -> None:
    utc = parse_profile({**_profile_raw(), "utc_offset_hours": 0})  # Changsha moved to UTC
    _, inc, _ = hazmat_incident(utc)
    doc = incident_to_cap(inc, inc.enrichment, T0)
    assert cap_root(doc).findtext("c:sent", namespaces=C) == "2025-06-01T08:00:00-00:00"
    assert "Z<" not in doc and validate_cap(doc) == []


def _profile_raw() -> dict[str, Any]:
    return json.loads((PROFILE_DIR / "changsha.json").read_text(encoding="utf-8"))


def test_cap_for_a_resolved_incident_is_an_all_clear() -> None:
    c, inc, _ = hazmat_incident()
    c.resolve(inc.incident_id, actor="dispatcher-3", at_ms=T0 + 600_000)
    doc = incident_to_cap(inc, inc.enrichment, T0 + 600_000, msg_type="Update",
                          references=[f"citycc@ops.local,citycc-{inc.incident_id}-{T0},"
                                      f"2025-06-01T16:00:00+08:00"])
    info = cap_root(doc).find("c:info", C)
    assert info is not None and validate_cap(doc) == []
    assert (info.findtext("c:urgency", namespaces=C),
            info.findtext("c:responseType", namespaces=C)) == ("Past", "AllClear")


def test_cap_without_a_location_has_no_circle_and_is_valid() -> None:
    c = Correlator(enricher=functools.partial(enrich, profile=PROFILE))
    c.observe(alert("tank_gas_high", "TK-1", located=False), T0)
    inc = c.open_incidents()[0]
    doc = incident_to_cap(inc, inc.enrichment, T0)
    assert validate_cap(doc) == [] and "circle" not in doc


def _drop(path: str) -> Callable[[ET.Element], None]:
    def f(root: ET.Element) -> None:
        parent_path, _, child = path.rpartition("/")
        parent = root.find(parent_path, C) if parent_path else root
        assert parent is not None
        parent.remove(parent.find(child, C))  # type: ignore[arg-type]
    return f


def _set(path: str, text: str) -> Callable[[ET.Element], None]:
    def f(root: ET.Element) -> None:
        root.find(path, C).text = text  # type: ignore[union-attr]
    return f


def _swap_sender_and_sent(root: ET.Element) -> None:
    sent = root.find("c:sent", C)
    root.remove(sent)  # type: ignore[arg-type]
    root.insert(1, sent)  # type: ignore[arg-type]


def _duplicate_status(root: ET.Element) -> None:
    root.insert(4, ET.fromstring(f'<status xmlns="{NS}">Actual</status>'))


CAP_BREAKS = [
    ("missing identifier", _drop("c:identifier"), "alert: missing required <identifier>"),
    ("missing sent", _drop("c:sent"), "alert: missing required <sent>"),
    ("missing certainty", _drop("c:info/c:certainty"),
     "alert/info[1]: missing required <certainty>"),
    ("missing event", _drop("c:info/c:event"), "alert/info[1]: missing required <event>"),
    ("missing areaDesc", _drop("c:info/c:area/c:areaDesc"),
     "alert/info[1]/area[1]: missing required <areaDesc>"),
    ("bad status", _set("c:status", "Real"), "alert/status: 'Real' is not one of"),
    ("bad msgType", _set("c:msgType", "Warning"), "alert/msgType: 'Warning' is not one of"),
    ("bad severity", _set("c:info/c:severity", "Catastrophic"),
     "alert/info[1]/severity: 'Catastrophic' is not one of"),
    ("bad category", _set("c:info/c:category", "Gas"), "alert/info[1]/category: 'Gas'"),
    ("Z time", _set("c:sent", "2025-06-01T08:00:00Z"), "no 'Z'"),
    ("fractional time", _set("c:sent", "2025-06-01T08:00:00.5+08:00"), "alert/sent"),
    ("circle without radius", _set("c:info/c:area/c:circle", "28.2,112.9"),
     "is not 'lat,lon radius'"),
    ("circle off the globe", _set("c:info/c:area/c:circle", "128.2,112.9 1.0"), "outside"),
    ("identifier with a space", _set("c:identifier", "a b"), "must not contain spaces"),
    ("sender with a comma", _set("c:sender", "a,b"), "alert/sender"),
    ("out of order", _swap_sender_and_sent, "<sender> is out of order"),
    ("repeated status", _duplicate_status, "<status> appears 2 times"),
    ("restricted without restriction", _set("c:scope", "Restricted"), "requires <restriction>"),
    ("empty event", _set("c:info/c:event", " "),
     "<event> is empty"),
]


@pytest.mark.parametrize("name,break_it,problem", CAP_BREAKS, ids=[b[0] for b in CAP_BREAKS])
def test_cap_validator_reports_the_precise_problem(name: str, break_it: Callable[[ET.Element], None],
                                                   problem: str) -> None:
    _, inc, _ = hazmat_incident()
    root = cap_root(incident_to_cap(inc, inc.enrichment, T0))
    break_it(root)
    problems = validate_cap(ET.tostring(root, encoding="unicode", default_namespace=NS))
    assert any(problem in p for p in problems), problems


@pytest.mark.parametrize("doc,problem", [
    ("<alert", "not well-formed"),
    ('<alert xmlns="urn:oasis:names:tc:emergency:cap:1.1"/>', "root element must be <alert>"),
    (f'<alert xmlns="{NS}"><identifier>x</identifier><sender>s</sender>'
     f'<sent>2025-06-01T08:00:00-00:00</sent><status>Actual</status><msgType>Alert</msgType>'
     f'<scope>Public</scope></alert>', "without <info>"),
])
def test_cap_validator_on_documents_that_are_not_alerts(doc: str, problem: str) -> None:
    assert any(problem in p for p in validate_cap(doc))


# -- GB/T 35965.1 style --------------------------------------------------------------------
def test_gbt_message_is_valid_and_uses_beijing_time_and_colour_levels() -> None:
    _, inc, _ = hazmat_incident()
    doc = incident_to_gbt(inc, inc.enrichment, T0 + 120_000)
    assert validate_gbt(doc) == []
    root = ET.fromstring(doc.encode())
    assert root.findtext("identifier") == "43010000000000_20250601160200_0"
    assert root.findtext("sendTime") == "2025-06-01 16:02:00+08:00"
    assert root.findtext("info/severity") == "Red"
    assert (root.findtext("info/headline") or "").startswith("【Ⅰ级/红色预警】开福区危化品事故")
    assert root.findtext("info/area/circle") == "28.205500,112.961000 1.600"
    assert "液氯" in (root.findtext("info/description") or "")


@pytest.mark.parametrize("severity,code,roman,colour", [
    ("critical", "Red", "Ⅰ", "红色"), ("major", "Orange", "Ⅱ", "橙色"),
    ("minor", "Yellow", "Ⅲ", "黄色"), ("info", "Blue", "Ⅳ", "蓝色")])
def test_gbt_levels(severity: str, code: str, roman: str, colour: str) -> None:
    assert LEVELS[severity] == (code, roman, colour)
    cats = tuple(dataclasses.replace(c, open_severity="info") for c in DEFAULT_CATEGORIES)
    c = Correlator(CorrelatorConfig(categories=cats),
                   enricher=functools.partial(enrich, profile=PROFILE))
    c.observe(alert("water_pressure_low", "WP1", severity=severity), T0)
    inc = c.open_incidents()[0]
    root = ET.fromstring(incident_to_gbt(inc, inc.enrichment, T0, "Exercise").encode())
    assert root.findtext("info/severity") == code and root.findtext("status") == "Exercise"
    assert (root.findtext("info/headline") or "").startswith(f"【演练】【{roman}级/{colour}预警】")


@pytest.mark.parametrize("path,text,problem", [
    ("info/severity", "Purple", "alert/info[1]/severity: 'Purple'"),
    ("identifier", "43010000000000-20250601", "is not ZZZZZZDDDUUUXX_YYYYMMDDhhmmss_N"),
    ("sendTime", "2025-06-01T08:00:00Z", "alert/sendTime"),
    ("status", "Real", "alert/status: 'Real'"),
    ("senderCode", "43010200000000", "does not start with the senderCode"),
    ("info/eventType", "", "<eventType> is empty"),
])
def test_gbt_validator_reports_the_precise_problem(path: str, text: str, problem: str) -> None:
    _, inc, _ = hazmat_incident()
    root = ET.fromstring(incident_to_gbt(inc, inc.enrichment, T0).encode())
    root.find(path).text = text  # type: ignore[union-attr]
    problems = validate_gbt(ET.tostring(root, encoding="unicode"))
    assert any(problem in p for p in problems), problems


def test_gbt_validator_catches_a_missing_element() -> None:
    _, inc, _ = hazmat_incident()
    root = ET.fromstring(incident_to_gbt(inc, inc.enrichment, T0).encode())
    info = root.find("info")
    info.remove(info.find("instruction"))  # type: ignore[union-attr,arg-type]
    assert validate_gbt(ET.tostring(root, encoding="unicode")) == \
        ["alert/info[1]: missing required <instruction>"]


def test_gbt_identifier_needs_a_14_digit_sender_code() -> None:
    with pytest.raises(ValueError, match="14 digits"):
        gbt_identifier("4301", T0)


# -- times and the timeline --------------------------------------------------------------------
@pytest.mark.parametrize("hours,expected", [(8, "2025-06-01T16:00:00+08:00"),
                                            (0, "2025-06-01T08:00:00-00:00"),
                                            (-5.5, "2025-06-01T02:30:00-05:30")])
def test_local_time_uses_a_numeric_offset(hours: float, expected: str) -> None:
    assert local_time(T0, hours) == expected


def test_timeline_tells_the_story_including_notes_units_and_merged_incidents() -> None:
    c, inc, events = hazmat_incident()
    other = c.observe(alert("water_pressure_low", "WP1", 30, severity="minor"), T0)
    events += other
    events += c.record(inc.incident_id, "unit_dispatched", {"unit": "AMB-12", "to": "scene"},
                       T0 + 90_000, "dispatcher-3")
    events += c.add_note(inc.incident_id, "风向东南，疏散下风向", actor="commander", at_ms=T0 + 100_000)
    events += c.merge(inc.incident_id, other[0].incident_id, actor="commander", at_ms=T0 + 110_000)
    rows = timeline(events, inc.incident_id, 8)
    assert [r["at_ms"] for r in rows] == sorted(r["at_ms"] for r in rows)
    kinds = [r["kind"] for r in rows]
    assert kinds[0] == "opened" and "unit_dispatched" in kinds and "note_added" in kinds
    assert other[0].incident_id in {r["incident_id"] for r in rows}  # the merged one's events
    note = next(r for r in rows if r["kind"] == "note_added")
    assert note["zh"] == "备注：风向东南，疏散下风向" and note["actor"] == "commander"
    assert note["at"] == "2025-06-01T16:01:40+08:00"
    unit = next(r for r in rows if r["kind"] == "unit_dispatched")
    assert unit["en"] == 'unit_dispatched: to="scene", unit="AMB-12"'
    calls = [r["en"] for r in rows if r["kind"] == "call_linked"]
    assert calls == ["Linked 120 EMS call C120-1", "Linked 120 EMS call C120-2"]


def test_a_moved_call_is_told_on_the_timeline_it_left() -> None:
    c, inc, events = hazmat_incident()
    other = c.observe(alert("water_pressure_low", "WP1", 30, severity="minor"), T0)
    events += other + c.link_call(inc.incident_id, "C119-7", stream="fire", actor="x",
                                  at_ms=T0 + 60_000)
    events += c.link_call(other[0].incident_id, "C119-7", stream="fire", actor="x",
                          at_ms=T0 + 120_000)
    row = timeline(events, inc.incident_id)[-1]
    assert (row["kind"], row["zh"], row["en"]) == (
        "call_unlinked", f"119呼叫C119-7改关联至事件{other[0].incident_id}",
        f"119 fire call C119-7 moved to {other[0].incident_id}")
