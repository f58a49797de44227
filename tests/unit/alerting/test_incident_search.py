"""The correlator's fast paths against plain scans: the pruned spatial search picks what a
scan of every alert of every incident picks, and the indexes and running totals kept as
alerts change equal the ones rebuilt from scratch (a restore)."""

from __future__ import annotations

import fnmatch
import math
import pickle
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerting.geo import KM_PER_DEG, km_between
from alerting.incident_model import RANK, CorrelatorConfig, Incident, Member, member_from_alert
from alerting.incident_state import entity_keys
from alerting.incident_tally import Tally
from alerting.incidents import Correlator
from schemas.records import make_alert
from schemas.validate import format_event_time
from unit_helpers import NOW_MS

BASE = (28.20, 112.98)
KINDS = ["water_pressure_low", "traffic_congestion", "traffic_accident", "hazmat_stopped",
         "fire_alarm", "gas_concentration_high", "ems_calls", "ems_dispatch_delay",
         "signal_fault", "drainage_level_high"]
STREAMS = {"water": "lifeline", "drainage": "lifeline", "gas": "lifeline", "traffic": "traffic",
           "signal": "traffic", "hazmat": "hazmat", "fire": "fire", "ems": "ems"}


def alert(ent: int, kind: str, dn: float, de: float, t_min: int, firing: bool, sev: str,
          n: int) -> dict[str, Any]:
    lat = BASE[0] + dn / KM_PER_DEG
    lon = BASE[1] + de / (KM_PER_DEG * math.cos(math.radians(lat)))
    t = NOW_MS + t_min * 60_000
    expl: dict[str, Any] = {}
    if kind == "ems_calls":
        expl = {"key": "trauma", "members": [f"C{ent}"]}
    elif kind == "hazmat_stopped":
        expl = {"un_number": ["1203", "1075"][ent % 2], "tank": f"T{ent}"}
    elif kind == "traffic_accident":
        expl = {"segments": [f"S{ent}", f"S{ent + 1}"]}
    return make_alert(detector="t", kind=kind, status="firing" if firing else "resolved",
                      severity=sev, stream=STREAMS[kind.split("_")[0]], entity_id=f"E{ent}",
                      district="furong", district_zh="芙蓉区", district_en="Furong", lat=lat,
                      lon=lon, event_time=format_event_time(t), value=1.0, threshold=0.0,
                      unit="", title_zh="x", title_en="x",
                      evidence=[f"ev{ent % 7}", f"ev-{n}"] if n % 3 else [f"ev-{n}"] * 2,
                      detected_at=format_event_time(t), explanation=expl)


SEVERITIES = ["info", "minor", "major", "critical"]
an_alert = st.tuples(st.integers(0, 30), st.sampled_from(KINDS), st.floats(-3, 3),
                     st.floats(-3, 3), st.integers(0, 20), st.sampled_from([True, True, False]),
                     st.sampled_from(SEVERITIES))
a_step = st.one_of(an_alert, an_alert, an_alert, st.tuples(st.just("merge"), st.integers(0, 99)),
                   st.tuples(st.just("split"), st.integers(0, 99)))


def random_steps(seed: int, n: int, spread_km: float) -> list[Any]:
    """A bigger scene than hypothesis makes: n alerts (and some merges and splits)."""
    r = random.Random(seed)
    out: list[Any] = []
    for _ in range(n):
        x = r.random()
        out.append(("merge", r.randrange(99)) if x < 0.03 else ("split", r.randrange(99))
                   if x < 0.06 else (r.randrange(n // 2), r.choice(KINDS),
                                     r.uniform(-spread_km, spread_km),
                                     r.uniform(-spread_km, spread_km), r.randrange(30),
                                     r.random() < 0.8, r.choice(SEVERITIES)))
    return out


def build(steps: list[Any], cell_deg: float) -> Correlator:
    c = Correlator(CorrelatorConfig(cell_deg=cell_deg))
    for n, s in enumerate(steps):
        inc = c.open_incidents()
        if s[0] == "merge" and len(inc) >= 2:
            a, b = inc[s[1] % len(inc)], inc[(s[1] + 1) % len(inc)]
            c.merge(a.incident_id, b.incident_id, actor="op", at_ms=NOW_MS)
        elif s[0] == "split" and inc:
            i = inc[s[1] % len(inc)]
            if len(i.members) >= 2:
                c.split(i.incident_id, sorted(i.members)[:1], actor="op", at_ms=NOW_MS)
        elif s[0] not in ("merge", "split"):
            c.observe(alert(*s, n=n), NOW_MS)
    return c


# -- the plain scans (the correlator's rules, reading every alert of every incident) -------
def scan_near(c: Correlator, lat: float, lon: float, km: float) -> dict[str, float]:
    out: dict[str, float] = {}
    for iid, inc in c.incidents.items():
        for o in inc.members.values():
            if o.lat is not None and o.lon is not None:
                d = km_between(lat, lon, o.lat, o.lon)
                if d <= km and d < out.get(iid, math.inf):
                    out[iid] = d
    return out


def scan_same(c: Correlator, m: Member) -> set[str]:
    keys, ev = entity_keys(m), set(m.evidence)
    return {iid for iid, inc in c.incidents.items()
            if keys & set(inc.calls) or any(keys & entity_keys(x) or ev & set(x.evidence)
                                            for x in inc.members.values())}


def scan_target(c: Correlator, m: Member, roles: dict[str, str], entity_only: bool
                ) -> Incident | None:
    cands = {iid: (0.0, True) for iid in scan_same(c, m)}
    if roles and m.lat is not None and m.lon is not None:
        radius = max(c._cat(x).radius_km for x in roles)
        for iid, d in scan_near(c, m.lat, m.lon, radius).items():
            cands.setdefault(iid, (d, False))
    best: tuple[tuple[Any, ...], Incident] | None = None
    for iid, (d, same) in cands.items():
        inc = c.incidents[iid]
        cat = c._cat(inc.category)
        if inc.category not in roles and not (entity_only and same):
            continue
        w = cat.window_s * 1000
        if (not same and d > cat.radius_km) or \
                not inc.opened_ms - w <= m.event_ms <= inc.last_ms + w:
            continue
        key = (not same, roles.get(inc.category) != "opens", -cat.priority, d,
               inc.opened_ms, iid)
        if best is None or key < best[0]:
            best = (key, inc)
    if best is None and roles and m.lat is not None and m.lon is not None:
        return scan_reach(c, m, roles, {iid for iid, (_, same) in cands.items() if same})
    return best[1] if best else None


def scan_reach(c: Correlator, m: Member, roles: dict[str, str], skip: set[str]
               ) -> Incident | None:
    """A symptom no incident takes within the radius: the nearest incident of its
    categories holding a primary within the category's reach."""
    best: tuple[tuple[Any, ...], Incident] | None = None
    for iid, inc in c.incidents.items():
        cat = c._cat(inc.category)
        w = cat.window_s * 1000
        if iid in skip or inc.category not in roles or cat.reach <= cat.radius_km or \
                cat.is_primary(m.kind, m.tags) or \
                not inc.opened_ms - w <= m.event_ms <= inc.last_ms + w or \
                not any(cat.is_primary(x.kind, x.tags) for x in inc.members.values()):
            continue
        d = min((km_between(m.lat, m.lon, x.lat, x.lon) for x in inc.members.values()
                 if x.lat is not None and x.lon is not None), default=math.inf)
        key = (-cat.priority, d, inc.opened_ms, iid)
        if d <= cat.reach and (best is None or key < best[0]):
            best = (key, inc)
    return best[1] if best else None


def check_search(c: Correlator, probes: list[Any]) -> None:
    for k, p in enumerate(probes):
        m = member_from_alert(alert(*p, n=1000 + k))
        roles = c._roles(m)
        entity_only = not roles and any(fnmatch.fnmatchcase(m.kind, x)
                                        for x in c.config.entity_kinds)
        assert c._target(m, roles, entity_only) is scan_target(c, m, roles, entity_only)
        for km in (0.5, 1.0, 2.5):
            assert c._near_incidents(m.lat, m.lon, km) == scan_near(c, m.lat, m.lon, km)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(a_step, min_size=20, max_size=90), st.sampled_from([0.002, 0.01, 0.03]),
       st.lists(an_alert, min_size=1, max_size=8))
def test_the_pruned_search_finds_what_a_scan_finds(steps: list[Any], cell_deg: float,
                                                   probes: list[Any]) -> None:
    check_search(build(steps, cell_deg), probes)


@pytest.mark.parametrize("seed, cell_deg, spread_km", [
    (1, 0.01, 3.0), (2, 0.002, 3.0), (3, 0.01, 8.0), (4, 0.005, 1.5), (5, 0.03, 5.0)])
def test_the_pruned_search_in_a_crowded_scene(seed: int, cell_deg: float,
                                              spread_km: float) -> None:
    """Hundreds of alerts in a few km: incidents of dozens of alerts over many cells."""
    c = build(random_steps(seed, 600, spread_km), cell_deg)
    assert max(len(i.members) for i in c.incidents.values()) >= 10
    check_search(c, [s for s in random_steps(seed + 100, 150, spread_km) if len(s) == 7])
    check_totals(c)
    copy = pickle.loads(pickle.dumps(c))   # (state objects pickle, River-style)
    assert copy.snapshot() == c.snapshot()
    assert totals(copy._tally[min(c.incidents)], 0) == totals(c._tally[min(c.incidents)], 0)


def totals(t: Tally, opened_ms: int) -> tuple[Any, ...]:
    return (t.n, t.firing, t.resolved, t.severities, t.streams, t.un_numbers,
            t.last_ms(opened_ms), t.all_resolved)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(a_step, min_size=20, max_size=100), st.sampled_from([0.002, 0.01]))
def test_indexes_and_totals_kept_live_equal_the_rebuilt_ones(steps: list[Any],
                                                            cell_deg: float) -> None:
    check_totals(build(steps, cell_deg))


def check_totals(c: Correlator) -> None:
    again = Correlator(c.config)
    again.restore(c.snapshot())
    for name in ("_by_fp", "_by_entity", "_by_evidence", "_grid", "_call_of", "_resolving"):
        assert getattr(c, name) == getattr(again, name), name
    assert c._tally.keys() == again._tally.keys() == c.incidents.keys()
    for iid, inc in c.incidents.items():
        assert totals(c._tally[iid], inc.opened_ms) == totals(again._tally[iid], inc.opened_ms)
        ms = inc.members.values()
        assert inc.last_ms == max(x.event_ms for x in ms)
        assert c._tally[iid].severities.keys() == {x.severity for x in ms}
        base = max((x.severity for x in ms), key=RANK.__getitem__)
        assert max(c._tally[iid].severities, key=RANK.__getitem__) == base
