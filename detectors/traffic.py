"""Traffic incidents from segment detectors, accident reports and signal faults.

:class:`TrafficDetector` watches the ``traffic`` stream and reports:

``traffic_congestion`` (entity: segment)
    a segment's speed stays below ``congest_ratio`` x its *usual* speed for this time of day
    (and is a real outlier, ``z < -congest_z``) for ``congest_readings`` readings in a row;
    resolves after ``clear_readings`` readings back above ``clear_ratio``.
``traffic_accident`` (entity: report id, or segment for a speed-only detection)
    an accident report: immediate when it is serious (severity >= ``report_severity`` or
    >= ``report_lanes`` lanes blocked) or traffic is already slow on its segment / within
    ``link_km``; a lesser report is held ``report_hold_s`` until a segment near it slows
    (a fender-bender that blocks nothing is routine police work, not a command-centre alert),
    or a *sudden* drop on a segment while the rest of its district (beyond ``merge_km``)
    keeps flowing: held below ``accident_ratio`` x usual for ``accident_readings`` readings
    within ``sudden_s`` of a normal one, or a sharp drop (``drop_ratio``, ``z < -drop_z``) on
    two segments within ``merge_km`` at once. Drops and reports within ``link_km`` of an
    active accident, or within ``join_km`` / ``merge_km`` of one that started less than
    ``join_s`` ago, join it instead of raising another one; so does a drop within the
    accident's queue, which backs up at ``queue_kmh`` from ``link_km`` to ``queue_km``. A
    report within ``queue_km`` of an unreported speed-only accident seen up to
    ``report_lag_s`` before it is that accident's head: the accident moves to the report
    (the drop was the far end of its queue).
``signal_fault`` (entity: signal id)
    a dark / flashing / stuck signal where traffic is already disturbed (an accident or a
    congested segment within ``link_km``, now or within ``fault_hold_s``). A lone
    communication loss or a fault on a flowing road is a maintenance ticket, not an
    operations alert (set ``all_faults=True`` to report every fault, as ``info``).

The usual speed of a segment is learned online from its own readings: a robust
exponentially weighted mean of log speed (time constant ``tau_s``, residuals clipped at
2.5 sd, not updated while the segment is disturbed) that follows the daily rush hours, and
an hour-of-day profile (the 85th percentile of speed per local hour, learned across days)
that gives a warm prior after a gap and, once mature, bounds the baseline. Event time drives
everything; :meth:`tick` resolves stale findings when a segment stops reporting.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Callable

from city.profile import CityProfile
from detectors.findings import FIRING, RESOLVED, Finding
from detectors.rules import RuleDetector
from detectors.geo import Grid, cell_key, haversine_km, local_hour

_MIN = 60_000
SEVERITY_RANK = {"info": 0, "minor": 1, "major": 2, "critical": 3}
DISRUPTIVE_FAULTS = ("dark", "flashing", "stuck")
FAULT_ZH = {"dark": "黑灯", "flashing": "黄闪", "stuck": "锁相", "comm_loss": "通信中断"}


def district_names(profile: CityProfile | None, code: str) -> tuple[str, str]:
    """(zh, en) of a district code, or the code itself when unknown."""
    if profile is not None and code:
        try:
            d = profile.district(code)
            return d.zh, d.en
        except KeyError:
            pass
    return code, code


class _Seg:
    """Online state of one road segment."""

    __slots__ = ("lat", "lon", "district", "level", "var", "n", "last_t", "below", "above",
                 "acc_below", "congested", "since", "last_normal", "ratio", "z", "speed", "hod",
                 "hod_n", "ev", "base_at_fire")

    def __init__(self, lat: float, lon: float, district: str) -> None:
        self.lat, self.lon, self.district = lat, lon, district
        self.level = 0.0          # EW mean of log(speed) on undisturbed readings
        self.var = 0.0            # EW variance of the log residual
        self.n = 0                # undisturbed readings learned since the last (re)start
        self.last_t = 0
        self.below = 0            # consecutive readings below the congestion line
        self.above = 0            # consecutive readings above the clear line (when firing)
        self.acc_below = 0        # consecutive readings below the accident line
        self.congested = False
        self.since = 0            # when the current finding started
        self.last_normal = 0      # last reading at or above clear_ratio
        self.ratio = 1.0
        self.z = 0.0
        self.speed = 0.0
        self.hod: list[float | None] = [None] * 24   # log p85 speed per local hour
        self.hod_n: list[int] = [0] * 24
        self.ev: list[str] = []   # recent event ids (evidence)
        self.base_at_fire = 0.0

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "_Seg":
        s = cls(d["lat"], d["lon"], d["district"])
        for k in cls.__slots__:
            if k in d:
                setattr(s, k, d[k])
        return s


class TrafficDetector(RuleDetector):
    name = "traffic_incident"
    streams = ("traffic",)
    routes = {("traffic", "segment"): "_segment", ("traffic", "accident"): "_accident",
              ("traffic", "signal_fault"): "_fault"}

    def __init__(self, profile: CityProfile | None = None, *, tz_hours: float | None = None,
                 tau_s: float = 600.0, warm_readings: int = 6, sd_floor: float = 0.03,
                 sd_init: float = 0.08, congest_ratio: float = 0.65, congest_z: float = 3.0,
                 congest_readings: int = 2, clear_ratio: float = 0.85, clear_readings: int = 2,
                 accident_ratio: float = 0.5, accident_readings: int = 2,
                 sudden_s: float = 300.0, drop_ratio: float = 0.85, drop_z: float = 6.0,
                 drop_pair_s: float = 90.0, context_ratio: float = 0.8, context_min: int = 10,
                 merge_km: float = 2.0, join_km: float = 5.0, join_s: float = 240.0,
                 link_km: float = 0.5, queue_km: float = 3.0, queue_kmh: float = 15.0,
                 report_lag_s: float = 900.0, report_hold_s: float = 600.0,
                 report_ttl_s: float = 2700.0, report_severity: int = 3, report_lanes: int = 2,
                 fault_hold_s: float = 300.0,
                 fault_ttl_s: float = 1800.0, all_faults: bool = False,
                 stale_s: float = 900.0, hod_quantile: float = 0.85, hod_step: float = 0.03,
                 hod_mature: int = 240, max_segments: int = 100_000,
                 max_pending: int = 10_000,
                 road_names: Mapping[str, tuple[str, str]] | None = None) -> None:
        self.profile = profile
        # a segment is named by its road (id "<road>:<piece>"): {road id: (zh, en)}
        self.road_names = dict(road_names or {})
        self.tz_hours = (tz_hours if tz_hours is not None else
                         (profile.utc_offset_hours if profile is not None else 0.0))
        self.tau_s, self.warm_readings = tau_s, warm_readings
        self.sd_floor, self.sd_init = sd_floor, sd_init
        self.congest_ratio, self.congest_z = congest_ratio, congest_z
        self.congest_readings = congest_readings
        self.clear_ratio, self.clear_readings = clear_ratio, clear_readings
        self.accident_ratio, self.accident_readings = accident_ratio, accident_readings
        self.sudden_s, self.context_ratio, self.context_min = sudden_s, context_ratio, context_min
        self.drop_ratio, self.drop_z, self.drop_pair_s = drop_ratio, drop_z, drop_pair_s
        self.merge_km, self.link_km = merge_km, link_km
        self.queue_km, self.queue_kmh, self.report_lag_s = queue_km, queue_kmh, report_lag_s
        self.join_km, self.join_s = join_km, join_s
        self.report_hold_s, self.report_ttl_s = report_hold_s, report_ttl_s
        self.report_severity, self.report_lanes = report_severity, report_lanes
        self.fault_hold_s, self.fault_ttl_s, self.all_faults = fault_hold_s, fault_ttl_s, all_faults
        self.stale_s = stale_s
        self.hod_quantile, self.hod_step, self.hod_mature = hod_quantile, hod_step, hod_mature
        self.max_segments, self.max_pending = max_segments, max_pending
        ref = profile.center[0] if profile is not None else 28.2
        self.grid = Grid(0.5, ref)
        self._reset()

    def _reset(self) -> None:
        self.segs: dict[str, _Seg] = {}
        self.cells: dict[str, list[str]] = {}          # cell -> segment ids
        self.by_district: dict[str, list[str]] = {}   # district -> segment ids
        self.drops: dict[str, int] = {}                # segment -> time of a sudden drop
        self.accidents: dict[str, dict[str, Any]] = {}  # active, by entity id
        self.pending_reports: dict[str, dict[str, Any]] = {}
        self.pending_by_seg: dict[str, list[str]] = {}  # segment -> held reports naming it
        self.faults: dict[str, dict[str, Any]] = {}    # active signal-fault findings
        self.pending_faults: dict[str, dict[str, Any]] = {}
        self.now = 0
        self.counters: dict[str, int] = {}

    # -- protocol --------------------------------------------------------------------------
    def tick(self, now_ms: int) -> list[Finding]:
        out: list[Finding] = []
        now = int(now_ms)
        if now > self.now:
            self.now = now
        self._expire(now, out)
        return out

    # -- segments ----------------------------------------------------------------------------
    def _seg_state(self, e: dict[str, Any]) -> _Seg:
        sid = e["entity_id"]
        s = self.segs.get(sid)
        if s is None:
            if len(self.segs) >= self.max_segments:
                self._evict()
            s = self.segs[sid] = _Seg(float(e["lat"]), float(e["lon"]), e.get("district", ""))
            self._index(sid, s)
        return s

    def _index(self, sid: str, s: _Seg) -> None:
        self.cells.setdefault(cell_key(self.grid.cell(s.lat, s.lon)), []).append(sid)
        self.by_district.setdefault(s.district, []).append(sid)

    def _evict(self) -> None:
        """Drop the segment heard from least recently (bounded memory)."""
        sid = min(self.segs, key=lambda k: self.segs[k].last_t)
        s = self.segs.pop(sid)
        ck = cell_key(self.grid.cell(s.lat, s.lon))
        if sid in self.cells.get(ck, []):
            self.cells[ck].remove(sid)
        if sid in self.by_district.get(s.district, []):
            self.by_district[s.district].remove(sid)
        self.drops.pop(sid, None)
        self._count("segments_evicted")

    def _context(self, s: _Seg, t: int) -> tuple[float, int]:
        """Median latest ratio of the warm, fresh segments of the district farther than
        ``merge_km`` from ``s`` (the whole city when the district has too few): is the
        whole area slow (weather, an event) rather than this place?"""
        def ratios(ids: list[str]) -> list[float]:
            out = []
            for k in ids:
                o = self.segs.get(k)
                if o is not None and o is not s and o.n >= self.warm_readings and \
                        t - o.last_t <= 2 * _MIN and \
                        haversine_km(s.lat, s.lon, o.lat, o.lon) > self.merge_km:
                    out.append(o.ratio)
            return out
        r = ratios(self.by_district.get(s.district, []))
        if len(r) < self.context_min:
            r = ratios(list(self.segs))
        if not r:
            return 1.0, 0
        r.sort()
        return r[len(r) // 2], len(r)

    def _segment(self, e: dict[str, Any], t: int, out: list[Finding]) -> None:
        speed = max(float(e["speed_kmh"]), 0.5)
        s = self._seg_state(e)
        if t < s.last_t:
            self._count("out_of_order")
            return
        sid = e["entity_id"]
        x = math.log(speed)
        h = int(local_hour(t, self.tz_hours))
        gap = (t - s.last_t) / 1000.0 if s.last_t else math.inf
        s.ev = (s.ev + [e["event_id"]])[-6:]
        s.speed = speed
        if s.n == 0 or gap > self.stale_s:
            # first reading, or back after a silence: (re)start from the hour-of-day profile
            # when it is mature, else from this reading, and warm up again before alerting
            prior = s.hod[h] if s.hod_n[h] >= self.hod_mature else None
            s.level = x if prior is None else prior
            if s.n == 0:
                s.var = self.sd_init ** 2
            s.n = 1
            s.below = s.above = s.acc_below = 0
            s.last_t = s.last_normal = t
            s.ratio = math.exp(x - s.level)
            return
        s.last_t = t
        base = self._baseline(s, h)
        ratio = math.exp(x - base)
        sd = max(math.sqrt(s.var), self.sd_floor)
        z = (x - base) / sd
        s.ratio, s.z = ratio, z
        warm = s.n >= self.warm_readings
        low = ratio < self.congest_ratio and z < -self.congest_z
        s.below = s.below + 1 if low else 0
        acc_low = ratio < self.accident_ratio and z < -self.congest_z
        s.acc_below = s.acc_below + 1 if acc_low else 0
        if ratio >= self.clear_ratio:
            s.above += 1
            s.last_normal = t
        else:
            s.above = 0
        # learn the usual speed from undisturbed readings only (robust, clipped residual)
        disturbed = s.congested or self._has_acc(sid) or ratio < self.congest_ratio
        if not disturbed:
            a = 1.0 - math.exp(-min(gap, self.stale_s) / self.tau_s)
            r = max(-2.5 * sd, min(2.5 * sd, x - s.level))
            s.level += a * r
            s.var = (1 - a) * s.var + a * r * r
            s.n += 1
            q = s.hod[h]
            if q is None:
                s.hod[h] = x
            else:
                s.hod[h] = q + self.hod_step * (self.hod_quantile - (1.0 if x < q else 0.0))
            s.hod_n[h] += 1
        if not warm:
            return
        for rid in self.pending_by_seg.get(sid, ()):  # a held report names this segment
            if self._slowed(s, t) and rid in self.pending_reports:
                self._open_report(self.pending_reports.pop(rid), t, [sid], out)
        if not s.congested and s.below >= self.congest_readings:
            s.congested, s.since, s.above = True, t, 0
            s.base_at_fire = math.exp(base)
            out.append(self._congestion(sid, s, t, FIRING, ratio, z, h))
            self._on_disturbance(sid, s, t, out)
        elif s.congested and s.above >= self.clear_readings:
            s.congested = False
            out.append(self._congestion(sid, s, t, RESOLVED, ratio, z, h))
        sudden = t - s.last_normal <= self.sudden_s * 1000
        drop = sudden and ratio < self.drop_ratio and z < -self.drop_z
        if drop:
            self.drops[sid] = t
        # a sudden deep drop held for ``accident_readings``, or a sudden sharp drop on two
        # nearby segments at once (two independent detectors agree): an incident
        pair = drop and self._drop_partner(sid, s, t)
        if (pair or (s.acc_below >= self.accident_readings and sudden)) and \
                not self._has_acc(sid):
            ctx, n_ctx = self._context(s, t)
            if ctx >= self.context_ratio:
                self._speed_accident(sid, s, t, ratio, z, ctx, n_ctx, out,
                                     pair if isinstance(pair, str) else None)
            else:
                self._count("drops_in_area_slowdown")
        self._check_accidents_clear(t, out)

    def _drop_partner(self, sid: str, s: _Seg, t: int) -> str | bool:
        """Another segment within ``merge_km`` that dropped suddenly in the last
        ``drop_pair_s`` (its id), else False."""
        horizon = t - self.drop_pair_s * 1000
        for k in [k for k, v in self.drops.items() if v < horizon]:
            del self.drops[k]
        for k in self.drops:
            if k != sid:
                o = self.segs.get(k)
                if o is not None and haversine_km(s.lat, s.lon, o.lat, o.lon) <= self.merge_km:
                    return k
        return False

    def _baseline(self, s: _Seg, h: int) -> float:
        """Usual log speed now: the recent level, bounded by a mature hour-of-day profile
        (a level dragged down by a long disturbance is lifted back to what this hour has
        looked like on previous days)."""
        q = s.hod[h]
        if q is not None and s.hod_n[h] >= self.hod_mature and q > s.level + 0.35:
            return q - 0.35
        return s.level

    def _has_acc(self, sid: str) -> bool:
        return any(sid in a["segs"] for a in self.accidents.values())

    def _congestion(self, sid: str, s: _Seg, t: int, status: str, ratio: float, z: float,
                    h: int) -> Finding:
        base = s.base_at_fire or math.exp(s.level)
        dz, de = district_names(self.profile, s.district)
        sev = "major" if ratio < 0.4 else "minor"
        hod = s.hod[h]
        wz, we = self._place(sid, sid)
        if status == FIRING:
            tz = f"{dz}{wz} 拥堵：{s.speed:.0f} km/h，常态 {base:.0f} km/h（{ratio:.0%}）"
            te = f"Congestion on {we} ({de}): {s.speed:.0f} km/h vs usual {base:.0f} km/h " \
                 f"({ratio:.0%})"
        else:
            tz = f"{dz}{wz} 拥堵解除：{s.speed:.0f} km/h"
            te = f"Congestion cleared on {we} ({de}): {s.speed:.0f} km/h"
        return Finding(
            self.name, "traffic_congestion", sid, status, sev, t, tz, te, stream="traffic",
            value=round(s.speed, 1), threshold=round(self.congest_ratio * base, 1),
            unit="km/h", lat=s.lat, lon=s.lon, district=s.district, evidence=tuple(s.ev),
            explanation={"baseline_kmh": round(base, 1), "ratio": round(ratio, 3),
                         "deviation_pct": round((ratio - 1) * 100, 1), "z": round(z, 2),
                         "hour_profile_p85_kmh": round(math.exp(hod), 1) if hod else None,
                         "window": {"baseline_tau_s": self.tau_s,
                                    "readings": self.congest_readings},
                         "since_ms": s.since})

    # -- accidents -----------------------------------------------------------------------------
    def _near_segments(self, lat: float, lon: float, km: float) -> list[tuple[str, float]]:
        out = []
        for c in self.grid.near(lat, lon, km):
            for sid in self.cells.get(cell_key(c), ()):
                s = self.segs.get(sid)
                if s is None:
                    continue
                d = float(haversine_km(lat, lon, s.lat, s.lon))
                if d <= km:
                    out.append((sid, d))
        return sorted(out, key=lambda x: x[1])

    def _slowed(self, s: _Seg, t: int) -> bool:
        """Visibly slower than usual now: below ``clear_ratio`` and a real outlier."""
        return s.n >= self.warm_readings and t - s.last_t <= 2 * _MIN and \
            s.ratio < self.clear_ratio and s.z < -self.congest_z

    def _disturbed_near(self, lat: float, lon: float, seg_id: str | None) -> list[str]:
        """Segments that are congested or well below their usual speed — or, for the
        segment a report names, just visibly slowed."""
        out = []
        if seg_id and seg_id in self.segs:
            s = self.segs[seg_id]
            if s.congested or self._slowed(s, self.now):
                out.append(seg_id)
        for sid, _ in self._near_segments(lat, lon, self.link_km):
            s = self.segs[sid]
            if sid != seg_id and s.n >= self.warm_readings and (s.congested or (
                    s.ratio < self.congest_ratio and self.now - s.last_t <= 2 * _MIN)):
                out.append(sid)
        return out

    def _nearest_accident(self, lat: float, lon: float,
                          within: Callable[[dict[str, Any], float], bool]) -> str | None:
        """The nearest active accident for which ``within(accident, km away)`` holds."""
        best, bd = None, math.inf
        for aid, a in self.accidents.items():
            d = float(haversine_km(lat, lon, a["lat"], a["lon"]))
            if d < bd and within(a, d):
                best, bd = aid, d
        return best

    def _active_accident_near(self, lat: float, lon: float, km: float, t: int | None = None,
                              young_km: float = 0.0) -> str | None:
        """The nearest active accident within ``km`` or, given ``t``, within ``young_km`` when
        it started less than ``join_s`` ago (drops and reports that come together belong
        together, as the queue of one accident spreads over nearby roads; later ones farther
        than ``km`` are another accident)."""
        return self._nearest_accident(lat, lon, lambda a, d: d <= km or (
            t is not None and t - a["t0"] <= self.join_s * 1000 and d <= young_km))

    def _queue_of(self, lat: float, lon: float, t: int) -> str | None:
        """The active accident whose queue a drop here at ``t`` can be: the queue backs up
        at ``queue_kmh`` (a shockwave of ~15 km/h) from ``link_km``, up to ``queue_km``."""
        return self._nearest_accident(lat, lon, lambda a, d: d <= min(
            self.queue_km, self.link_km + self.queue_kmh * max(0, t - a["t0"]) / 3_600_000))

    def _queue_tail(self, lat: float, lon: float, t: int) -> str | None:
        """An unreported speed-only accident that a report here at ``t`` explains: within
        ``queue_km`` and seen at most ``report_lag_s`` before it (reports come minutes
        late, and by then the queue behind the accident can be kilometres long, its far
        end the first segment to trip). The nearest, if several."""
        return self._nearest_accident(lat, lon, lambda a, d: (
            d <= self.queue_km and a["source"] == "speed" and not a["reports"]
            and 0 <= t - a["t0"] <= self.report_lag_s * 1000))

    def _accident(self, e: dict[str, Any], t: int, out: list[Finding]) -> None:
        rid = e["entity_id"]
        if rid in self.accidents or rid in self.pending_reports:
            return
        lat, lon = float(e["lat"]), float(e["lon"])
        sev, lanes = int(e.get("severity", 1)), int(e.get("lanes_blocked", 0))
        rep = {"id": rid, "t": t, "lat": lat, "lon": lon, "district": e.get("district", ""),
               "severity": sev, "lanes": lanes, "segment": e.get("segment_id"),
               "ev": [e["event_id"]]}
        near = self._active_accident_near(lat, lon, self.link_km, t, self.merge_km)
        if near is not None:  # the same accident seen by the detectors, or a second report
            a = self.accidents[near]
            a["ev"] = (a["ev"] + [e["event_id"]])[-20:]
            a["reports"].append(rid)
            if a["severity"] != "critical" and (sev >= 3 or lanes >= 2 or a["source"] == "speed"):
                a["severity"] = "critical" if sev >= 4 else "major"
                a["source"] = "report+speed" if a["source"] == "speed" else a["source"]
                out.append(self._accident_finding(near, a, t, FIRING))
            return
        tail = self._queue_tail(lat, lon, t)
        if tail is not None:   # the drop seen first was this accident's queue: move it here
            a = self.accidents[tail]
            a.update(source="report+speed", lat=lat, lon=lon, seg=rep["segment"] or a["seg"],
                     district=rep["district"] or a["district"], report_severity=sev,
                     lanes=lanes, queue_km=round(float(haversine_km(
                         lat, lon, a["lat"], a["lon"])), 2))
            a["reports"].append(rid)
            a["ev"] = (a["ev"] + [e["event_id"]])[-20:]
            if sev >= 4:
                a["severity"] = "critical"
            out.append(self._accident_finding(tail, a, t, FIRING))
            return
        disturbed = self._disturbed_near(lat, lon, rep["segment"])
        if disturbed or sev >= self.report_severity or lanes >= self.report_lanes:
            self._open_report(rep, t, disturbed, out)
        else:
            if len(self.pending_reports) >= self.max_pending:
                self._count("pending_reports_dropped")
                return
            self.pending_reports[rid] = rep  # a minor report: wait for slow traffic near it
            if rep["segment"]:
                self.pending_by_seg.setdefault(rep["segment"], []).append(rid)

    def _open_report(self, rep: dict[str, Any], t: int, disturbed: list[str],
                     out: list[Finding]) -> None:
        sev, lanes = rep["severity"], rep["lanes"]
        severity = "critical" if sev >= 4 else "major" if (sev >= 3 or lanes >= 2 or disturbed) \
            else "minor"
        a = {"source": "report", "t0": rep["t"], "lat": rep["lat"], "lon": rep["lon"],
             "district": rep["district"], "severity": severity, "segs": list(disturbed),
             "reports": [rep["id"]], "ev": list(rep["ev"]), "seg": rep["segment"],
             "report_severity": sev, "lanes": lanes, "ratio": None, "confirmed": bool(disturbed)}
        for sid in disturbed:
            a["ev"] = (a["ev"] + self.segs[sid].ev[-2:])[-20:]
        self.accidents[rep["id"]] = a
        out.append(self._accident_finding(rep["id"], a, t, FIRING))
        self._release_faults(rep["lat"], rep["lon"], t, out)

    def _speed_accident(self, sid: str, s: _Seg, t: int, ratio: float, z: float, ctx: float,
                        n_ctx: int, out: list[Finding], partner: str | None = None) -> None:
        near = self._active_accident_near(s.lat, s.lon, self.link_km, t, self.join_km) or \
            self._queue_of(s.lat, s.lon, t)
        if near is not None:
            a = self.accidents[near]
            if sid not in a["segs"]:
                a["segs"].append(sid)
                a["ev"] = (a["ev"] + s.ev[-2:])[-20:]
            if not a["confirmed"]:
                a["confirmed"] = True
                if SEVERITY_RANK[a["severity"]] < SEVERITY_RANK["major"]:
                    a["severity"] = "major"
                    out.append(self._accident_finding(near, a, t, FIRING))
            return
        # a pending minor report near the drop is the same accident: open it, confirmed
        for rid, rep in list(self.pending_reports.items()):
            if haversine_km(s.lat, s.lon, rep["lat"], rep["lon"]) <= self.link_km:
                del self.pending_reports[rid]
                self._open_report(rep, t, [sid], out)
                return
        segs = [sid] + ([partner] if partner else [])
        ev = list(s.ev) + (self.segs[partner].ev[-2:] if partner in self.segs else [])
        a = {"source": "speed", "t0": t, "lat": s.lat, "lon": s.lon, "district": s.district,
             "severity": "major", "segs": segs, "reports": [], "ev": ev, "seg": sid,
             "report_severity": None, "lanes": None, "ratio": round(ratio, 3),
             "z": round(z, 2), "baseline_kmh": round(s.base_at_fire or math.exp(s.level), 1),
             "context_ratio": round(ctx, 3), "context_segments": n_ctx, "confirmed": True}
        self.accidents[sid] = a
        out.append(self._accident_finding(sid, a, t, FIRING))
        self._release_faults(s.lat, s.lon, t, out)

    def _on_disturbance(self, sid: str, s: _Seg, t: int, out: list[Finding]) -> None:
        """A segment just became congested: corroborate reports and faults near it."""
        for rid, rep in list(self.pending_reports.items()):
            if rep.get("segment") == sid or \
                    haversine_km(s.lat, s.lon, rep["lat"], rep["lon"]) <= self.link_km:
                del self.pending_reports[rid]
                self._open_report(rep, t, [sid], out)
        for aid, a in self.accidents.items():
            if sid not in a["segs"] and (a.get("seg") == sid or haversine_km(
                    s.lat, s.lon, a["lat"], a["lon"]) <= self.link_km):
                a["segs"].append(sid)
                a["ev"] = (a["ev"] + s.ev[-2:])[-20:]
                if not a["confirmed"]:
                    a["confirmed"] = True
                    if SEVERITY_RANK[a["severity"]] < SEVERITY_RANK["major"]:
                        a["severity"] = "major"
                        out.append(self._accident_finding(aid, a, t, FIRING))
        self._release_faults(s.lat, s.lon, t, out)

    def _check_accidents_clear(self, t: int, out: list[Finding]) -> None:
        for aid in [k for k, a in self.accidents.items() if a["segs"]]:
            a = self.accidents[aid]
            segs = [self.segs[x] for x in a["segs"] if x in self.segs]
            if segs and all(not x.congested and x.above >= self.clear_readings and
                            x.acc_below == 0 for x in segs):
                self._close_accident(aid, t, out, "flow recovered")

    def _close_accident(self, aid: str, t: int, out: list[Finding], why: str) -> None:
        a = self.accidents.pop(aid)
        a["why"] = why
        out.append(self._accident_finding(aid, a, t, RESOLVED))
        for fid in [f for f, x in self.faults.items() if x.get("accident") == aid]:
            self._close_fault(fid, t, out, "accident cleared")

    def _place(self, seg: str | None, aid: str) -> tuple[str, str]:
        """(zh, en) of where an accident is: its segment's road by name where the road is
        known (a segment id is "<road id>:<piece>"), else the segment id, else the report's."""
        if not seg:
            return aid, aid
        names = self.road_names.get(seg.split(":", 1)[0])
        return names if names else (f"路段 {seg}", seg)

    def _accident_finding(self, aid: str, a: dict[str, Any], t: int, status: str) -> Finding:
        dz, de = district_names(self.profile, a["district"])
        where_zh, where_en = self._place(a.get("seg"), aid)
        src = a["source"]
        if status == FIRING:
            if src == "speed":
                tz = f"{dz}疑似交通事故：{where_zh} 车速骤降至常态的 {a['ratio']:.0%}"
                te = f"Suspected accident on {where_en} ({de}): speed fell to " \
                     f"{a['ratio']:.0%} of usual"
            else:
                tz = f"{dz}交通事故：{where_zh}，{a['lanes']} 条车道受阻" + \
                     ("，车流受阻已确认" if a["confirmed"] else "")
                te = f"Traffic accident at {where_en} ({de}): {a['lanes']} lane(s) blocked" + \
                     (", slow traffic confirmed" if a["confirmed"] else "")
        else:
            tz = f"{dz}交通事故 {where_zh} 解除（{'车流恢复' if a.get('why') == 'flow recovered' else '超时'}）"
            te = f"Traffic accident at {where_en} ({de}) resolved ({a.get('why', '')})"
        expl = {k: a.get(k) for k in ("source", "report_severity", "lanes", "ratio", "z",
                                      "baseline_kmh", "context_ratio", "context_segments",
                                      "confirmed", "queue_km")}
        expl.update(segments=list(a["segs"]), reports=list(a["reports"]), since_ms=a["t0"],
                    window={"merge_km": self.merge_km, "link_km": self.link_km,
                            "sudden_s": self.sudden_s}, baseline=a.get("baseline_kmh"),
                    deviation=a.get("ratio"))
        value = float(a["report_severity"] if a["report_severity"] is not None else
                      a.get("ratio") or 0.0)
        return Finding(self.name, "traffic_accident", aid, status, a["severity"], t, tz, te,
                       stream="traffic", value=value,
                       threshold=self.accident_ratio if src == "speed" else 0.0,
                       unit="ratio" if src == "speed" else "severity", lat=a["lat"],
                       lon=a["lon"], district=a["district"], evidence=tuple(a["ev"]),
                       explanation=expl)

    # -- signal faults -------------------------------------------------------------------------
    def _fault(self, e: dict[str, Any], t: int, out: list[Finding]) -> None:
        sig = e["entity_id"]
        fault = e.get("fault", "")
        if sig in self.faults:
            self.faults[sig]["ev"] = (self.faults[sig]["ev"] + [e["event_id"]])[-10:]
            return
        f = {"id": sig, "t": t, "lat": float(e["lat"]), "lon": float(e["lon"]),
             "district": e.get("district", ""), "fault": fault, "ev": [e["event_id"]]}
        if fault in DISRUPTIVE_FAULTS:
            if self._fault_context(f):
                self._open_fault(f, t, out)
                return
            if len(self.pending_faults) < self.max_pending:
                self.pending_faults[sig] = f
            else:
                self._count("pending_faults_dropped")
            if not self.all_faults:
                return
        if self.all_faults and sig not in self.faults:
            f["severity"] = "info"
            self.faults[sig] = f
            out.append(self._fault_finding(sig, f, t, FIRING))

    def _fault_context(self, f: dict[str, Any]) -> bool:
        acc = self._active_accident_near(f["lat"], f["lon"], self.link_km)
        segs = self._disturbed_near(f["lat"], f["lon"], None)
        f["accident"], f["segments"] = acc, segs
        return acc is not None or bool(segs)

    def _open_fault(self, f: dict[str, Any], t: int, out: list[Finding]) -> None:
        f["severity"] = "major" if f.get("accident") else "minor"
        self.pending_faults.pop(f["id"], None)
        self.faults[f["id"]] = f
        out.append(self._fault_finding(f["id"], f, t, FIRING))

    def _release_faults(self, lat: float, lon: float, t: int, out: list[Finding]) -> None:
        for sig, f in list(self.pending_faults.items()):
            if haversine_km(lat, lon, f["lat"], f["lon"]) <= self.link_km and \
                    self._fault_context(f):
                if sig in self.faults:  # reported as info: escalate
                    self.faults.pop(sig)
                self._open_fault(f, t, out)

    def _close_fault(self, sig: str, t: int, out: list[Finding], why: str) -> None:
        f = self.faults.pop(sig)
        f["why"] = why
        out.append(self._fault_finding(sig, f, t, RESOLVED))

    def _fault_finding(self, sig: str, f: dict[str, Any], t: int, status: str) -> Finding:
        dz, de = district_names(self.profile, f["district"])
        fz = FAULT_ZH.get(f["fault"], f["fault"])
        if status == FIRING:
            ctx_zh = "，附近有交通事故" if f.get("accident") else \
                "，附近路段拥堵" if f.get("segments") else ""
            ctx_en = " near an accident" if f.get("accident") else \
                " on a congested road" if f.get("segments") else ""
            tz, te = f"{dz}信号灯 {sig} 故障（{fz}）{ctx_zh}", \
                f"Signal {sig} ({de}) {f['fault']}{ctx_en}"
        else:
            tz, te = f"{dz}信号灯 {sig} 故障告警解除", f"Signal fault {sig} ({de}) closed " \
                f"({f.get('why', '')})"
        return Finding(self.name, "signal_fault", sig, status, f.get("severity", "minor"), t,
                       tz, te, stream="traffic", value=0.0, threshold=0.0, unit="",
                       lat=f["lat"], lon=f["lon"], district=f["district"],
                       evidence=tuple(f["ev"]),
                       explanation={"fault": f["fault"], "accident": f.get("accident"),
                                    "disturbed_segments": list(f.get("segments", [])),
                                    "baseline": "no fault", "deviation": f["fault"],
                                    "since_ms": f["t"],
                                    "window": {"link_km": self.link_km,
                                               "hold_s": self.fault_hold_s,
                                               "ttl_s": self.fault_ttl_s}})

    # -- time ----------------------------------------------------------------------------------
    def _expire(self, now: int, out: list[Finding]) -> None:
        for rid in [k for k, r in self.pending_reports.items()
                    if now - r["t"] > self.report_hold_s * 1000]:
            del self.pending_reports[rid]
            self._count("minor_reports_uncorroborated")
        self.pending_by_seg = {}
        for rid, r in self.pending_reports.items():
            if r.get("segment"):
                self.pending_by_seg.setdefault(r["segment"], []).append(rid)
        for sig in [k for k, f in self.pending_faults.items()
                    if now - f["t"] > self.fault_hold_s * 1000]:
            del self.pending_faults[sig]
            self._count("faults_without_disturbance")
        for aid in list(self.accidents):
            a = self.accidents[aid]
            segs = [self.segs[x] for x in a["segs"] if x in self.segs]
            fresh = [x for x in segs if now - x.last_t <= self.stale_s * 1000]
            if not segs and now - a["t0"] > self.report_ttl_s * 1000:
                self._close_accident(aid, now, out, "expired")
            elif segs and not fresh:
                self._close_accident(aid, now, out, "no data")
        for sig in list(self.faults):
            f = self.faults[sig]
            if f.get("accident") and f["accident"] not in self.accidents:
                self._close_fault(sig, now, out, "accident cleared")
            elif now - f["t"] > self.fault_ttl_s * 1000:
                self._close_fault(sig, now, out, "expired")
        for sid, s in self.segs.items():
            if s.congested and now - s.last_t > self.stale_s * 1000:
                s.congested = False
                s.below = s.above = s.acc_below = 0
                f = self._congestion(sid, s, now, RESOLVED, s.ratio, 0.0,
                                     int(local_hour(now, self.tz_hours)))
                out.append(Finding(**{**f.__dict__, "title_zh": f.title_zh + "（无数据）",
                                      "title_en": f.title_en + " (no data)",
                                      "explanation": {**f.explanation, "reason": "no data"}}))

    # -- checkpoint --------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        return {"v": 1, "now": self.now, "segs": {k: s.to_json() for k, s in self.segs.items()},
                "accidents": self.accidents, "pending_reports": self.pending_reports,
                "faults": self.faults, "pending_faults": self.pending_faults,
                "counters": self.counters}

    def restore(self, state: Any) -> None:
        self._reset()
        if not isinstance(state, dict) or state.get("v") != 1:
            return
        self.now = int(state.get("now", 0))
        for sid, d in state.get("segs", {}).items():
            s = self.segs[sid] = _Seg.from_json(d)
            self._index(sid, s)
        self.accidents = dict(state.get("accidents", {}))
        self.pending_reports = dict(state.get("pending_reports", {}))
        for rid, r in self.pending_reports.items():
            if r.get("segment"):
                self.pending_by_seg.setdefault(r["segment"], []).append(rid)
        self.faults = dict(state.get("faults", {}))
        self.pending_faults = dict(state.get("pending_faults", {}))
        self.counters = dict(state.get("counters", {}))
