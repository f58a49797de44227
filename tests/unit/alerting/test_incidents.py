"""Incident correlation: membership (table-driven), commands, resolution, ids, replay."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from alerting.incident_model import KM_PER_DEG, Category, make_event, member_from_alert
from alerting.incidents import (DEFAULT_CATEGORIES, Correlator, CorrelatorConfig,
                                IncidentError, IncidentEvent, SeverityContext, km_between)
from schemas.records import make_alert
from schemas.validate import format_event_time
from unit_helpers import NOW_MS

T0 = NOW_MS
BASE = (28.20, 112.98)
MIN = 60_000
STREAM = {"gas": "lifeline", "water": "lifeline", "drainage": "lifeline", "manhole": "lifeline",
          "tank": "hazmat", "hazmat": "hazmat", "traffic": "traffic", "signal": "traffic",
          "fire": "fire", "ems": "ems", "call": "ems", "sensor": "lifeline", "pm25": "lifeline"}


def at(dn_km: float = 0.0, de_km: float = 0.0) -> tuple[float, float]:
    """A point dn km north and de km east of BASE (north offsets are exact distances)."""
    lat = BASE[0] + dn_km / KM_PER_DEG
    return lat, BASE[1] + de_km / (KM_PER_DEG * math.cos(math.radians(lat)))


def alert(name: str, kind: str, dn: float = 0.0, de: float = 0.0, t_min: float = 0.0, *,
          status: str = "firing", severity: str = "major", entity: str | None = None,
          expl: dict[str, Any] | None = None, located: bool = True, n: int = 0
          ) -> dict[str, Any]:
    lat, lon = at(dn, de) if located else (None, None)
    t = T0 + int(t_min * MIN)
    return make_alert(
        detector="test", kind=kind, status=status, severity=severity,
        stream=STREAM[kind.split("_")[0]], entity_id=entity or name, district="furong",
        district_zh="芙蓉区", district_en="Furong", lat=lat, lon=lon,
        event_time=format_event_time(t), value=1.0, threshold=0.0, unit="",
        title_zh=f"{name}告警", title_en=f"{name} alert", evidence=[f"ev-{name}-{status}-{n}"],
        detected_at=format_event_time(t), explanation=expl)


def groups(c: Correlator, alerts: list[dict[str, Any]]) -> set[frozenset[str]]:
    """Open incidents as sets of alert names."""
    return {frozenset(label(m) for m in i.members.values()) for i in c.open_incidents()}


def label(m: Any) -> str:
    return m.title_en.split()[0]


def feed(c: Correlator, alerts: list[dict[str, Any]]) -> list[IncidentEvent]:
    out: list[IncidentEvent] = []
    for a in alerts:
        out += c.observe(a, T0)
    return out


def config(**per_category: dict[str, Any]) -> CorrelatorConfig:
    cats = tuple(dataclasses.replace(c, **per_category.get(c.name, {}))
                 for c in DEFAULT_CATEGORIES)
    return CorrelatorConfig(categories=cats)


TOXIC = {"key": "toxic", "members": ["C120-1", "C120-2"]}
CASES = [
    ("hazmat tanker: tank, stop, congestion behind it, toxic calls -> ONE incident",
     [alert("TK1", "tank_gas_high", 0, 0, 0, severity="critical"),
      alert("HZ1", "hazmat_stopped", 0.02, 0, 1, expl={"un_number": "1075"}),
      alert("SEG1", "traffic_congestion", 0.8, 0, 3),
      alert("EMS1", "ems_calls", -0.3, 0.2, 6, expl=TOXIC)],
     {}, [{"TK1", "HZ1", "SEG1", "EMS1"}], set()),
    ("hazmat: congestion and calls seen first are absorbed when the tanker alarm comes",
     [alert("SEG1", "traffic_congestion", 0.8, 0, 0),
      alert("EMS1", "ems_calls", -0.3, 0, 1, expl=TOXIC),
      alert("HZ1", "hazmat_stopped", 0, 0, 2)],
     {}, [{"SEG1", "EMS1", "HZ1"}], set()),
    ("hazmat: an accident reported 1.7 km away 20 min before the tanker stops is its own",
     [alert("ACC1", "traffic_accident", 1.7, 0, 0), alert("SEG1", "traffic_congestion", 1.8, 0, 1),
      alert("HZ1", "hazmat_stopped", 0, 0, 20)],
     {}, [{"ACC1", "SEG1"}, {"HZ1"}], set()),
    ("hazmat: a tanker crash reported as an accident where the tanker stopped is one",
     [alert("ACC1", "traffic_accident", 0.05, 0, 0), alert("TK1", "tank_gas_high", 0, 0, 2)],
     {}, [{"ACC1", "TK1"}], set()),
    ("gas leak: methane, pressure drop 1.5 km away, a hazmat-category 119 cluster",
     [alert("GC1", "gas_concentration_high", 0, 0, 0, severity="critical"),
      alert("GP1", "gas_pressure_low", 1.5, 0, 2),
      alert("FC1", "fire_calls", 0.2, 0, 4, expl={"categories": ["hazmat"]}),
      alert("GC1b", "gas_explosion_risk", 0, 0, 5, entity="GC1")],
     {}, [{"GC1", "GP1", "FC1", "GC1b"}], set()),
    ("a structure-fire 119 cluster next to a gas leak is its own (fire) incident",
     [alert("GC1", "gas_concentration_high", 0, 0, 0),
      alert("FC1", "fire_calls", 0.2, 0, 4, expl={"categories": ["structure_fire"]})],
     {}, [{"GC1"}, {"FC1"}], set()),
    ("structure fire: alarm, calls, incident, burn calls",
     [alert("BLD1", "fire_alarm", 0, 0, 0), alert("FC1", "fire_calls", 0.1, 0, 2),
      alert("FI1", "fire_incident", 0, 0.1, 5, expl={"category": "structure_fire"}),
      alert("EMS1", "ems_calls", 0.3, 0, 8, expl={"key": "burn", "members": ["C9"]})],
     {}, [{"BLD1", "FC1", "FI1", "EMS1"}], set()),
    ("water main burst: pressure sensors chained and a drainage level",
     [alert("WP1", "water_pressure_low", 0, 0, 0), alert("WP2", "water_pressure_low", 2.0, 0, 1),
      alert("WP3", "water_pressure_low", 4.0, 0, 2),  # 2 km from WP2: chained
      alert("DRN1", "drainage_level_high", -1.8, 0, 10)],
     {}, [{"WP1", "WP2", "WP3", "DRN1"}], set()),
    ("traffic accident with congestion, a flashing signal and trauma calls",
     [alert("ACC1", "traffic_accident", 0, 0, 0), alert("SEG1", "traffic_congestion", 1.0, 0, 2),
      alert("SIG1", "signal_fault", 0.1, 0, 3),
      alert("EMS1", "ems_calls", 0.2, 0, 3, expl={"key": "trauma", "members": ["C5"]})],
     {}, [{"ACC1", "SEG1", "SIG1", "EMS1"}], set()),
    ("toxic calls between a fire (0.5 km) and a gas leak (0.8 km) join the higher priority",
     [alert("BLD1", "fire_alarm", 0.5, 0, 0), alert("GC1", "gas_concentration_high", -0.8, 0, 0),
      alert("EMS1", "ems_calls", 0, 0, 2, expl=TOXIC)],
     {}, [{"BLD1"}, {"GC1", "EMS1"}], set()),
    ("congestion between two traffic incidents joins the nearer one",
     [alert("ACC1", "traffic_accident", 1.2, 0, 0), alert("ACC2", "traffic_accident", -0.9, 0, 0),
      alert("SEG1", "traffic_congestion", 0, 0, 2)],
     {}, [{"ACC1"}, {"ACC2", "SEG1"}], set()),
    ("same entity wins over a nearer incident, even beyond the radius",
     [alert("ACC1", "traffic_accident", 3.0, 0, 0, entity="SEG7"),
      alert("ACC2", "traffic_accident", 0.1, 0, 0),
      alert("SEG7", "traffic_congestion", 0, 0, 2)],
     {}, [{"ACC1", "SEG7"}, {"ACC2"}], set()),
    ("distance: 2.99 km apart joins (water radius 3 km)",
     [alert("WP1", "water_pressure_low", 0, 0, 0), alert("WP2", "water_pressure_low", 2.99, 0, 1)],
     {}, [{"WP1", "WP2"}], set()),
    ("distance: 3.01 km apart does not",
     [alert("WP1", "water_pressure_low", 0, 0, 0), alert("WP2", "water_pressure_low", 3.01, 0, 1)],
     {}, [{"WP1"}, {"WP2"}], set()),
    ("time: 29.9 min after the last alert joins (traffic window 30 min)",
     [alert("SEG1", "traffic_congestion", 0, 0, 0), alert("SEG2", "traffic_congestion", 0.1, 0, 29.9)],
     {}, [{"SEG1", "SEG2"}], set()),
    ("time: 30.1 min after does not",
     [alert("SEG1", "traffic_congestion", 0, 0, 0), alert("SEG2", "traffic_congestion", 0.1, 0, 30.1)],
     {}, [{"SEG1"}, {"SEG2"}], set()),
    ("time: the window runs from the LAST alert, so a slow chain stays one incident",
     [alert("SEG1", "traffic_congestion", 0, 0, 0), alert("SEG2", "traffic_congestion", 0.1, 0, 25),
      alert("SEG3", "traffic_congestion", 0.2, 0, 50)],
     {}, [{"SEG1", "SEG2", "SEG3"}], set()),
    ("a resolved alert never opens an incident",
     [alert("WP1", "water_pressure_low", status="resolved")], {}, [], set()),
    ("min count 2: a lone alert waits in the pending pool",
     [alert("WP1", "water_pressure_low")], {"water": {"min_alerts": 2}}, [], {"WP1"}),
    ("min count 2: the second compatible alert opens it with the first",
     [alert("WP1", "water_pressure_low"), alert("WP2", "water_pressure_low", 1.0, 0, 3),
      alert("WP9", "water_pressure_low", 9.0, 0, 3)],
     {"water": {"min_alerts": 2}}, [{"WP1", "WP2"}], {"WP9"}),
    ("min count 2: two alerts that may only join never open one",
     [alert("EMS1", "ems_calls", expl=TOXIC), alert("SEG1", "traffic_multivariate_anomaly")],
     {"ems": {"min_alerts": 2}, "traffic": {"min_alerts": 2}}, [], {"EMS1", "SEG1"}),
    ("an incident that grows toward a waiting alert adopts it",
     [alert("MV1", "traffic_multivariate_anomaly", 2.5, 0, 0),  # may only join: waits
      alert("ACC1", "traffic_accident", 0, 0, 1),  # 2.5 km away: too far
      alert("SEG1", "traffic_congestion", 1.4, 0, 2)],  # 1.1 km from MV1
     {}, [{"MV1", "ACC1", "SEG1"}], set()),
    ("an info notice never opens an incident: it waits",
     [alert("HZ1", "hazmat_geofence", severity="info")], {}, [], {"HZ1"}),
    ("... and joins the incident a real alert opens next to it",
     [alert("HZ1", "hazmat_geofence", severity="info"), alert("HZ2", "hazmat_stopped", 0.1),
      alert("HZ3", "hazmat_geofence", 0.2, 0, 1, severity="info")],
     {}, [{"HZ1", "HZ2", "HZ3"}], set()),
    ("segments an accident names join it however far the jam reaches",
     [alert("ACC1", "traffic_accident", expl={"segments": ["SEG-A", "SEG-B"]}),
      alert("SEG-B", "traffic_congestion", 4.0, 0, 1),  # 4 km away: linked by name
      alert("SEG-C", "traffic_congestion", 4.1, 0, 2)],  # next to it: chained
     {}, [{"ACC1", "SEG-B", "SEG-C"}], set()),
    ("an accident naming a segment already jammed joins that incident",
     [alert("SEG-A", "traffic_congestion", 3.0, 0, 0),
      alert("ACC1", "traffic_accident", 0, 0, 1, expl={"segments": ["SEG-A"]})],
     {}, [{"ACC1", "SEG-A"}], set()),
    ("a stranded tanker and its tank's alarm are one incident (the tank is named)",
     [alert("HZV-1-T1", "tank_pressure_high", located=False),
      alert("HZV-1", "hazmat_stopped", 0, 0, 1, expl={"tank": "HZV-1-T1"})],
     {}, [{"HZV-1-T1", "HZV-1"}], set()),
    ("kinds no category takes are not correlated",
     [alert("S1", "sensor_stuck"), alert("PM1", "pm25_high")], {}, [], set()),
    ("a service alert on a call the incident holds joins it (same entity, no location)",
     [alert("EMS1", "ems_calls", expl=TOXIC),
      alert("CP1", "call_pending", entity="C120-1", located=False)],
     {}, [{"EMS1", "CP1"}], set()),
    # one event seen from two ends, and the symptoms of an event beyond the radius
    ("an alert within reach of two water incidents bridges them into one",
     [alert("WP1", "water_pressure_low"), alert("WP2", "water_pressure_low", 4.0, 0, 1),
      alert("WP3", "water_pressure_low", 2.0, 0, 2)],
     {}, [{"WP1", "WP2", "WP3"}], set()),
    ("no chain of bridges spans a district: incidents begun > 2 radii apart stay apart",
     [alert("WP1", "water_pressure_low"), alert("WP2", "water_pressure_low", 4.0, 0, 1),
      alert("WP3", "water_pressure_low", 2.0, 0, 2), alert("WP4", "water_pressure_low", 8.0, 0, 3),
      alert("WP5", "water_pressure_low", 5.9, 0, 4)],
     {}, [{"WP1", "WP2", "WP3", "WP5"}, {"WP4"}], set()),
    ("two fires a jam of 119 calls lies between stay two incidents",
     [alert("BLD1", "fire_alarm", 0.9, 0, 0), alert("BLD2", "fire_alarm", -0.9, 0, 0),
      alert("FC1", "fire_calls", 0.05, 0, 1)],
     {}, [{"BLD1", "FC1"}, {"BLD2"}], set()),
    ("congestion beyond the radius but within reach joins the accident it queues behind",
     [alert("ACC1", "traffic_accident"), alert("SEG1", "traffic_congestion", 2.6, 0, 1)],
     {}, [{"ACC1", "SEG1"}], set()),
    ("congestion farther than the reach opens its own incident",
     [alert("ACC1", "traffic_accident"), alert("SEG1", "traffic_congestion", 3.1, 0, 1)],
     {}, [{"ACC1"}, {"SEG1"}], set()),
    ("congestion seen before its accident is gathered into the accident's incident",
     [alert("SEG1", "traffic_congestion", 2.6, 0, 0), alert("SEG2", "traffic_congestion", 2.8, 0, 0),
      alert("ACC1", "traffic_accident", 0, 0, 1)],
     {}, [{"ACC1", "SEG1", "SEG2"}], set()),
    ("a second accident does not gather the first accident's incident",
     [alert("ACC1", "traffic_accident", 2.6, 0, 0), alert("ACC2", "traffic_accident", 0, 0, 1)],
     {}, [{"ACC1"}, {"ACC2"}], set()),
    ("an alert with no location opens its own incident",
     [alert("WP1", "water_pressure_low"), alert("WP2", "water_pressure_low", located=False)],
     {}, [{"WP1"}, {"WP2"}], set()),
]


@pytest.mark.parametrize("name,alerts,overrides,expected,pending", CASES,
                         ids=[c[0] for c in CASES])
def test_membership(name: str, alerts: list[dict[str, Any]], overrides: dict[str, Any],
                    expected: list[set[str]], pending: set[str]) -> None:
    c = Correlator(config(**overrides))
    feed(c, alerts)
    assert groups(c, alerts) == {frozenset(g) for g in expected}
    assert {label(m) for m in c.pending.values()} == pending


def test_bridging_can_be_turned_off() -> None:
    c = Correlator(CorrelatorConfig(bridge=False))
    feed(c, [alert("WP1", "water_pressure_low"), alert("WP2", "water_pressure_low", 4.0, 0, 1),
             alert("WP3", "water_pressure_low", 1.9, 0, 2)])   # the nearer is WP1's
    assert groups(c, []) == {frozenset({"WP1", "WP3"}), frozenset({"WP2"})}
    assert "bridged" not in c.counters


def test_a_bridge_is_a_merge_in_the_log_and_replays() -> None:
    c = Correlator()
    events = feed(c, [alert("WP1", "water_pressure_low"),
                      alert("WP2", "water_pressure_low", 4.0, 0, 1),
                      alert("WP3", "water_pressure_low", 2.0, 0, 2)])
    kinds = [e.kind for e in events]
    assert kinds.count("opened") == 2 and "merged" in kinds and "merged_into" in kinds
    older = next(e.incident_id for e in events if e.kind == "opened")
    assert [i.incident_id for i in c.open_incidents()] == [older]   # the oldest survives
    assert c.counters["bridged"] == 1
    again = Correlator.from_events(events)
    assert groups(again, []) == groups(c, [])


def test_an_operator_split_is_not_bridged_back() -> None:
    c = Correlator()
    feed(c, [alert("WP1", "water_pressure_low"), alert("WP2", "water_pressure_low", 2.0, 0, 1)])
    (inc,) = c.open_incidents()
    fp2 = next(fp for fp, m in inc.members.items() if label(m) == "WP2")
    c.split(inc.incident_id, [fp2], actor="op", at_ms=T0 + 2 * MIN)
    feed(c, [alert("WP3", "water_pressure_low", 1.0, 0, 3)])   # reaches both halves
    assert len(c.open_incidents()) == 2


def test_boundary_distances_are_what_the_table_says() -> None:
    assert km_between(*at(0), *at(2.99)) < 3.0 < km_between(*at(0), *at(3.01))


def test_compound_hazmat_incident_has_the_cargo_calls_and_top_severity() -> None:
    c = Correlator()
    events = feed(c, CASES[0][1])
    (inc,) = c.open_incidents()
    assert inc.category == "hazmat" and inc.severity == "critical"
    assert sorted(inc.calls) == ["C120-1", "C120-2"]
    assert [e.kind for e in events].count("opened") == 1
    assert {m.attrs.get("un_number") for m in inc.members.values()} >= {"1075"}


def test_absorbed_incident_is_merged_into_the_compound_one() -> None:
    c = Correlator()
    events = feed(c, CASES[1][1])
    kinds = [(e.kind, e.actor) for e in events]
    assert ("merged_into", "correlator") in kinds and ("merged", "correlator") in kinds
    (inc,) = c.open_incidents()
    assert len(inc.merged_from) == 2  # the traffic incident, which had absorbed the EMS one


# -- commands ---------------------------------------------------------------------------------
def two_incidents() -> tuple[Correlator, str, str]:
    c = Correlator()
    feed(c, [alert("WP1", "water_pressure_low"), alert("WP2", "water_pressure_low", 5, 0, 1),
             alert("WP3", "water_pressure_low", 5.5, 0, 2)])
    a, b = (i.incident_id for i in c.open_incidents())
    return c, a, b


def test_merge_moves_every_alert_and_later_alerts_follow() -> None:
    c, a, b = two_incidents()
    events = c.merge(a, b, actor="dispatcher-7", at_ms=T0 + 5 * MIN)
    assert [e.kind for e in events][:2] == ["merged_into", "merged"]
    assert c.get(b).status == "merged" and c.get(b).merged_into == a  # type: ignore[union-attr]
    assert {m.entity_id for m in c.get(a).members.values()} == {"WP1", "WP2", "WP3"}  # type: ignore[union-attr]
    c.observe(alert("WP3", "water_pressure_low", 5.5, 0, 6, status="resolved"), T0)
    assert c.incident_of(c.get(a).members[next(  # type: ignore[union-attr]
        fp for fp, m in c.get(a).members.items() if m.entity_id == "WP3")].fingerprint) == a  # type: ignore[union-attr]


def test_split_opens_a_new_incident_and_later_alerts_go_there() -> None:
    c = Correlator()
    feed(c, [alert("WP1", "water_pressure_low"), alert("WP2", "water_pressure_low", 1, 0, 1),
             alert("WP3", "water_pressure_low", 2, 0, 2)])
    (inc,) = c.open_incidents()
    fp3 = next(fp for fp, m in inc.members.items() if m.entity_id == "WP3")
    events = c.split(inc.incident_id, [fp3], actor="dispatcher-7", at_ms=T0 + 3 * MIN)
    assert [e.kind for e in events][:2] == ["split", "opened"]
    new = c.get(events[1].incident_id)
    assert new is not None and new.split_from == inc.incident_id and set(new.members) == {fp3}
    assert fp3 not in inc.members and len(inc.members) == 2
    c.observe(alert("WP3", "water_pressure_low", 2, 0, 4, severity="critical", n=1), T0)
    assert c.incident_of(fp3) == new.incident_id and new.severity == "critical"


def _bad_commands(c: Correlator, a: str, b: str) -> list[tuple[Any, str]]:
    fp = next(iter(c.get(a).members))  # type: ignore[union-attr]
    return [
        (lambda: c.merge(a, a, actor="x", at_ms=T0), "into itself"),
        (lambda: c.merge(a, "INC-nope", actor="x", at_ms=T0), "no incident"),
        (lambda: c.merge(a, b, actor="", at_ms=T0), "actor"),
        (lambda: c.split(a, ["fp-nope"], actor="x", at_ms=T0), "not held"),
        (lambda: c.split(a, [], actor="x", at_ms=T0), "name alerts"),
        (lambda: c.split(a, [fp], actor="x", at_ms=T0), "empty"),
        (lambda: c.add_note(a, "  ", actor="x", at_ms=T0), "text"),
        (lambda: c.record(a, "opened", {}, T0, "x"), "kind"),
        (lambda: c.record(a, "Unit Moved", {}, T0, "x"), "kind"),
        (lambda: c.record(a, "unit_moved", {"t": object()}, T0, "x"), "not JSON"),
        (lambda: c.link_call(a, "C1", stream="police", actor="x", at_ms=T0), "stream"),
        (lambda: c.resolve("INC-nope", actor="x", at_ms=T0), "no incident"),
    ]


def test_bad_commands_raise_a_clear_error_and_change_nothing() -> None:
    c, a, b = two_incidents()
    before = json.dumps(c.snapshot(), sort_keys=True)
    for command, message in _bad_commands(c, a, b):
        with pytest.raises(IncidentError, match=message):
            command()
    assert json.dumps(c.snapshot(), sort_keys=True) == before


def test_commands_on_a_closed_incident_say_so() -> None:
    c, a, b = two_incidents()
    c.merge(a, b, actor="x", at_ms=T0)
    with pytest.raises(IncidentError, match=f"{b} is merged into {a}"):
        c.split(b, ["x"], actor="x", at_ms=T0)
    c.add_note(b, "kept for the record", actor="x", at_ms=T0)  # notes still allowed


def test_a_call_is_linked_once_and_to_one_incident() -> None:
    c, a, b = two_incidents()
    assert [e.kind for e in c.link_call(a, "C119-9", stream="fire", actor="x", at_ms=T0)] == \
        ["call_linked"]
    assert c.link_call(a, "C119-9", stream="fire", actor="x", at_ms=T0) == []


def test_a_dispatcher_moves_a_call_to_another_incident_on_both_timelines() -> None:
    c = Correlator()
    log = feed(c, [alert("WP1", "water_pressure_low"), alert("WP2", "water_pressure_low", 5, 0, 1),
                   alert("WP3", "water_pressure_low", 5.5, 0, 2)])
    a, b = (i.incident_id for i in c.open_incidents())
    log += c.link_call(a, "C119-9", stream="fire", actor="x", at_ms=T0)
    moved = c.link_call(b, "C119-9", stream="ems", actor="disp-2", at_ms=T0 + MIN)
    assert [(e.incident_id, e.kind, e.actor) for e in moved] == \
        [(a, "call_unlinked", "disp-2"), (b, "call_linked", "disp-2")]
    assert moved[0].payload == {"call_id": "C119-9", "stream": "fire", "moved_to": b}
    assert moved[1].payload["moved_from"] == a and moved[1].payload["via"] == "command"
    assert "C119-9" not in c.get(a).calls and "C119-9" in c.get(b).calls
    assert c.link_call(b, "C119-9", stream="ems", actor="x", at_ms=T0) == []  # no-op now
    rebuilt = Correlator.from_events(log + moved, c.config)
    assert rebuilt.snapshot()["incidents"] == c.snapshot()["incidents"]
    # the move is the dispatcher's: the call seen again on its stream does not move it back
    lat, lon = at()
    assert c.observe_call({"event_id": "C119-9@1", "entity_id": "C119-9", "lat": lat,
                           "lon": lon, "event_time": format_event_time(T0 + 2 * MIN),
                           "type": "call", "category": "other"}, "fire", T0 + 2 * MIN) == []
    assert c._call_of["C119-9"] == b  # noqa: SLF001


def test_a_call_is_linked_through_the_evidence_of_an_alert() -> None:
    c = Correlator()
    feed(c, [alert("GC1", "gas_concentration_high")])
    call = {"event_id": "ev-GC1-firing-0", "entity_id": "C119-4", "type": "call",
            "event_time": format_event_time(T0)}
    (ev,) = c.observe_call(call, "fire", T0)
    assert ev.kind == "call_linked" and ev.payload["via"] == "evidence"
    assert c.observe_call({**call, "event_id": "unrelated"}, "fire", T0) == []


# -- resolution, severity, ids ---------------------------------------------------------------
def test_resolves_after_all_alerts_resolved_and_the_quiet_period() -> None:
    c = Correlator(CorrelatorConfig(quiet_s=600))
    feed(c, [alert("WP1", "water_pressure_low"), alert("WP2", "water_pressure_low", 1, 0, 1)])
    (inc,) = c.open_incidents()
    c.observe(alert("WP1", "water_pressure_low", 0, 0, 5, status="resolved"), T0)
    assert c.tick(T0 + 60 * MIN) == []  # WP2 still firing
    c.observe(alert("WP2", "water_pressure_low", 1, 0, 8, status="resolved"), T0)
    assert c.tick(T0 + 17 * MIN) == []  # 9 min of quiet
    (ev,) = c.tick(T0 + 18 * MIN)
    assert ev.kind == "resolved" and ev.at_ms == T0 + 18 * MIN
    assert c.open_incidents() == [] and c.get(inc.incident_id).status == "resolved"  # type: ignore[union-attr]
    # a redelivered old alert does not reopen it; a new firing opens a new incident
    assert c.observe(alert("WP1", "water_pressure_low"), T0 + 19 * MIN) == []
    opened = c.observe(alert("WP1", "water_pressure_low", 0, 0, 30, n=2), T0 + 30 * MIN)
    assert opened[0].kind == "opened" and opened[0].incident_id != inc.incident_id


def test_a_refiring_alert_cancels_the_pending_resolution() -> None:
    c = Correlator(CorrelatorConfig(quiet_s=600))
    feed(c, [alert("WP1", "water_pressure_low"),
             alert("WP1", "water_pressure_low", 0, 0, 1, status="resolved"),
             alert("WP1", "water_pressure_low", 0, 0, 5, n=1)])
    assert c.tick(T0 + 60 * MIN) == [] and len(c.open_incidents()) == 1


def test_severity_is_the_max_of_its_alerts_and_escalates_as_it_grows() -> None:
    c = Correlator()
    feed(c, [alert(f"WP{i}", "water_pressure_low", 0.1 * i, 0, i, severity="minor")
             for i in range(4)])
    (inc,) = c.open_incidents()
    assert inc.severity == "minor"
    events = c.observe(alert("WP9", "water_pressure_low", 0, 0, 5, severity="minor"), T0)
    assert [(e.kind, e.payload.get("to")) for e in events][-1] == ("severity_changed", "major")
    c.observe(alert("WP9", "water_pressure_low", 0, 0, 6, severity="info", n=1), T0)
    assert inc.severity == "major"  # never lowered automatically


def test_escalation_policy_is_a_callable_over_the_incident_size() -> None:
    seen: list[SeverityContext] = []

    def policy(ctx: SeverityContext) -> str:
        seen.append(ctx)
        return "critical" if ctx.streams >= 2 else ctx.base

    c = Correlator(escalation=policy)
    feed(c, [alert("GC1", "gas_concentration_high", severity="minor"),
             alert("FC1", "fire_calls", 0.1, 0, 1, expl={"categories": ["hazmat"]}, severity="minor")])
    assert c.open_incidents()[0].severity == "critical"
    assert seen[-1].alerts == 2 and seen[-1].base == "minor"
    with pytest.raises(IncidentError, match="escalation policy"):
        Correlator(escalation=lambda ctx: "severe").observe(alert("GC2", "gas_concentration_high"), T0)


def test_ids_are_deterministic_and_redelivery_is_a_no_op() -> None:
    alerts = CASES[0][1] + CASES[5][1]
    a, b = Correlator(), Correlator()
    ea, eb = feed(a, alerts), feed(b, alerts)
    assert [e.event_id for e in ea] == [e.event_id for e in eb] and len(set(e.event_id for e in ea)) == len(ea)
    assert feed(a, alerts) == []  # the same messages again: nothing new


def test_restart_from_a_snapshot_then_redelivery_gives_the_same_events() -> None:
    alerts = CASES[1][1] + CASES[6][1] + [alert("ACC1", "traffic_accident", 0, 0, 9, n=1,
                                                severity="critical")]
    whole = Correlator()
    ref = feed(whole, alerts)
    first = Correlator()
    feed(first, alerts[:3])
    state = json.loads(json.dumps(first.snapshot()))  # through JSON, as a checkpoint is
    feed(first, alerts[3:5])  # processed but not checkpointed, then the worker dies
    second = Correlator()
    second.restore(state)
    assert feed(second, alerts[:3]) == []  # redelivered before the checkpoint: no-ops
    replayed = feed(second, alerts[3:])
    assert [e.event_id for e in replayed] == [e.event_id for e in ref[-len(replayed):]]
    drop = lambda s: {k: v for k, v in s.items() if k != "counters"}  # noqa: E731
    assert drop(second.snapshot()) == drop(whole.snapshot())
    assert second.counters["duplicates"] > whole.counters.get("duplicates", 0)


def test_restore_rejects_a_corrupt_snapshot() -> None:
    with pytest.raises(IncidentError, match="snapshot"):
        Correlator().restore({"v": 1, "incidents": [{"nope": 1}], "closed": [], "pending": [],
                              "lsn": 0, "counters": {}})


def test_malformed_alerts_are_named_errors_and_a_batch_goes_on() -> None:
    good = alert("WP1", "water_pressure_low")
    bad = [{**good, "event_time": "yesterday"}, {**good, "status": "burning"}, "not a dict"]
    events, errors = Correlator().observe_many([*bad, good], T0)
    assert [i for i, _ in errors] == [0, 1, 2] and "event_time" in str(errors[0][1])
    assert events[0].kind == "opened"


def test_events_are_immutable_rows() -> None:
    (ev,) = Correlator().observe(alert("WP1", "water_pressure_low"), T0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ev.kind = "x"  # type: ignore[misc]
    row = ev.to_row()
    assert set(row) == {"event_id", "incident_id", "seq", "lsn", "kind", "at_ms", "at", "actor",
                        "payload_json"}
    assert IncidentEvent.from_dict(row) == ev
    assert make_event("I", 1, 1, "opened", 0, "a", {"b": 1, "a": 2}).payload_json == '{"a":2,"b":1}'


def test_config_is_validated() -> None:
    with pytest.raises(IncidentError, match="unique"):
        CorrelatorConfig(categories=DEFAULT_CATEGORIES + DEFAULT_CATEGORIES[:1])
    with pytest.raises(IncidentError, match="radius_km"):
        CorrelatorConfig(categories=(Category("x", "x", "x", ("a",), radius_km=0),))
    cfg = CorrelatorConfig.from_dict({"quiet_s": 60, "categories": [
        {"name": "gas", "zh": "燃气", "en": "Gas", "opens": ["gas_*"], "min_alerts": 2}]})
    assert cfg.categories[0].opens == ("gas_*",) and cfg.quiet_s == 60
    with pytest.raises(IncidentError, match="config"):
        CorrelatorConfig.from_dict({"bogus": 1})


def test_the_spatial_lookup_reads_nearby_cells_not_every_incident() -> None:
    c = Correlator()
    n = 0
    for i in range(60):  # 3000 open incidents on a 60 x 50 lattice 4 km apart
        for j in range(50):
            c.observe(alert(f"WP{i}-{j}", "water_pressure_low", 4.0 * i, 4.0 * j, 0), T0)
            n += 1
    assert len(c.open_incidents()) == n
    before = c.distance_checks
    for k in range(200):
        c.observe(alert(f"X{k}", "water_pressure_low", 4.0 * (k % 60) + 0.3,
                        4.0 * (k % 50), 1), T0)
    assert (c.distance_checks - before) / 200 < 5  # a scan would do 3000 per alert
    # each joined the incident 0.3 km away (3.7 km from the next: beyond the 3 km radius,
    # so no alert bridges two)
    assert len(c.open_incidents()) == n


# -- properties ---------------------------------------------------------------------------
KINDS = ["water_pressure_low", "traffic_congestion", "traffic_accident", "tank_gas_high",
         "hazmat_stopped", "ems_calls", "fire_calls", "gas_concentration_high",
         "traffic_multivariate_anomaly", "sensor_stuck"]
an_alert = st.tuples(st.just("alert"), st.integers(0, 5), st.sampled_from(KINDS),
                    st.floats(0, 2), st.floats(0, 2), st.integers(0, 25),
                    st.sampled_from([True, True, False]),
                    st.sampled_from(["minor", "major", "critical"]))
others = st.one_of(
    st.tuples(st.just("again")),
    st.tuples(st.just("merge"), st.integers(0, 50), st.integers(0, 50)),
    st.tuples(st.just("split"), st.integers(0, 50)),
    st.tuples(st.just("note"), st.integers(0, 50)),
    st.tuples(st.just("tick"), st.integers(0, 120)))
step = st.integers(0, 2).flatmap(lambda k: others if k == 0 else an_alert)  # 2/3 alerts


def run(steps: list[tuple[Any, ...]], min_alerts: int, tick: bool
        ) -> tuple[Correlator, list[IncidentEvent], dict[str, tuple[str, dict[str, Any]]]]:
    c = Correlator(config(**{c.name: {"min_alerts": min_alerts} for c in DEFAULT_CATEGORIES}))
    events: list[IncidentEvent] = []
    last: dict[str, tuple[str, dict[str, Any]]] = {}  # fingerprint -> (status, alert)
    prev: dict[str, Any] | None = None
    for n, s in enumerate(steps):
        inc = c.open_incidents()
        if s[0] == "alert":
            _, ent, kind, dn, de, t, firing, sev = s
            prev = alert(f"E{ent}-{kind}", kind, dn, de, t, n=n, severity=sev,
                         status="firing" if firing else "resolved",
                         expl={"key": "toxic", "members": [f"C{ent}"]} if kind == "ems_calls" else None)
            events += c.observe(prev, T0)
            last[prev["fingerprint"]] = (prev["status"], prev)
        elif s[0] == "again" and prev is not None:
            events += c.observe(prev, T0)
        elif s[0] == "merge" and len(inc) >= 2:
            a, b = inc[s[1] % len(inc)], inc[s[2] % len(inc)]
            if a is not b:
                events += c.merge(a.incident_id, b.incident_id, actor="op", at_ms=T0)
        elif s[0] == "split" and inc and len(inc[s[1] % len(inc)].members) >= 2:
            i = inc[s[1] % len(inc)]
            events += c.split(i.incident_id, sorted(i.members)[:1], actor="op", at_ms=T0)
        elif s[0] == "note" and inc:
            events += c.add_note(inc[s[1] % len(inc)].incident_id, "n", actor="op", at_ms=T0)
        elif s[0] == "tick" and tick:
            events += c.tick(T0 + s[1] * MIN)
    return c, events, last


def violations(c: Correlator, last: dict[str, tuple[str, dict[str, Any]]]) -> list[str]:
    """Breaches of "every firing, correlatable alert is in exactly one open incident or the
    pending pool, and nothing else is anywhere"."""
    where: dict[str, list[str]] = {}
    for inc in c.open_incidents():
        for fp in inc.members:
            where.setdefault(fp, []).append(inc.incident_id)
    for fp in c.pending:
        where.setdefault(fp, []).append("pending")
    out = [f"{fp} in {v}" for fp, v in where.items() if len(v) > 1 or fp not in last]
    for fp, (status, a) in last.items():
        if status == "firing" and c._roles(member_from_alert(a)) and \
                len(where.get(fp, [])) != 1:  # noqa: SLF001
            out.append(f"firing {a['kind']} {fp} in {where.get(fp, [])}")
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, min_size=10, max_size=60), st.integers(1, 3))
def test_every_firing_alert_is_in_exactly_one_incident_or_pending(steps: list[Any],
                                                                   min_alerts: int) -> None:
    c, _, last = run(steps, min_alerts, tick=False)  # no clock: nothing resolves or expires
    assert violations(c, last) == []


def test_the_invariant_check_sees_a_violation() -> None:
    c, _, last = run([("alert", 1, "water_pressure_low", 0.0, 0.0, 0, True, "major"),
                      ("alert", 2, "water_pressure_low", 9.0, 0.0, 0, True, "major")], 2, False)
    assert violations(c, last) == [] and len(c.pending) == 2
    fp = next(iter(c.pending))
    c.pending.pop(fp)  # an alert lost from the pool
    assert violations(c, last) == [f"firing water_pressure_low {fp} in []"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, min_size=10, max_size=60), st.integers(1, 3))
def test_replaying_the_events_rebuilds_the_state(steps: list[Any], min_alerts: int) -> None:
    c, events, _ = run(steps, min_alerts, tick=True)
    rebuilt = Correlator.from_events(list(reversed(events)), c.config)  # any order: lsn sorts
    live, again = c.snapshot(), rebuilt.snapshot()
    assert again["incidents"] == live["incidents"] and again["closed"] == live["closed"]
    assert again["lsn"] == live["lsn"] == len(events)
    seqs: dict[str, list[int]] = {}
    for e in events:
        seqs.setdefault(e.incident_id, []).append(e.seq)
    assert all(v == list(range(1, len(v) + 1)) for v in seqs.values())


ev_ids = st.lists(st.sampled_from([f"e{i}" for i in range(30)]), max_size=25)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(ev_ids, st.booleans()), min_size=1, max_size=30))
@example([(["e1"], False), ([f"e{i}" for i in range(21)], True)])  # more ids than are kept
def test_the_evidence_index_follows_updates_as_a_rebuild_would(updates: list[Any]) -> None:
    """Updates of one alert with evidence lists of any shape (one id added, several, the
    same again, a different list, repeats): the evidence index holds what indexing the
    final members afresh gives, and the member keeps the last distinct ids in order."""
    c = Correlator(CorrelatorConfig(categories=(dataclasses.replace(
        DEFAULT_CATEGORIES[0], min_alerts=1),)))
    kind = DEFAULT_CATEGORIES[0].opens[0]
    a0 = alert("a", kind)
    expected: list[str] = []
    c.observe(a0, T0)
    expected = list(dict.fromkeys(a0["evidence"]))
    for n, (ids, whole) in enumerate(updates, 1):
        a = {**a0, "alert_id": f"a{n}", "evidence": ids if whole else ids[-1:]}
        c.observe(a, T0)
        own = list(dict.fromkeys(a["evidence"]))[-20:]   # an alert's own last 20 distinct
        expected = list(dict.fromkeys(expected + own))[-20:]
    (inc,) = c.open_incidents()
    (m,) = inc.members.values()
    assert list(m.evidence) == expected
    fresh = Correlator.from_events([], c.config)
    fresh.incidents[inc.incident_id] = inc
    fresh._by_evidence = {}  # noqa: SLF001
    fresh._index(inc, m, +1)  # noqa: SLF001
    assert c._by_evidence == fresh._by_evidence  # noqa: SLF001
