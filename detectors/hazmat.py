"""Hazardous-goods vehicles: protected zones, unscheduled stops, continuous driving.

:class:`HazmatDetector` watches the ``hazmat`` stream (``vehicle_gps`` and, as corroboration
only, ``tank_reading``; tank limits themselves are the limit detector's) and reports:

``hazmat_geofence`` (entity: vehicle)
    a vehicle inside a protected zone of the city profile. Zones and their rule by class:
    drinking-water sources and river tunnels are *no entry* (饮用水水源一级保护区、越江隧道
    禁止危化品车辆通行): ``entry_fixes`` consecutive fixes inside raise it as ``info`` (a
    notice for the carrier's safety officer, as monitoring platforms do), escalated to
    ``major`` when the vehicle is still inside after ``dwell_s`` or has stopped there for
    ``halt_s``. In a corridor zone (a ``path`` with ``width_m``: a tunnel's axis, a river
    bank) only fixes travelling along its axis count, so crossing it is not entering it.
    Schools and hospitals are *no stopping* (危险货物运输车辆停车应远离学校、医院等人员密集
    场所): ``minor`` when the vehicle has been stopped inside for ``no_stop_s``. Resolves
    when it leaves (beyond ``leave_margin`` x the radius) or, for no-stopping zones, drives
    on.
``hazmat_stopped`` (entity: vehicle)
    * stopped (speed <= ``stop_kmh``) while a reading of its tank is abnormal (at the
      profile's recover level, or a jump of ``concern_jump`` over the tank's own usual
      value) within ``tank_window_s``: a stranded, possibly leaking vehicle (critical when
      the reading is beyond the alarm level, else major);
    * stopped for more than ``max_stop_s`` away from its depots (the place it was first
      seen parked, places it parks overnight, and profile ``hazmat_depots``), a stop that
      is not overnight parking (it never overlapped the local night ``night``): minor.
    Resolves when the vehicle moves again.
``hazmat_fatigue`` (entity: vehicle)
    continuous driving beyond ``drive_limit_s`` (4 h) without a stop of ``rest_s`` (20 min)
    — 《道路交通安全法实施条例》第六十二条; resolves once the vehicle has rested.

Designated-route deviation is not checked: the profile declares no hazmat routes yet.
Pure: no I/O, no clock; event time drives everything, :meth:`tick` forgets vehicles that
went silent (resolving what they had firing) so memory stays bounded.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from city.profile import CityProfile
from detectors.findings import FIRING, RESOLVED, Finding
from detectors.rules import RuleDetector
from detectors.geo import (Grid, angle_diff, bearing_deg, distance_to_path_km, haversine_km,
                           local_hour)
from detectors.traffic import district_names
from schemas.catalog import MEASUREMENTS

NO_ENTRY, NO_STOP = "no_entry", "no_stop"
DEFAULT_RULES = {"water_source": NO_ENTRY, "tunnel": NO_ENTRY, "school": NO_STOP,
                 "hospital": NO_STOP}
CLASS_ZH = {"water_source": "饮用水水源保护区", "tunnel": "越江隧道", "school": "学校",
            "hospital": "医院", "depot": "停车场"}
CLASS_EN = {"water_source": "drinking-water source zone", "tunnel": "river tunnel",
            "school": "school", "hospital": "hospital", "depot": "depot"}
DEFAULT_JUMP = {"tank_gas": 5.0, "tank_pressure": 150.0, "tank_temperature": 10.0}


class HazmatDetector(RuleDetector):
    name = "hazmat_rules"
    streams = ("hazmat",)
    routes = {("hazmat", "vehicle_gps"): "_gps", ("hazmat", "tank_reading"): "_tank"}

    def __init__(self, profile: CityProfile | None = None, *, tz_hours: float | None = None,
                 stop_kmh: float = 3.0, drive_kmh: float = 5.0, max_stop_s: float = 6000.0,
                 night: tuple[float, float] = (22.0, 6.0), depot_km: float = 0.3,
                 overnight_depot_s: float = 7200.0, max_depots: int = 4,
                 hospital_radius_m: float = 150.0, rules: Mapping[str, str] | None = None,
                 no_stop_s: float = 300.0, entry_fixes: int = 4, leave_margin: float = 1.2,
                 heading_tol_deg: float = 35.0, dwell_s: float = 300.0, halt_s: float = 60.0,
                 tank_window_s: float = 300.0, concern_jump: Mapping[str, float] | None = None,
                 tank_tau_s: float = 1800.0, drive_limit_s: float = 4 * 3600.0,
                 rest_s: float = 20 * 60.0, max_gap_s: float = 600.0, tank_suffix: str = "-T",
                 link_km: float = 0.1, silent_s: float = 6 * 3600.0,
                 max_vehicles: int = 200_000, max_tanks: int = 200_000) -> None:
        self.profile = profile
        self.tz_hours = (tz_hours if tz_hours is not None else
                         (profile.utc_offset_hours if profile is not None else 0.0))
        self.stop_kmh, self.drive_kmh, self.max_stop_s = stop_kmh, drive_kmh, max_stop_s
        self.night = (float(night[0]), float(night[1]))
        self.depot_km, self.overnight_depot_s, self.max_depots = depot_km, overnight_depot_s, \
            max_depots
        self.hospital_radius_m = hospital_radius_m
        self.rules = dict(DEFAULT_RULES if rules is None else rules)
        self.no_stop_s, self.entry_fixes, self.leave_margin = no_stop_s, entry_fixes, leave_margin
        self.heading_tol_deg, self.dwell_s, self.halt_s = heading_tol_deg, dwell_s, halt_s
        self.tank_window_s, self.tank_tau_s = tank_window_s, tank_tau_s
        self.concern_jump = dict(DEFAULT_JUMP if concern_jump is None else concern_jump)
        self.drive_limit_s, self.rest_s, self.max_gap_s = drive_limit_s, rest_s, max_gap_s
        self.tank_suffix, self.link_km, self.silent_s = tank_suffix, link_km, silent_s
        self.max_vehicles, self.max_tanks = max_vehicles, max_tanks
        self.levels: dict[str, tuple[float | None, float | None]] = {}
        if profile is not None:
            for kind in ("tank_gas", "tank_pressure", "tank_temperature"):
                lim = profile.limits.get(kind)
                if lim is not None and lim.high_alarm is not None:
                    rec = lim.high_recover if lim.high_recover is not None else lim.high_alarm
                    self.levels[kind] = (lim.high_alarm, rec)
        self.grid = Grid(1.0, profile.center[0] if profile is not None else 28.2)
        self.zones: list[dict[str, Any]] = []
        self.depots: list[tuple[float, float]] = []
        self.zone_cells: dict[tuple[int, int], list[int]] = {}
        self.zone_index: dict[str, int] = {}
        self._build_zones()
        self._reset()

    # -- zones -------------------------------------------------------------------------------
    def _build_zones(self) -> None:
        p = self.profile
        if p is None:
            return
        groups: list[tuple[str, Any]] = [("water_source", z) for z in p.water_sources]
        groups += [("tunnel", z) for z in p.tunnels] + [("school", z) for z in p.schools]
        for cls, z in groups:
            self.zones.append({"id": z.id, "cls": cls, "zh": z.zh, "en": z.en,
                               "district": z.district, "lat": z.lat, "lon": z.lon,
                               "radius_km": z.radius_m / 1000.0,
                               "path": [list(q) for q in z.path],
                               "half_km": z.width_m / 2000.0})
        for h in p.hospitals:
            self.zones.append({"id": h.id, "cls": "hospital", "zh": h.zh, "en": h.en,
                               "district": h.district, "lat": h.lat, "lon": h.lon,
                               "radius_km": self.hospital_radius_m / 1000.0, "path": [],
                               "half_km": 0.0})
        self.zones = [z for z in self.zones if self.rules.get(z["cls"]) in (NO_ENTRY, NO_STOP)]
        for i, z in enumerate(self.zones):
            z["key"] = f"{z['cls']}:{z['id']}"
            self.zone_index[z["key"]] = i
            if z["path"] and z["half_km"] > 0:
                cells = self.grid.cover_path(z["path"], z["half_km"] * self.leave_margin)
            else:
                cells = set(self.grid.cover(z["lat"], z["lon"], z["radius_km"] * self.leave_margin))
            for c in cells:
                self.zone_cells.setdefault(c, []).append(i)
        self.depots = [(d.lat, d.lon) for d in p.hazmat_depots]

    def _zone_distance(self, z: dict[str, Any], lat: float, lon: float) -> tuple[float, float]:
        """(distance from the zone's edge line or centre, the radius it is compared with)."""
        if z["path"] and z["half_km"] > 0:
            return distance_to_path_km(lat, lon, z["path"]), z["half_km"]
        return float(haversine_km(lat, lon, z["lat"], z["lon"])), z["radius_km"]

    def _aligned(self, z: dict[str, Any], lat: float, lon: float,
                 heading: float | None) -> bool:
        """A vehicle in a corridor zone (tunnel, river bank) travels along its axis: its
        heading is within ``heading_tol_deg`` of the nearest leg (either direction); one
        merely crossing it, or parked in it, is not in it. Circles always pass."""
        if not (z["path"] and z["half_km"] > 0) or len(z["path"]) < 2:
            return True
        if heading is None:  # parked, or no heading: it does not travel along the axis
            return False
        legs = list(zip(z["path"], z["path"][1:]))
        a, b = min(legs, key=lambda ab: distance_to_path_km(lat, lon, ab))
        axis = bearing_deg(a[0], a[1], b[0], b[1])
        return min(angle_diff(heading, axis), angle_diff(heading, axis + 180.0)) \
            <= self.heading_tol_deg

    def _zones_at(self, lat: float, lon: float, heading: float | None = None) -> list[int]:
        out = []
        for i in self.zone_cells.get(self.grid.cell(lat, lon), ()):
            z = self.zones[i]
            d, r = self._zone_distance(z, lat, lon)
            if d <= r and self._aligned(z, lat, lon, heading):
                out.append(i)
        return out

    # -- state -------------------------------------------------------------------------------
    def _reset(self) -> None:
        self.vehicles: dict[str, dict[str, Any]] = {}
        self.tanks: dict[str, dict[str, Any]] = {}
        self.now = 0
        self.counters: dict[str, int] = {}

    def _vehicle(self, vid: str, e: dict[str, Any], t: int) -> dict[str, Any]:
        v = self.vehicles.get(vid)
        if v is None:
            if len(self.vehicles) >= self.max_vehicles:
                old = min(self.vehicles, key=lambda k: self.vehicles[k]["t"])
                del self.vehicles[old]
                self._count("vehicles_evicted")
            v = self.vehicles[vid] = {
                "t": 0, "lat": float(e["lat"]), "lon": float(e["lon"]), "speed": 0.0,
                "district": e.get("district", ""), "stop_t": None, "stop_lat": None,
                "stop_lon": None, "night_stop": False, "drive_s": 0.0, "drive_t0": None,
                "zone": None, "zone_in": 0, "zone_alert": False, "stopped": None,
                "fatigue": False, "depots": [], "ev": [], "un": e.get("un_number", ""),
                "hclass": e.get("hazard_class", ""), "concern": None, "first": True}
        return v

    # -- protocol --------------------------------------------------------------------------
    def tick(self, now_ms: int) -> list[Finding]:
        out: list[Finding] = []
        now = int(now_ms)
        self.now = max(self.now, now)
        silent = [k for k, v in self.vehicles.items() if now - v["t"] > self.silent_s * 1000]
        for vid in silent:
            v = self.vehicles.pop(vid)
            for kind, key in (("hazmat_stopped", "stopped"), ("hazmat_fatigue", "fatigue"),
                              ("hazmat_geofence", "zone_alert")):
                if v.get(key):
                    sev = v[key] if isinstance(v[key], str) else "major"
                    out.append(self._finding(kind, vid, v, now, RESOLVED, sev,
                                             {"reason": "no data"}))
        for tid in [k for k, x in self.tanks.items() if now - x["t"] > self.silent_s * 1000]:
            del self.tanks[tid]
        return out

    # -- GPS -------------------------------------------------------------------------------------
    def _in_night(self, t: int) -> bool:
        h = local_hour(t, self.tz_hours)
        a, b = self.night
        return (h >= a or h < b) if a > b else (a <= h < b)

    def _near_depot(self, v: dict[str, Any], lat: float, lon: float) -> bool:
        for d_lat, d_lon in list(v["depots"]) + self.depots:
            if haversine_km(lat, lon, d_lat, d_lon) <= self.depot_km:
                return True
        return False

    def _gps(self, e: dict[str, Any], t: int, out: list[Finding]) -> None:
        vid = e["entity_id"]
        v = self._vehicle(vid, e, t)
        if t <= v["t"]:
            self._count("out_of_order")
            return
        lat, lon = float(e["lat"]), float(e["lon"])
        speed = float(e.get("speed_kmh", 0.0) or 0.0)
        dt = (t - v["t"]) / 1000.0 if v["t"] else 0.0
        v["ev"] = (v["ev"] + [e["event_id"]])[-6:]
        v["lat"], v["lon"], v["district"] = lat, lon, e.get("district", v["district"])
        v["un"], v["hclass"] = e.get("un_number", v["un"]), e.get("hazard_class", v["hclass"])
        first = v["first"]
        v["first"] = False
        v["t"], v["speed"] = t, speed
        hd = e.get("heading")
        v["heading"] = float(hd) if hd is not None and speed > self.drive_kmh else None
        if first and speed <= self.stop_kmh:
            v["depots"] = [[lat, lon]]  # first seen parked: its depot
        stopped = speed <= self.stop_kmh
        if dt > self.max_gap_s:
            dt = 0.0  # a gap in the data is neither driving nor resting that we saw
        if speed > self.drive_kmh:
            if v["drive_t0"] is None:
                v["drive_t0"] = t
            v["drive_s"] += dt
        if stopped:
            if v["stop_t"] is None:
                v["stop_t"], v["stop_lat"], v["stop_lon"] = t, lat, lon
                v["night_stop"] = False
            self._stopped(vid, v, t, out)
        else:
            if v["stop_t"] is not None:
                v["stop_t"] = None
                v["night_stop"] = False
            if v["stopped"]:
                out.append(self._finding("hazmat_stopped", vid, v, t, RESOLVED, v["stopped"],
                                         {"reason": "moving again"}))
                v["stopped"] = None
        if not v["fatigue"] and v["drive_s"] > self.drive_limit_s:
            v["fatigue"] = True
            out.append(self._finding(
                "hazmat_fatigue", vid, v, t, FIRING, "major",
                {"driving_s": round(v["drive_s"]), "limit_s": self.drive_limit_s,
                 "rest_required_s": self.rest_s, "driving_since_ms": v["drive_t0"],
                 "baseline": self.drive_limit_s,
                 "deviation": round(v["drive_s"] - self.drive_limit_s),
                 "window": {"continuous_driving_s": round(v["drive_s"])}},
                value=v["drive_s"] / 3600, threshold=self.drive_limit_s / 3600, unit="h"))
        self._geofence(vid, v, t, stopped, out)

    def _stopped(self, vid: str, v: dict[str, Any], t: int, out: list[Finding]) -> None:
        dur = (t - v["stop_t"]) / 1000.0
        if self._in_night(t):
            v["night_stop"] = True
        if dur >= self.rest_s:
            if v["fatigue"]:
                v["fatigue"] = False
                out.append(self._finding("hazmat_fatigue", vid, v, t, RESOLVED, "major",
                                         {"rested_s": round(dur)}))
            v["drive_s"], v["drive_t0"] = 0.0, None
        if v["night_stop"] and dur >= self.overnight_depot_s and \
                not self._near_depot(v, v["stop_lat"], v["stop_lon"]):
            v["depots"] = (v["depots"] + [[v["stop_lat"], v["stop_lon"]]])[-self.max_depots:]
        c = v["concern"]
        if c is not None and t - c["t"] <= self.tank_window_s * 1000 and \
                v["stopped"] in (None, "minor"):
            self._stop_with_tank(vid, v, t, out)
        elif v["stopped"] is None and dur >= self.max_stop_s and not v["night_stop"] and \
                not self._near_depot(v, v["stop_lat"], v["stop_lon"]):
            v["stopped"] = "minor"
            out.append(self._finding(
                "hazmat_stopped", vid, v, t, FIRING, "minor",
                {"reason": "long_stop", "stopped_s": round(dur), "limit_s": self.max_stop_s,
                 "stopped_since_ms": v["stop_t"], "baseline": self.max_stop_s,
                 "deviation": round(dur - self.max_stop_s),
                 "window": {"stop_s": round(dur)}},
                value=dur / 60, threshold=self.max_stop_s / 60, unit="min"))

    def _stop_with_tank(self, vid: str, v: dict[str, Any], t: int, out: list[Finding]) -> None:
        c = v["concern"]
        sev = "critical" if c["beyond_alarm"] else "major"
        v["stopped"] = sev
        v["ev"] = (v["ev"] + [c["event_id"]])[-8:]
        dur = (t - v["stop_t"]) / 1000.0 if v["stop_t"] is not None else 0.0
        out.append(self._finding(
            "hazmat_stopped", vid, v, t, FIRING, sev,
            {"reason": "stopped_with_tank_anomaly", "tank": c["tank"], "tank_kind": c["kind"],
             "tank_value": c["value"], "tank_usual": c["usual"], "stopped_s": round(dur),
             "stopped_since_ms": v["stop_t"], "baseline": c["usual"],
             "deviation": None if c["usual"] is None else round(c["value"] - c["usual"], 2),
             "window": {"tank_window_s": self.tank_window_s}},
            value=c["value"], threshold=c["threshold"], unit=c["unit"]))

    def _geofence(self, vid: str, v: dict[str, Any], t: int, stopped: bool,
                  out: list[Finding]) -> None:
        cur = v["zone"]
        i = self.zone_index.get(cur) if cur is not None else None
        if i is not None:
            z = self.zones[i]
            d, r = self._zone_distance(z, v["lat"], v["lon"])
            rule = self.rules[z["cls"]]
            gone = d > r * self.leave_margin or (rule == NO_STOP and not stopped)
            if not gone:
                if rule == NO_ENTRY:
                    inside = d <= r and self._aligned(z, v["lat"], v["lon"], v.get("heading"))
                    v["zone_in"] = v["zone_in"] + 1 if inside else \
                        (v["zone_in"] if v["zone_alert"] else 0)
                self._zone_rule(vid, v, z, t, stopped, out)
                return
            if v["zone_alert"]:
                out.append(self._geo_finding(vid, v, z, t, RESOLVED, v["zone_alert"]))
        v["zone"], v["zone_alert"], v["zone_in"] = None, False, 0
        zs = [j for j in self._zones_at(v["lat"], v["lon"], v.get("heading"))
              if stopped or self.rules[self.zones[j]["cls"]] == NO_ENTRY]
        if not zs:
            return
        # no-entry zones first, then the nearest
        zs.sort(key=lambda j: (self.rules[self.zones[j]["cls"]] != NO_ENTRY,
                               self._zone_distance(self.zones[j], v["lat"], v["lon"])[0]))
        z = self.zones[zs[0]]
        v["zone"], v["zone_in"], v["zone_alert"], v["zone_t"] = z["key"], 1, False, t
        self._zone_rule(vid, v, z, t, stopped, out)

    def _zone_rule(self, vid: str, v: dict[str, Any], z: dict[str, Any], t: int,
                   stopped: bool, out: list[Finding]) -> None:
        rule, sev = self.rules[z["cls"]], v["zone_alert"]
        if rule == NO_ENTRY:
            if not sev and v["zone_in"] >= self.entry_fixes:
                v["zone_alert"] = "info"
                out.append(self._geo_finding(vid, v, z, t, FIRING, "info", "entry"))
            elif sev == "info":
                dwell = t - v.get("zone_t", t) >= self.dwell_s * 1000
                halted = stopped and v["stop_t"] is not None and \
                    t - max(v["stop_t"], v.get("zone_t", t)) >= self.halt_s * 1000
                if dwell or halted:
                    v["zone_alert"] = "major"
                    out.append(self._geo_finding(vid, v, z, t, FIRING, "major",
                                                 "stopped" if halted else "dwell"))
        elif rule == NO_STOP and not sev and stopped and v["stop_t"] is not None and \
                (t - max(v["stop_t"], v.get("zone_t", t))) >= self.no_stop_s * 1000:
            v["zone_alert"] = "minor"
            out.append(self._geo_finding(vid, v, z, t, FIRING, "minor", "stopped"))

    def _geo_finding(self, vid: str, v: dict[str, Any], z: dict[str, Any], t: int,
                     status: str, sev: str, stage: str = "") -> Finding:
        rule = self.rules[z["cls"]]
        d, r = self._zone_distance(z, v["lat"], v["lon"])
        cz, ce = CLASS_ZH.get(z["cls"], z["cls"]), CLASS_EN.get(z["cls"], z["cls"])
        if status == FIRING:
            if rule == NO_ENTRY and stage == "entry":
                tz = f"危化品车辆 {vid}（UN{v['un']}）驶入{cz}禁行区：{z['zh']}"
                te = f"Hazmat vehicle {vid} (UN{v['un']}) entered a no-entry {ce}: {z['en']}"
            elif rule == NO_ENTRY:
                mins = (t - v.get("zone_t", t)) / 60_000
                how_zh = "停驶" if stage == "stopped" else f"停留 {mins:.0f} 分钟"
                how_en = "stopped" if stage == "stopped" else f"for {mins:.0f} min"
                tz = f"危化品车辆 {vid}（UN{v['un']}）在{cz}禁行区内{how_zh}：{z['zh']}"
                te = f"Hazmat vehicle {vid} (UN{v['un']}) inside a no-entry {ce} {how_en}: " \
                     f"{z['en']}"
            else:
                tz = f"危化品车辆 {vid}（UN{v['un']}）在{cz}附近停车：{z['zh']}"
                te = f"Hazmat vehicle {vid} (UN{v['un']}) stopped by a {ce}: {z['en']}"
        else:
            tz = f"危化品车辆 {vid} 已离开{z['zh']}"
            te = f"Hazmat vehicle {vid} left {z['en']}"
        expl = {"zone": z["id"], "zone_class": z["cls"], "rule": rule, "stage": stage,
                "inside_since_ms": v.get("zone_t"),
                "distance_m": round(d * 1000), "radius_m": round(r * 1000),
                "baseline": round(r * 1000), "deviation": round((d - r) * 1000),
                "window": {"entry_fixes": self.entry_fixes, "no_stop_s": self.no_stop_s,
                           "dwell_s": self.dwell_s, "halt_s": self.halt_s},
                "un_number": v["un"], "hazard_class": v["hclass"]}
        return Finding(self.name, "hazmat_geofence", vid, status, sev, t, tz, te,
                       stream="hazmat", value=round(d * 1000, 1), threshold=round(r * 1000, 1),
                       unit="m", lat=v["lat"], lon=v["lon"],
                       district=v["district"] or z["district"], evidence=tuple(v["ev"]),
                       explanation=expl)

    # -- tanks -------------------------------------------------------------------------------
    def _tank_vehicle(self, tid: str, lat: float, lon: float, t: int) -> str | None:
        x = self.tanks.get(tid)
        if x is not None and x.get("vehicle") in self.vehicles:
            return x["vehicle"]
        if self.tank_suffix and self.tank_suffix in tid:
            vid = tid.rsplit(self.tank_suffix, 1)[0]
            if vid in self.vehicles:
                return vid
        if x is not None and t - x.get("looked", 0) < 600_000:
            return None
        best, bd = None, self.link_km
        for vid, v in self.vehicles.items():  # rare: only tanks not named after a vehicle
            if abs(t - v["t"]) <= 60_000:
                d = float(haversine_km(lat, lon, v["lat"], v["lon"]))
                if d <= bd:
                    best, bd = vid, d
        return best

    def _tank(self, e: dict[str, Any], t: int, out: list[Finding]) -> None:
        tid, kind, value = e["entity_id"], e["kind"], float(e["value"])
        lat, lon = float(e["lat"]), float(e["lon"])
        vid = self._tank_vehicle(tid, lat, lon, t)
        x = self.tanks.get(tid)
        if x is None:
            if len(self.tanks) >= self.max_tanks:
                old = min(self.tanks, key=lambda k: self.tanks[k]["t"])
                del self.tanks[old]
                self._count("tanks_evicted")
            x = self.tanks[tid] = {"t": t, "vehicle": vid, "looked": t, "ew": {}}
        x["t"], x["vehicle"] = t, vid
        if vid is None:
            x["looked"] = t
        ew = x["ew"].get(kind)  # [usual value, readings, last t]
        alarm, recover = self.levels.get(kind, (None, None))
        jump = self.concern_jump.get(kind)
        usual = ew[0] if ew is not None and ew[1] >= 2 else None
        thresholds = [lv for lv in (recover,) if lv is not None]
        if usual is not None and jump is not None:
            thresholds.append(usual + jump)
        threshold = min(thresholds) if thresholds else None
        concern = threshold is not None and value >= threshold
        # learn the tank's usual value; while it is abnormal, only slowly (a leak must not
        # become the new normal within the hour, a refill with a new cargo eventually does)
        if ew is None:
            x["ew"][kind] = [value, 1, t]
        else:
            tau = self.tank_tau_s * (8 if concern else 1)
            a = 1.0 - math.exp(-max(t - ew[2], 0) / (tau * 1000))
            ew[0] += (a if concern else max(a, 1.0 / (ew[1] + 1))) * (value - ew[0])
            ew[1] += 1
            ew[2] = t
        if not concern:
            return
        if vid is None:
            return
        v = self.vehicles[vid]
        v["concern"] = {"t": t, "tank": tid, "kind": kind, "value": value,
                        "usual": None if usual is None else round(usual, 2),
                        "threshold": threshold, "unit": e.get("unit", ""),
                        "event_id": e["event_id"],
                        "beyond_alarm": alarm is not None and value >= alarm}
        if v["stop_t"] is not None and v["speed"] <= self.stop_kmh and \
                t - v["t"] <= 60_000 and v["stopped"] in (None, "minor"):
            self._stop_with_tank(vid, v, t, out)
        elif v["stopped"] == "major" and v["concern"]["beyond_alarm"]:
            self._stop_with_tank(vid, v, t, out)  # escalate

    # -- findings ----------------------------------------------------------------------------
    def _finding(self, kind: str, vid: str, v: dict[str, Any], t: int, status: str,
                 severity: str, expl: dict[str, Any], value: float = 0.0,
                 threshold: float = 0.0, unit: str = "") -> Finding:
        dz, de = district_names(self.profile, v["district"])
        cargo_zh = f"（UN{v['un']}，第{v['hclass']}类）" if v["un"] else ""
        cargo_en = f" (UN{v['un']}, class {v['hclass']})" if v["un"] else ""
        if kind == "hazmat_stopped":
            if status == FIRING and expl.get("reason") == "stopped_with_tank_anomaly":
                m = MEASUREMENTS.get(expl["tank_kind"])   # its name in words, not its code
                tz = f"{dz}危化品车辆 {vid}{cargo_zh}停驶且罐体异常：" \
                     f"{m.zh if m else '罐体读数'} {value:g} {unit}"
                te = f"Hazmat vehicle {vid}{cargo_en} stopped with an abnormal tank " \
                     f"({m.en.lower() if m else 'tank reading'} {value:g} {unit}) in {de}"
            elif status == FIRING:
                tz = f"{dz}危化品车辆 {vid}{cargo_zh}异常停车 {value:.0f} 分钟"
                te = f"Hazmat vehicle {vid}{cargo_en} stopped for {value:.0f} min in {de} " \
                     f"away from its depots"
            else:
                tz, te = f"危化品车辆 {vid} 已恢复行驶", f"Hazmat vehicle {vid} moving again"
        elif kind == "hazmat_fatigue":
            if status == FIRING:
                tz = f"危化品车辆 {vid}{cargo_zh}连续驾驶超过 {self.drive_limit_s / 3600:g} 小时" \
                     f"未休息（{value:.1f} 小时）"
                te = f"Hazmat vehicle {vid}{cargo_en} driven {value:.1f} h without a " \
                     f"{self.rest_s / 60:g}-min rest"
            else:
                tz, te = f"危化品车辆 {vid} 已停车休息", f"Hazmat vehicle {vid} has rested"
        else:
            tz, te = f"危化品车辆 {vid} 告警解除", f"Hazmat vehicle {vid} alert resolved"
        ev = tuple(v["ev"])
        return Finding(self.name, kind, vid, status, severity, t, tz, te, stream="hazmat",
                       value=float(value), threshold=float(threshold), unit=unit,
                       lat=v["lat"], lon=v["lon"], district=v["district"], evidence=ev,
                       explanation={**expl, "un_number": v["un"], "hazard_class": v["hclass"]})

    # -- checkpoint --------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        return {"v": 1, "now": self.now, "vehicles": self.vehicles, "tanks": self.tanks,
                "counters": self.counters}

    def restore(self, state: Any) -> None:
        self._reset()
        if not isinstance(state, dict) or state.get("v") != 1:
            return
        self.now = int(state.get("now", 0))
        self.vehicles = {k: dict(v) for k, v in state.get("vehicles", {}).items()}
        for v in self.vehicles.values():
            if v.get("zone") is not None and v["zone"] not in self.zone_index:
                v["zone"], v["zone_alert"] = None, False  # the zone left the profile
        self.tanks = {k: dict(v) for k, v in state.get("tanks", {}).items()}
        self.counters = dict(state.get("counters", {}))
