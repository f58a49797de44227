"""Service levels of 120 EMS and 119 fire: dispatch, turnout and travel against targets.

:class:`ServiceLevelDetector` watches ``ems`` and ``fire``. What links the events (as the
data really is): an EMS ``unit_status`` carries the ``call_id`` it serves; a fire
``engine_status`` carries the ``incident_id``, and a 119 ``call`` carries no incident — it
is linked to the fire ``incident`` opened within ``link_s`` and ``link_km`` of it (the CAD
opens the incident from the call, at its place), or to an open incident near it (a second
call about the same fire).

Kinds (entity: the EMS call id, or the fire incident id — or the 119 call id while it has
no incident):

``call_pending``
    a call with no unit assigned ``ems_dispatch_s`` (120: 3 min) / ``fire_dispatch_s``
    after it was received; resolves when a unit is dispatched. Time-driven: it fires from
    :meth:`tick` (or from the next event of the stream) even if nothing else arrives.
``ems_dispatch_delay``
    an ambulance was dispatched, but later than ``ems_dispatch_s`` after the call (a breach
    on record, value = the delay); resolves when the unit is on scene.
``ems_turnout_delay`` / ``fire_turnout_delay``
    a dispatched unit not en route ``ems_turnout_s`` (NFPA 1710: 60 s) /
    ``fire_turnout_s`` (80 s) after dispatch; resolves when it is (every dispatched engine
    of an incident, for fire).
``fire_travel_delay``
    the first engine en route for ``fire_travel_s`` (NFPA 1710: 240 s) and none on scene;
    resolves when the first engine arrives (value = its travel time). Severity by the
    incident's alarm level: ``info`` for a first alarm (the 240 s target is a 90th-percentile
    objective: a late engine on a routine call is a record for the service-level report),
    ``minor`` for level 2, ``major`` from level 3.

Deadlines sit in a heap keyed by event time, checked before each event and in
:meth:`tick`: O(log n) per milestone. Calls and incidents are forgotten ``forget_s`` after
their last milestone (bounded memory, capped at ``max_open`` with a counter).
"""

from __future__ import annotations

import heapq
from typing import Any

from city.profile import CityProfile
from detectors.findings import FIRING, RESOLVED, Finding
from detectors.rules import RuleDetector
from detectors.geo import haversine_km
from detectors.traffic import district_names

EMS_PENDING, EMS_TURNOUT = "ems_pending", "ems_turnout"
FIRE_PENDING, FIRE_TURNOUT, FIRE_TRAVEL = "fire_pending", "fire_turnout", "fire_travel"


class ServiceLevelDetector(RuleDetector):
    name = "service_level"
    streams = ("ems", "fire")
    routes = {("ems", "call"): "_ems_call", ("ems", "unit_status"): "_ems_status",
              ("fire", "call"): "_fire_call", ("fire", "incident"): "_fire_incident",
              ("fire", "engine_status"): "_engine_status"}

    def __init__(self, profile: CityProfile | None = None, *, ems_dispatch_s: float = 180.0,
                 ems_turnout_s: float = 60.0, fire_dispatch_s: float = 60.0,
                 fire_turnout_s: float = 80.0, fire_travel_s: float = 240.0,
                 link_km: float = 0.5, link_s: float = 120.0, same_fire_s: float = 7200.0,
                 forget_s: float = 7200.0, max_open: int = 200_000) -> None:
        self.profile = profile
        self.ems_dispatch_s, self.ems_turnout_s = ems_dispatch_s, ems_turnout_s
        self.fire_dispatch_s, self.fire_turnout_s = fire_dispatch_s, fire_turnout_s
        self.fire_travel_s = fire_travel_s
        self.link_km, self.link_s, self.same_fire_s = link_km, link_s, same_fire_s
        self.forget_s, self.max_open = forget_s, max_open
        self._reset()

    def _reset(self) -> None:
        self.ems: dict[str, dict[str, Any]] = {}      # EMS calls
        self.fcalls: dict[str, dict[str, Any]] = {}   # 119 calls
        self.fires: dict[str, dict[str, Any]] = {}    # fire incidents
        self.heap: list[list[Any]] = []               # [deadline_ms, what, key, extra]
        self.now = 0
        self.counters: dict[str, int] = {}


    def _at(self, deadline: float, what: str, key: str, extra: str = "") -> None:
        heapq.heappush(self.heap, [int(deadline), what, key, extra])

    def _room(self, table: dict[str, dict[str, Any]]) -> bool:
        if len(self.ems) + len(self.fcalls) + len(self.fires) < self.max_open:
            return True
        self._count("dropped_over_capacity")
        return False

    # -- protocol --------------------------------------------------------------------------

    def tick(self, now_ms: int) -> list[Finding]:
        out: list[Finding] = []
        self._advance(int(now_ms), out)
        return out

    def _advance(self, now: int, out: list[Finding]) -> None:
        if now > self.now:
            self.now = now
        h = self.heap
        while h and h[0][0] <= now:
            deadline, what, key, extra = heapq.heappop(h)
            getattr(self, "_due_" + what)(key, extra, deadline, out)

    # -- EMS -----------------------------------------------------------------------------------
    def _ems_call(self, e: dict[str, Any], t: int, out: list[Finding]) -> None:
        cid = e["entity_id"]
        if cid in self.ems or not self._room(self.ems):
            return
        self.ems[cid] = {"t": t, "lat": float(e["lat"]), "lon": float(e["lon"]),
                         "district": e.get("district", ""), "priority": int(e.get("priority", 3)),
                         "complaint": e.get("complaint", ""), "ev": [e["event_id"]],
                         "units": {}, "disp_t": None, "ons_t": None, "firing": {}, "last": t}
        self._at(t + self.ems_dispatch_s * 1000, EMS_PENDING, cid)
        self._at(t + self.forget_s * 1000, "forget", cid, "ems")

    def _ems_status(self, e: dict[str, Any], t: int, out: list[Finding]) -> None:
        cid, unit, st = e.get("call_id"), e["entity_id"], e["status"]
        c = self.ems.get(cid) if cid else None
        if c is None:
            return
        c["ev"] = (c["ev"] + [e["event_id"]])[-12:]
        c["last"] = t
        u = c["units"].setdefault(unit, {"disp": None, "enr": None})
        if st == "dispatched" and u["disp"] is None:
            u["disp"] = t
            self._at(t + self.ems_turnout_s * 1000, EMS_TURNOUT, cid, unit)
            if c["disp_t"] is None:
                c["disp_t"] = t
                delay = (t - c["t"]) / 1000.0
                if "call_pending" in c["firing"]:
                    self._resolve(out, "call_pending", cid, c, t, delay, "s",
                                  {"reason": "unit dispatched", "unit": unit})
                if delay > self.ems_dispatch_s:
                    sev = "major" if c["priority"] <= 1 else "minor"
                    self._fire(out, "ems_dispatch_delay", cid, c, t, sev, delay,
                               self.ems_dispatch_s, "s", {"unit": unit, "stage": "dispatch"})
        elif st == "en_route" and u["enr"] is None:
            u["enr"] = t
            if u["disp"] is None:
                u["disp"] = t
            key = "ems_turnout_delay"
            if key in c["firing"] and c["firing"][key].get("unit") == unit:
                self._resolve(out, key, cid, c, t, (t - u["disp"]) / 1000.0, "s",
                              {"reason": "en route", "unit": unit})
        elif st == "on_scene" and c["ons_t"] is None:
            c["ons_t"] = t
            for key in ("ems_dispatch_delay", "ems_turnout_delay"):
                if key in c["firing"]:
                    self._resolve(out, key, cid, c, t, (t - c["t"]) / 1000.0, "s",
                                  {"reason": "unit on scene", "unit": unit})

    def _due_ems_pending(self, cid: str, extra: str, deadline: int, out: list[Finding]) -> None:
        c = self.ems.get(cid)
        if c is None or c["disp_t"] is not None or "call_pending" in c["firing"]:
            return
        sev = "critical" if c["priority"] <= 1 else "major"
        self._fire(out, "call_pending", cid, c, deadline, sev, self.ems_dispatch_s,
                   self.ems_dispatch_s, "s", {"service": "ems", "stage": "dispatch"})

    def _due_ems_turnout(self, cid: str, unit: str, deadline: int, out: list[Finding]) -> None:
        c = self.ems.get(cid)
        if c is None:
            return
        u = c["units"].get(unit)
        if u is None or u["enr"] is not None or c["ons_t"] is not None or \
                "ems_turnout_delay" in c["firing"]:
            return
        self._fire(out, "ems_turnout_delay", cid, c, deadline, "minor", self.ems_turnout_s,
                   self.ems_turnout_s, "s", {"service": "ems", "stage": "turnout",
                                             "unit": unit})

    # -- fire -----------------------------------------------------------------------------------
    def _fire_call(self, e: dict[str, Any], t: int, out: list[Finding]) -> None:
        cid = e["entity_id"]
        if cid in self.fcalls or not self._room(self.fcalls):
            return
        c = self.fcalls[cid] = {"t": t, "lat": float(e["lat"]), "lon": float(e["lon"]),
                                "district": e.get("district", ""),
                                "category": e.get("category", ""), "ev": [e["event_id"]],
                                "incident": None, "firing": {}, "last": t, "priority": 1}
        # a second call about a fire already open near it
        fid = self._open_fire_near(c["lat"], c["lon"], t, self.same_fire_s)
        if fid is not None:
            c["incident"] = fid
            self.fires[fid]["calls"].append(cid)
        self._at(t + self.fire_dispatch_s * 1000, FIRE_PENDING, cid)
        self._at(t + self.forget_s * 1000, "forget", cid, "fcall")

    def _open_fire_near(self, lat: float, lon: float, t: int, within_s: float) -> str | None:
        best, bd = None, self.link_km
        for fid, f in self.fires.items():
            if f["status"] != "closed" and t - f["t"] <= within_s * 1000:
                d = float(haversine_km(lat, lon, f["lat"], f["lon"]))
                if d <= bd:
                    best, bd = fid, d
        return best

    def _fire_incident(self, e: dict[str, Any], t: int, out: list[Finding]) -> None:
        fid, status = e["entity_id"], e.get("status", "open")
        f = self.fires.get(fid)
        if f is None:
            if status == "closed" or not self._room(self.fires):
                return
            f = self.fires[fid] = {
                "t": t, "lat": float(e["lat"]), "lon": float(e["lon"]),
                "district": e.get("district", ""), "category": e.get("category", ""),
                "level": int(e.get("alarm_level", 1)), "status": status, "ev": [e["event_id"]],
                "calls": [], "engines": {}, "disp_t": None, "first_enr": None, "ons_t": None,
                "firing": {}, "last": t, "priority": 1}
            # the calls it was opened from: unlinked 119 calls near it, just before
            for cid, c in self.fcalls.items():
                if c["incident"] is None and 0 <= t - c["t"] <= self.link_s * 1000 and \
                        haversine_km(c["lat"], c["lon"], f["lat"], f["lon"]) <= self.link_km:
                    c["incident"] = fid
                    f["calls"].append(cid)
                    f["ev"] = (c["ev"][:1] + f["ev"])[-12:]
            self._at(t + self.forget_s * 1000, "forget", fid, "fire")
            return
        f["ev"] = (f["ev"] + [e["event_id"]])[-12:]
        f["last"], f["status"] = t, status
        f["level"] = max(f["level"], int(e.get("alarm_level", f["level"])))
        if status == "closed":
            self._close_fire(fid, t, out, "incident closed")

    def _engine_status(self, e: dict[str, Any], t: int, out: list[Finding]) -> None:
        fid, eng, st = e.get("incident_id"), e["entity_id"], e["status"]
        f = self.fires.get(fid) if fid else None
        if f is None:
            return
        f["ev"] = (f["ev"] + [e["event_id"]])[-12:]
        f["last"] = t
        u = f["engines"].setdefault(eng, {"disp": None, "enr": None, "ons": None})
        if st == "dispatched" and u["disp"] is None:
            u["disp"] = t
            self._at(t + self.fire_turnout_s * 1000, FIRE_TURNOUT, fid, eng)
            if f["disp_t"] is None:
                f["disp_t"] = t
                if "call_pending" in f["firing"]:
                    self._resolve(out, "call_pending", fid, f, t, (t - f["t"]) / 1000.0, "s",
                                  {"reason": "engine dispatched", "unit": eng})
                for cid in f["calls"]:
                    c = self.fcalls.get(cid)
                    if c is not None and "call_pending" in c["firing"]:
                        self._resolve(out, "call_pending", cid, c, t, (t - c["t"]) / 1000.0,
                                      "s", {"reason": "engine dispatched", "unit": eng,
                                            "incident": fid})
        elif st == "en_route" and u["enr"] is None:
            u["enr"] = t
            if u["disp"] is None:
                u["disp"] = t
            if f["first_enr"] is None:
                f["first_enr"] = t
                self._at(t + self.fire_travel_s * 1000, FIRE_TRAVEL, fid, eng)
            if "fire_turnout_delay" in f["firing"] and \
                    all(x["enr"] is not None for x in f["engines"].values() if x["disp"]):
                self._resolve(out, "fire_turnout_delay", fid, f, t, (t - u["disp"]) / 1000.0,
                              "s", {"reason": "all engines en route", "unit": eng})
        elif st == "on_scene" and u["ons"] is None:
            u["ons"] = t
            if f["ons_t"] is None:
                f["ons_t"] = t
                if "fire_travel_delay" in f["firing"]:
                    travel = (t - (u["enr"] or f["first_enr"] or t)) / 1000.0
                    self._resolve(out, "fire_travel_delay", fid, f, t, travel, "s",
                                  {"reason": "first engine on scene", "unit": eng})

    def _due_fire_pending(self, cid: str, extra: str, deadline: int, out: list[Finding]) -> None:
        """A 119 call with no engine: raised on its incident when it has one (one alert for
        the several calls about one fire), else on the call itself."""
        c = self.fcalls.get(cid)
        if c is None or "call_pending" in c["firing"]:
            return
        fid = c["incident"]
        f = self.fires.get(fid) if fid else None
        if f is None:
            self._fire(out, "call_pending", cid, c, deadline, "major", self.fire_dispatch_s,
                       self.fire_dispatch_s, "s",
                       {"service": "fire", "stage": "dispatch", "incident": None})
        elif f["disp_t"] is None and f["status"] != "closed" and \
                "call_pending" not in f["firing"]:
            sev = "critical" if f["level"] >= 2 else "major"
            self._fire(out, "call_pending", fid, f, deadline, sev, (deadline - f["t"]) / 1000.0,
                       self.fire_dispatch_s, "s",
                       {"service": "fire", "stage": "dispatch", "call": cid})

    def _due_fire_turnout(self, fid: str, eng: str, deadline: int, out: list[Finding]) -> None:
        f = self.fires.get(fid)
        if f is None or "fire_turnout_delay" in f["firing"] or f["ons_t"] is not None:
            return
        u = f["engines"].get(eng)
        if u is None or u["enr"] is not None:
            return
        self._fire(out, "fire_turnout_delay", fid, f, deadline, "minor", self.fire_turnout_s,
                   self.fire_turnout_s, "s", {"service": "fire", "stage": "turnout",
                                              "unit": eng})

    def _due_fire_travel(self, fid: str, eng: str, deadline: int, out: list[Finding]) -> None:
        f = self.fires.get(fid)
        if f is None or f["ons_t"] is not None or "fire_travel_delay" in f["firing"]:
            return
        # NFPA 1710's 240 s is a 90th-percentile objective: on a routine first-alarm call a
        # late engine is a record for the service-level report; on a bigger fire it matters
        sev = "major" if f["level"] >= 3 else "minor" if f["level"] >= 2 else "info"
        self._fire(out, "fire_travel_delay", fid, f, deadline, sev, self.fire_travel_s,
                   self.fire_travel_s, "s", {"service": "fire", "stage": "travel",
                                             "unit": eng, "alarm_level": f["level"]})

    def _close_fire(self, fid: str, t: int, out: list[Finding], why: str) -> None:
        f = self.fires.get(fid)
        if f is None:
            return
        for key in list(f["firing"]):
            self._resolve(out, key, fid, f, t, (t - f["t"]) / 1000.0, "s", {"reason": why})
        for cid in f["calls"]:
            c = self.fcalls.get(cid)
            if c is not None and "call_pending" in c["firing"]:
                self._resolve(out, "call_pending", cid, c, t, (t - c["t"]) / 1000.0, "s",
                              {"reason": why})
        f["status"] = "closed"

    def _due_forget(self, key: str, table: str, deadline: int, out: list[Finding]) -> None:
        tab = {"ems": self.ems, "fcall": self.fcalls, "fire": self.fires}[table]
        x = tab.get(key)
        if x is None:
            return
        if deadline - x["last"] < self.forget_s * 1000 and \
                x.get("status") != "closed":  # still active: look again later
            self._at(x["last"] + self.forget_s * 1000, "forget", key, table)
            return
        for kind in list(x["firing"]):
            self._resolve(out, kind, key, x, deadline, 0.0, "s", {"reason": "expired"})
        del tab[key]

    # -- findings ----------------------------------------------------------------------------
    def _fire(self, out: list[Finding], kind: str, key: str, x: dict[str, Any], t: int,
              severity: str, value: float, threshold: float, unit: str,
              extra: dict[str, Any]) -> None:
        x["firing"][kind] = {"t": t, "severity": severity, **extra}
        out.append(self._finding(kind, key, x, t, FIRING, severity, value, threshold, unit,
                                 extra))

    def _resolve(self, out: list[Finding], kind: str, key: str, x: dict[str, Any], t: int,
                 value: float, unit: str, extra: dict[str, Any]) -> None:
        st = x["firing"].pop(kind, None)
        if st is None:
            return
        out.append(self._finding(kind, key, x, t, RESOLVED, st["severity"], value,
                                 self._target(kind, x), unit, {**st, **extra}))

    def _target(self, kind: str, x: dict[str, Any]) -> float:
        if kind == "call_pending":
            return self.ems_dispatch_s if "complaint" in x else self.fire_dispatch_s
        return {"ems_dispatch_delay": self.ems_dispatch_s, "ems_turnout_delay": self.ems_turnout_s,
                "fire_turnout_delay": self.fire_turnout_s,
                "fire_travel_delay": self.fire_travel_s}.get(kind, 0.0)

    def _finding(self, kind: str, key: str, x: dict[str, Any], t: int, status: str,
                 severity: str, value: float, threshold: float, unit: str,
                 extra: dict[str, Any]) -> Finding:
        dz, de = district_names(self.profile, x.get("district", ""))
        ems = "complaint" in x
        what_zh = f"120呼叫 {key}" if ems else (f"119警情 {key}" if key in self.fires
                                               else f"119呼叫 {key}")
        what_en = f"120 call {key}" if ems else (f"fire incident {key}" if key in self.fires
                                                 else f"119 call {key}")
        mins = value / 60.0
        texts = {
            "call_pending": (f"{dz}{what_zh} 超过 {threshold:g} 秒未派车",
                             f"{what_en} ({de}) has no unit {threshold:g} s after the call"),
            "ems_dispatch_delay": (f"{dz}{what_zh} 派车延迟 {value:.0f} 秒（目标 {threshold:g} 秒）",
                                   f"{what_en} ({de}) dispatched after {value:.0f} s "
                                   f"(target {threshold:g} s)"),
            "ems_turnout_delay": (f"{dz}{what_zh} 救护车出车超时（>{threshold:g} 秒）",
                                  f"{what_en} ({de}): ambulance not en route within "
                                  f"{threshold:g} s of dispatch"),
            "fire_turnout_delay": (f"{dz}{what_zh} 消防车出动超时（>{threshold:g} 秒）",
                                   f"{what_en} ({de}): engine not en route within "
                                   f"{threshold:g} s of dispatch"),
            "fire_travel_delay": (f"{dz}{what_zh} 首车行驶超过 {threshold:g} 秒未到场",
                                  f"{what_en} ({de}): first engine not on scene "
                                  f"{threshold:g} s after leaving"),
        }
        tz, te = texts.get(kind, (kind, kind))
        if status == RESOLVED:
            tz, te = tz + f"（已解除：{mins:.1f} 分钟）", te + f" (resolved after {mins:.1f} min)"
        expl = {"baseline": threshold, "deviation": round(value - threshold, 1),
                "window": {"target_s": threshold, "since_ms": x["t"]},
                "received_ms": x["t"], **{k: v for k, v in extra.items() if k != "t"}}
        if ems:
            expl.update(priority=x.get("priority"), complaint=x.get("complaint"))
        else:
            expl.update(category=x.get("category"), alarm_level=x.get("level"),
                        calls=list(x.get("calls", [])))
        return Finding(self.name, kind, key, status, severity, int(t), tz, te,
                       stream="ems" if ems else "fire", value=round(float(value), 1),
                       threshold=float(threshold), unit=unit, lat=x.get("lat"),
                       lon=x.get("lon"), district=x.get("district", ""),
                       evidence=tuple(x["ev"]), explanation=expl)

    # -- checkpoint --------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        return {"v": 1, "now": self.now, "ems": self.ems, "fcalls": self.fcalls,
                "fires": self.fires, "heap": self.heap, "counters": self.counters}

    def restore(self, state: Any) -> None:
        self._reset()
        if not isinstance(state, dict) or state.get("v") != 1:
            return
        self.now = int(state.get("now", 0))
        self.ems = dict(state.get("ems", {}))
        self.fcalls = dict(state.get("fcalls", {}))
        self.fires = dict(state.get("fires", {}))
        self.heap = [list(x) for x in state.get("heap", [])]
        heapq.heapify(self.heap)
        self.counters = dict(state.get("counters", {}))
