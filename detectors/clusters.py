"""Spatio-temporal clusters of calls and alarms, and one cross-stream pattern.

:class:`ClusterDetector` watches ``fire``, ``ems`` and ``lifeline`` and reports:

``ems_calls`` (entity: the first call of the cluster)
    several 120 calls near each other within minutes: >= ``ems_min`` calls of the same
    complaint family within ``ems_radius_km`` and ``ems_window_s`` (3 within 1 km in 10 min),
    or >= ``toxic_min`` urgent (priority <= ``toxic_priority``) calls of the toxic-exposure
    family (poisoning, breathing difficulty) — a gas or chemical release presents as both.
``fire_alarm`` (entity: the first building)
    a fire-alarm panel reporting fire / smoke / heat (heartbeats and faults are not alarms).
    One smoke or heat signal is ``minor``; a second signal kind, a second panel within
    ``alarm_merge_km``, or a ``fire`` signal make it ``major``; a 119 call or incident near
    it makes it ``critical`` (an escalation is a new FIRING of the same entity). Resolves
    after ``alarm_quiet_s`` without a new alarm signal.
``fire_calls`` (entity: the first call)
    >= ``fire_min`` 119 calls within ``fire_radius_km`` and ``fire_window_s``.
``fire_incident`` (entity: the incident)
    a 119 incident opened or raised to ``alarm_level >= incident_min_level`` (a single
    first-alarm incident is routine dispatch work, not a command-centre alert); resolves when
    it is closed.
``gas_explosion_risk`` (entity: the methane sensor), critical
    gas-network pressure down (at or below the profile's low *recover* level) within
    ``pressure_km``, combustible gas up (gas_concentration / manhole_gas at or above the
    high *recover* level) and a 119 call within ``gas_km`` of the gas reading, all within
    ``gas_window_s`` of each other, in either order (in a leak the gas often rises before
    the pressure falls below its level).

Calls and alarms are indexed in ~500 m grid cells (``cell_km``) holding only what is inside
its window, so each event costs a look at a few cells: O(events). Windows expire by event
time; :meth:`tick` resolves clusters whose area went quiet. Memory is capped per index
(``max_items``), with a counter of what was dropped.
"""

from __future__ import annotations

import copy
from collections import deque
from typing import Any, Mapping

from city.profile import CityProfile
from detectors.findings import FIRING, RESOLVED, Finding
from detectors.rules import RuleDetector
from detectors.geo import Grid, cell_key, haversine_km
from detectors.traffic import SEVERITY_RANK, district_names

ALARM_SIGNALS = ("fire", "smoke", "heat")
COMPLAINT_FAMILY = {"poisoning": "toxic", "breathing": "toxic", "fall": "trauma",
                    "trauma": "trauma"}
FAMILY_ZH = {"toxic": "中毒/呼吸困难", "trauma": "创伤", "chest_pain": "胸痛", "stroke": "卒中",
             "unconscious": "意识不清", "burn": "烧伤", "obstetric": "产科", "other": "其他"}
FAMILY_EN = {"toxic": "poisoning/breathing", "trauma": "trauma", "chest_pain": "chest pain",
             "stroke": "stroke", "unconscious": "unconscious", "burn": "burn",
             "obstetric": "obstetric", "other": "other"}
SIGNAL_ZH = {"fire": "火警", "smoke": "烟感", "heat": "温感"}
# a 119 incident's category (schemas.catalog.FIRE_CATEGORIES) in each language: a title says
# it in words, never the code
FIRE_CATEGORY_WORDS = {"structure_fire": ("建筑火灾", "structure fire"),
                       "vehicle_fire": ("车辆火灾", "vehicle fire"),
                       "wildland_fire": ("山林火灾", "wildland fire"),
                       "rescue": ("抢险救援", "rescue"), "hazmat": ("危化品事故", "hazmat"),
                       "alarm": ("火灾报警", "alarm"), "other": ("其他", "other")}


class _Index:
    """Items (dicts with t, lat, lon) in grid cells, expiring ``window_ms`` after their t."""

    def __init__(self, grid: Grid, window_ms: int, max_items: int) -> None:
        self.grid, self.window_ms, self.max_items = grid, window_ms, max_items
        self.cells: dict[str, deque[dict[str, Any]]] = {}
        self.order: deque[tuple[int, str]] = deque()
        self.dropped = 0

    def add(self, item: dict[str, Any]) -> None:
        if len(self.order) >= self.max_items:
            self.dropped += 1
            return
        k = cell_key(self.grid.cell(item["lat"], item["lon"]))
        self.cells.setdefault(k, deque()).append(item)
        self.order.append((item["t"], k))

    def expire(self, now: int) -> None:
        edge = now - self.window_ms
        while self.order and self.order[0][0] < edge:
            _, k = self.order.popleft()
            q = self.cells.get(k)
            while q and q[0]["t"] < edge:
                q.popleft()
            if q is not None and not q:
                del self.cells[k]

    def near(self, lat: float, lon: float, km: float, since: int) -> list[dict[str, Any]]:
        out = []
        for c in self.grid.near(lat, lon, km):
            for it in self.cells.get(cell_key(c), ()):
                if it["t"] >= since and haversine_km(lat, lon, it["lat"], it["lon"]) <= km:
                    out.append(it)
        return out

    def to_json(self) -> list[dict[str, Any]]:
        return sorted((it for q in self.cells.values() for it in q), key=lambda i: i["t"])

    def load(self, items: list[dict[str, Any]]) -> None:
        for it in items:
            self.add(dict(it))


class ClusterDetector(RuleDetector):
    name = "clusters"
    streams = ("fire", "ems", "lifeline")
    routes = {("lifeline", None): "_reading", ("ems", "call"): "_ems_call",
              ("fire", "alarm_signal"): "_alarm_signal", ("fire", "call"): "_fire_call",
              ("fire", "incident"): "_incident"}

    def __init__(self, profile: CityProfile | None = None, *, cell_km: float = 0.5,
                 ems_radius_km: float = 1.0, ems_window_s: float = 600.0, ems_min: int = 3,
                 toxic_min: int = 2, toxic_priority: int = 2,
                 families: Mapping[str, str] | None = None,
                 fire_radius_km: float = 1.0, fire_window_s: float = 600.0, fire_min: int = 2,
                 alarm_merge_km: float = 0.5, alarm_quiet_s: float = 900.0,
                 confirm_km: float = 0.5, incident_min_level: int = 2,
                 gas_km: float = 0.5, pressure_km: float = 2.0, gas_window_s: float = 600.0,
                 max_items: int = 200_000, max_clusters: int = 10_000,
                 forget_s: float = 6 * 3600.0) -> None:
        self.profile = profile
        self.cell_km = cell_km
        self.ems_radius_km, self.ems_window_s, self.ems_min = ems_radius_km, ems_window_s, ems_min
        self.toxic_min, self.toxic_priority = toxic_min, toxic_priority
        self.families = dict(COMPLAINT_FAMILY if families is None else families)
        self.fire_radius_km, self.fire_window_s, self.fire_min = \
            fire_radius_km, fire_window_s, fire_min
        self.alarm_merge_km, self.alarm_quiet_s = alarm_merge_km, alarm_quiet_s
        self.confirm_km, self.incident_min_level = confirm_km, incident_min_level
        self.gas_km, self.pressure_km, self.gas_window_s = gas_km, pressure_km, gas_window_s
        self.max_items, self.max_clusters, self.forget_s = max_items, max_clusters, forget_s
        self.grid = Grid(cell_km, profile.center[0] if profile is not None else 28.2)
        self.pressure_low: float | None = None
        self.gas_high: dict[str, float] = {}
        if profile is not None:
            gp = profile.limits.get("gas_pressure")
            if gp is not None:
                self.pressure_low = gp.low_recover if gp.low_recover is not None else gp.low_alarm
            for kind in ("gas_concentration", "manhole_gas"):
                lim = profile.limits.get(kind)
                if lim is not None and lim.high_alarm is not None:
                    self.gas_high[kind] = lim.high_recover if lim.high_recover is not None \
                        else lim.high_alarm
        self._reset()

    def _reset(self) -> None:
        g, m = self.grid, self.max_items
        self.ems_idx = _Index(g, int(self.ems_window_s * 1000), m)
        self.fire_idx = _Index(g, int(max(self.fire_window_s, self.gas_window_s) * 1000), m)
        self.drop_idx = _Index(g, int(self.gas_window_s * 1000), m)
        self.gas_idx = _Index(g, int(self.gas_window_s * 1000), m)
        # active findings by kind -> entity -> state
        self.active: dict[str, dict[str, dict[str, Any]]] = {
            k: {} for k in ("ems_calls", "fire_alarm", "fire_calls", "fire_incident",
                            "gas_explosion_risk")}
        self.incidents: dict[str, dict[str, Any]] = {}   # every open incident (any level)
        self.now = 0
        self._last_sweep = 0
        self.counters: dict[str, int] = {}

    # -- protocol --------------------------------------------------------------------------
    def _advance(self, t: int, out: list[Finding]) -> None:
        if t > self.now:
            self.now = t
            if t - self._last_sweep >= 10_000:
                self._sweep(t, out)

    def _alarm_signal(self, e: dict[str, Any], t: int, out: list[Finding]) -> None:
        if e.get("signal") in ALARM_SIGNALS:
            self._alarm(e, t, out)

    def tick(self, now_ms: int) -> list[Finding]:
        out: list[Finding] = []
        now = int(now_ms)
        if now > self.now:
            self.now = now
        self._sweep(max(now, self.now), out)
        return out

    def _sweep(self, now: int, out: list[Finding]) -> None:
        """Expire windows; resolve clusters whose area has been quiet."""
        self._last_sweep = now
        for idx in (self.ems_idx, self.fire_idx, self.drop_idx, self.gas_idx):
            idx.expire(now)
        quiet = {"ems_calls": self.ems_window_s, "fire_calls": self.fire_window_s,
                 "fire_alarm": self.alarm_quiet_s, "gas_explosion_risk": self.gas_window_s}
        for kind, q in quiet.items():
            act = self.active[kind]
            for ent in [k for k, c in act.items() if now - c["last"] > q * 1000]:
                c = act.pop(ent)
                out.append(self._finding(kind, ent, c, c["last"] + int(q * 1000), RESOLVED,
                                         {"reason": "quiet"}))
        for fid in [k for k, x in self.incidents.items() if now - x["last"] > self.forget_s
                    * 1000]:
            del self.incidents[fid]
            c = self.active["fire_incident"].pop(fid, None)
            if c is not None:
                out.append(self._finding("fire_incident", fid, c, now, RESOLVED,
                                         {"reason": "no update"}))
        dropped = sum(i.dropped for i in (self.ems_idx, self.fire_idx, self.drop_idx,
                                          self.gas_idx))
        if dropped:
            self.counters["items_dropped"] = dropped

    def _room(self, kind: str) -> bool:
        if len(self.active[kind]) < self.max_clusters:
            return True
        self._count("clusters_dropped")
        return False

    def _active_near(self, kind: str, lat: float, lon: float, km: float,
                     key: str | None = None) -> str | None:
        best, bd = None, km
        for ent, c in self.active[kind].items():
            if key is not None and c.get("key") != key:
                continue
            d = float(haversine_km(lat, lon, c["lat"], c["lon"]))
            if d <= bd:
                best, bd = ent, d
        return best

    # -- EMS -----------------------------------------------------------------------------------
    def _ems_call(self, e: dict[str, Any], t: int, out: list[Finding]) -> None:
        comp = e.get("complaint", "other")
        item = {"t": t, "lat": float(e["lat"]), "lon": float(e["lon"]), "id": e["entity_id"],
                "ev": e["event_id"], "fam": self.families.get(comp, comp), "complaint": comp,
                "priority": int(e.get("priority", 4)), "patients": int(e.get("patients", 1)),
                "district": e.get("district", "")}
        self.ems_idx.add(item)
        fam = item["fam"]
        ent = self._active_near("ems_calls", item["lat"], item["lon"], self.ems_radius_km, fam)
        if ent is not None:
            self._grow(out, "ems_calls", ent, item, t)
            return
        since = t - int(self.ems_window_s * 1000)
        same = [it for it in self.ems_idx.near(item["lat"], item["lon"], self.ems_radius_km,
                                              since) if it["fam"] == fam]
        rule, need = None, self.ems_min
        if len(same) >= self.ems_min:
            rule = f"{self.ems_min}+ calls of one complaint family"
        elif fam == "toxic":
            urgent = [it for it in same if it["priority"] <= self.toxic_priority]
            if len(urgent) >= self.toxic_min and item in urgent:
                same, rule = urgent, f"{self.toxic_min}+ urgent toxic-exposure calls"
                need = self.toxic_min
        if rule is None or not self._room("ems_calls"):
            return
        same.sort(key=lambda i: i["t"])
        self._open(out, "ems_calls", same, t, "major", {"key": fam, "rule": rule, "min": need})

    # -- fire ----------------------------------------------------------------------------------
    def _alarm(self, e: dict[str, Any], t: int, out: list[Finding]) -> None:
        sig = e["signal"]
        item = {"t": t, "lat": float(e["lat"]), "lon": float(e["lon"]),
                "id": e.get("building_id") or e["entity_id"], "panel": e["entity_id"],
                "ev": e["event_id"], "signal": sig, "district": e.get("district", "")}
        act = self.active["fire_alarm"]
        ent = item["id"] if item["id"] in act else \
            self._active_near("fire_alarm", item["lat"], item["lon"], self.alarm_merge_km)
        if ent is not None:
            c = act[ent]
            c["signals"] = sorted(set(c["signals"]) | {sig})
            c["panels"] = sorted(set(c["panels"]) | {item["panel"]})
            self._grow(out, "fire_alarm", ent, item, t, self._alarm_severity(c))
            return
        if not self._room("fire_alarm"):
            return
        c = self._open(out, "fire_alarm", [item], t, "minor",
                       {"signals": [sig], "panels": [item["panel"]], "confirmed_by": []},
                       emit=False)
        c["severity"] = self._alarm_severity(c)
        # a 119 call or incident already near it confirms it
        since = t - int(self.alarm_quiet_s * 1000)
        for it in self.fire_idx.near(c["lat"], c["lon"], self.confirm_km, since):
            c["confirmed_by"].append(it["id"])
        if any(x["status"] != "closed" and haversine_km(c["lat"], c["lon"], x["lat"], x["lon"])
               <= self.confirm_km for x in self.incidents.values()):
            c["confirmed_by"].append("incident")
        c["severity"] = self._alarm_severity(c)
        out.append(self._finding("fire_alarm", item["id"], c, t, FIRING))

    @staticmethod
    def _alarm_severity(c: dict[str, Any]) -> str:
        if c.get("confirmed_by"):
            return "critical"
        if len(c["signals"]) >= 2 or len(c["panels"]) >= 2 or "fire" in c["signals"]:
            return "major"
        return "minor"

    def _confirm_alarms(self, lat: float, lon: float, by: str, ev: str, t: int,
                        out: list[Finding]) -> None:
        for ent, c in self.active["fire_alarm"].items():
            if haversine_km(lat, lon, c["lat"], c["lon"]) <= self.confirm_km and \
                    by not in c["confirmed_by"]:
                c["confirmed_by"].append(by)
                c["ev"] = (c["ev"] + [ev])[-20:]
                if c["severity"] != "critical":
                    c["severity"] = "critical"
                    out.append(self._finding("fire_alarm", ent, c, t, FIRING))

    def _fire_call(self, e: dict[str, Any], t: int, out: list[Finding]) -> None:
        item = {"t": t, "lat": float(e["lat"]), "lon": float(e["lon"]), "id": e["entity_id"],
                "ev": e["event_id"], "category": e.get("category", ""),
                "district": e.get("district", "")}
        self.fire_idx.add(item)
        self._confirm_alarms(item["lat"], item["lon"], item["id"], item["ev"], t, out)
        self._check_gas(item["lat"], item["lon"], t, out, call=item)
        ent = self._active_near("fire_calls", item["lat"], item["lon"], self.fire_radius_km)
        if ent is not None:
            self._grow(out, "fire_calls", ent, item, t)
            return
        since = t - int(self.fire_window_s * 1000)
        near = self.fire_idx.near(item["lat"], item["lon"], self.fire_radius_km, since)
        if len(near) >= self.fire_min and self._room("fire_calls"):
            near.sort(key=lambda i: i["t"])
            sev = "critical" if len(near) >= 4 else "major"
            self._open(out, "fire_calls", near, t, sev,
                       {"categories": sorted({i["category"] for i in near})})

    def _incident(self, e: dict[str, Any], t: int, out: list[Finding]) -> None:
        fid, status = e["entity_id"], e.get("status", "open")
        level = int(e.get("alarm_level", 1))
        x = self.incidents.get(fid)
        if x is None:
            if status == "closed":
                return
            if len(self.incidents) >= self.max_items:
                self._count("incidents_dropped")
                return
            x = self.incidents[fid] = {"t": t, "lat": float(e["lat"]), "lon": float(e["lon"]),
                                       "district": e.get("district", ""), "level": level,
                                       "category": e.get("category", ""), "status": status,
                                       "last": t, "ev": [e["event_id"]]}
            self._confirm_alarms(x["lat"], x["lon"], fid, e["event_id"], t, out)
        else:
            x["ev"] = (x["ev"] + [e["event_id"]])[-10:]
            x["last"], x["status"] = t, status
            x["level"] = max(x["level"], level)
        act = self.active["fire_incident"]
        c = act.get(fid)
        if status == "closed":
            self.incidents.pop(fid, None)
            if c is not None:
                act.pop(fid)
                c["status"] = status
                c["ev"] = list(x["ev"])
                out.append(self._finding("fire_incident", fid, c, t, RESOLVED,
                                         {"reason": "closed"}))
            return
        if x["level"] < self.incident_min_level:
            return
        sev = "critical" if x["level"] >= 3 else "major"
        if c is None:
            if not self._room("fire_incident"):
                return
            act[fid] = c = {"t0": t, "last": t, "lat": x["lat"], "lon": x["lon"],
                            "district": x["district"], "severity": sev, "ev": list(x["ev"]),
                            "members": [fid], "level": x["level"], "category": x["category"],
                            "status": status}
            out.append(self._finding("fire_incident", fid, c, t, FIRING))
        else:
            c["last"], c["ev"], c["status"] = t, list(x["ev"]), status
            if x["level"] > c["level"]:
                c["level"], c["severity"] = x["level"], sev
                out.append(self._finding("fire_incident", fid, c, t, FIRING))

    # -- gas -----------------------------------------------------------------------------------
    def _reading(self, e: dict[str, Any], t: int, out: list[Finding]) -> None:
        kind = e.get("kind")
        if kind == "gas_pressure":
            if self.pressure_low is None or float(e["value"]) > self.pressure_low:
                return
            item = {"t": t, "lat": float(e["lat"]), "lon": float(e["lon"]),
                    "id": e["entity_id"], "ev": e["event_id"], "value": float(e["value"]),
                    "kind": kind, "district": e.get("district", "")}
            self.drop_idx.add(item)
            self._check_gas(item["lat"], item["lon"], t, out, drop=item)
        elif kind in self.gas_high:
            if float(e["value"]) < self.gas_high[kind]:
                return
            item = {"t": t, "lat": float(e["lat"]), "lon": float(e["lon"]),
                    "id": e["entity_id"], "ev": e["event_id"], "value": float(e["value"]),
                    "kind": kind, "district": e.get("district", "")}
            self.gas_idx.add(item)
            ent = item["id"] if item["id"] in self.active["gas_explosion_risk"] else \
                self._active_near("gas_explosion_risk", item["lat"], item["lon"],
                                  self.pressure_km)
            if ent is not None:  # the same leak area: keep it alive
                c = self.active["gas_explosion_risk"][ent]
                c["last"] = t
                if item["id"] not in c["members"]:
                    c["members"].append(item["id"])
                if item["id"] == ent:
                    c["value"] = max(c.get("value", 0.0), item["value"])
                return
            self._check_gas(item["lat"], item["lon"], t, out, gas=item)

    def _check_gas(self, lat: float, lon: float, t: int, out: list[Finding],
                   gas: dict[str, Any] | None = None, drop: dict[str, Any] | None = None,
                   call: dict[str, Any] | None = None) -> None:
        """Do a pressure drop, a gas rise and a 119 call line up around here?"""
        since = t - int(self.gas_window_s * 1000)
        if gas is not None:
            gases = [gas]
        else:  # a drop or a call: the gas readings it could complete
            km = self.pressure_km if drop is not None else self.gas_km
            gases = self.gas_idx.near(lat, lon, km, since)
        act = self.active["gas_explosion_risk"]
        for g in gases:
            if g["id"] in act or self._active_near("gas_explosion_risk", g["lat"], g["lon"],
                                                   self.pressure_km) is not None:
                continue
            drops = [drop] if drop is not None else \
                self.drop_idx.near(g["lat"], g["lon"], self.pressure_km, since)
            calls = [call] if call is not None else \
                self.fire_idx.near(g["lat"], g["lon"], self.gas_km, since)
            if call is not None and haversine_km(call["lat"], call["lon"], g["lat"],
                                                 g["lon"]) > self.gas_km:
                continue
            if drop is not None and haversine_km(drop["lat"], drop["lon"], g["lat"],
                                                 g["lon"]) > self.pressure_km:
                continue
            if not drops or not calls or not self._room("gas_explosion_risk"):
                continue
            d0 = min(drops, key=lambda d: d["value"])
            c0 = min(calls, key=lambda c: c["t"])
            members = sorted([g, d0, c0], key=lambda i: i["t"])
            c = self._open(out, "gas_explosion_risk", members, t, "critical",
                           {"key": g["id"], "value": g["value"], "gas_kind": g["kind"],
                            "pressure_kpa": d0["value"], "pressure_sensor": d0["id"],
                            "call": c0["id"]}, emit=False, entity=g["id"], anchor=g)
            out.append(self._finding("gas_explosion_risk", g["id"], c, t, FIRING))

    # -- cluster bookkeeping -------------------------------------------------------------------
    def _open(self, out: list[Finding], kind: str, members: list[dict[str, Any]], t: int,
              severity: str, extra: dict[str, Any], emit: bool = True,
              entity: str | None = None, anchor: dict[str, Any] | None = None
              ) -> dict[str, Any]:
        first = anchor or members[0]
        ent = entity or first["id"]
        lat = sum(m["lat"] for m in members) / len(members)
        lon = sum(m["lon"] for m in members) / len(members)
        c = {"t0": members[0]["t"], "last": t, "lat": lat, "lon": lon,
             "district": first.get("district", ""), "severity": severity,
             "ev": [m["ev"] for m in members][-20:],
             "members": list(dict.fromkeys(m["id"] for m in members)), **extra}
        if kind == "ems_calls":
            c["patients"] = sum(m.get("patients", 1) for m in members)
        self.active[kind][ent] = c
        if emit:
            out.append(self._finding(kind, ent, c, t, FIRING))
        return c

    def _grow(self, out: list[Finding], kind: str, ent: str, item: dict[str, Any], t: int,
              severity: str | None = None) -> None:
        c = self.active[kind][ent]
        c["last"] = t
        c["ev"] = (c["ev"] + [item["ev"]])[-20:]
        if item["id"] not in c["members"]:
            c["members"] = (c["members"] + [item["id"]])[-50:]
            if kind == "ems_calls":
                c["patients"] = c.get("patients", 0) + item.get("patients", 1)
        if severity is None:
            n = len(c["members"])
            severity = c["severity"]
            if kind == "ems_calls" and (n >= 5 or c.get("patients", 0) >= 8):
                severity = "critical"
            elif kind == "fire_calls" and n >= 4:
                severity = "critical"
        if SEVERITY_RANK[severity] > SEVERITY_RANK[c["severity"]]:
            c["severity"] = severity
            out.append(self._finding(kind, ent, c, t, FIRING))

    def _finding(self, kind: str, ent: str, c: dict[str, Any], t: int, status: str,
                 extra: dict[str, Any] | None = None) -> Finding:
        dz, de = district_names(self.profile, c.get("district", ""))
        n = len(c["members"])
        value, threshold, unit, stream = float(n), 0.0, "count", "fire"
        window: dict[str, Any] = {}
        if kind == "ems_calls":
            fam = c.get("key", "")
            tz = f"{dz}120呼叫聚集：{n} 起{FAMILY_ZH.get(fam, '其他')}呼叫"
            te = f"Cluster of {n} EMS calls ({FAMILY_EN.get(fam, 'other')}) in {de}"
            threshold, stream = float(c.get("min", self.ems_min)), "ems"
            window = {"radius_km": self.ems_radius_km, "window_s": self.ems_window_s}
        elif kind == "fire_alarm":
            sig = "、".join(SIGNAL_ZH.get(s, s) for s in c["signals"])
            tz = f"{dz}火灾报警：建筑 {ent}（{sig}，{len(c['panels'])} 个报警主机）"
            te = f"Fire alarm at building {ent} in {de} ({', '.join(c['signals'])}; " \
                 f"{len(c['panels'])} panel(s))"
            if c.get("confirmed_by"):
                tz += "，119已确认"
                te += ", confirmed by 119"
            value, threshold = float(len(c["panels"])), 1.0
            window = {"merge_km": self.alarm_merge_km, "quiet_s": self.alarm_quiet_s}
        elif kind == "fire_calls":
            tz = f"{dz}119呼叫聚集：{n} 起报警"
            te = f"Cluster of {n} fire calls in {de}"
            threshold = float(self.fire_min)
            window = {"radius_km": self.fire_radius_km, "window_s": self.fire_window_s}
        elif kind == "fire_incident":
            cz, ce = FIRE_CATEGORY_WORDS.get(c.get("category", ""), ("其他", "other"))
            tz = f"{dz}{c['level']}级火警：{ent}（{cz}）"
            te = f"Level-{c['level']} fire incident {ent} in {de} ({ce})"
            value, threshold, unit = float(c["level"]), float(self.incident_min_level), "level"
            window = {"min_level": self.incident_min_level}
        else:
            tz = f"{dz}燃气爆炸风险：管网压力 {c['pressure_kpa']:g} kPa，" \
                 f"可燃气体 {c['value']:g} %LEL，附近有119报警"
            te = f"Gas explosion risk in {de}: pressure {c['pressure_kpa']:g} kPa, " \
                 f"gas {c['value']:g} %LEL, 119 call nearby"
            value, threshold, unit, stream = float(c["value"]), \
                float(self.gas_high.get(c.get("gas_kind", ""), 0.0)), "%LEL", "lifeline"
            window = {"gas_km": self.gas_km, "pressure_km": self.pressure_km,
                      "window_s": self.gas_window_s}
        if status == RESOLVED:
            tz, te = tz + "（已解除）", te + " (resolved)"
        skip = {"lat", "lon", "ev", "district", "severity", "last", "min"}
        expl = copy.deepcopy({k: v for k, v in c.items() if k not in skip})  # c lives on
        expl.update(window=window, baseline=threshold, deviation=value - threshold,
                    **(extra or {}))
        return Finding(self.name, kind, ent, status, c["severity"], int(t), tz, te,
                       stream=stream, value=value, threshold=threshold, unit=unit,
                       lat=round(c["lat"], 6), lon=round(c["lon"], 6),
                       district=c.get("district", ""), evidence=tuple(c["ev"]),
                       explanation=expl)

    # -- checkpoint --------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        return {"v": 1, "now": self.now, "active": self.active, "incidents": self.incidents,
                "ems": self.ems_idx.to_json(), "fire": self.fire_idx.to_json(),
                "drops": self.drop_idx.to_json(), "gas": self.gas_idx.to_json(),
                "counters": self.counters}

    def restore(self, state: Any) -> None:
        self._reset()
        if not isinstance(state, dict) or state.get("v") != 1:
            return
        self.now = int(state.get("now", 0))
        for kind, d in state.get("active", {}).items():
            if kind in self.active:
                self.active[kind] = dict(d)
        self.incidents = dict(state.get("incidents", {}))
        self.ems_idx.load(state.get("ems", []))
        self.fire_idx.load(state.get("fire", []))
        self.drop_idx.load(state.get("drops", []))
        self.gas_idx.load(state.get("gas", []))
        self.counters = dict(state.get("counters", {}))
