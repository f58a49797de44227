"""The deterministic generator: ``Simulation(...).tick(until_ms)`` -> events by stream.

No wall clock: the timeline starts at ``start_ms`` and advances only through ``tick``. Fixed
points (sensors, segments, panels) are pure functions of (seed, entity, time); fleets move
in event-time order between discrete actions (calls, incident steps), so the output does not
depend on how the timeline is cut into ticks.
"""

from __future__ import annotations

import heapq
import math
from itertools import repeat
from typing import TYPE_CHECKING, Any, Iterable, Mapping

import numpy as np

from city.profile import CityProfile
from schemas.catalog import STREAMS

from . import incidents as inc_mod
from .fleets import Fleets
from .incidents import Incident, opaque_id
from .readings import PER_DAY, background_hour, panel_signals, segment_values, sensor_values
from .world import World, build_world

if TYPE_CHECKING:
    from dispatch.graph import RoadGraph

HOUR_MS = 3_600_000
DEFAULT_INCIDENTS_PER_HOUR = 1.0
_SOURCES = {"ems_call": "cs120-cad", "fire_call": "cs119-cad", "accident": "tp122",
            "signal_fault": "its-signal", "alarm": "fas-gw"}


def iso(t: np.ndarray) -> list[str]:
    """Epoch ms -> ``YYYY-MM-DDTHH:MM:SS.mmmZ`` strings, vectorised."""
    return np.datetime_as_string(np.asarray(t).astype("datetime64[ms]"), unit="ms",
                                 timezone="UTC").tolist()


class Output:
    """Chunks of events per stream, merged into event-time order at the end of a tick."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.chunks: dict[str, list[tuple[np.ndarray, list[dict[str, Any]]]]] = {
            s: [] for s in STREAMS}

    def rows(self, stream: str, etype: str, code: str, t: np.ndarray, entity: list[str],
             source: Iterable[str], district: Iterable[str], optional: tuple[str, ...] = (),
             **cols: Iterable[Any]) -> None:
        """Append events built column-wise; ``code`` makes the event id unique per type;
        ``optional`` columns are left out of an event where they are empty."""
        if len(t) == 0:
            return
        ts = t.tolist()
        ids = [f"s{self.seed}.{e}.{x}.{code}" for e, x in zip(entity, ts)]
        keys = ("event_id", "type", "event_time", "source", "entity_id", "district", *cols)
        data = zip(ids, repeat(etype), iso(t), source, entity, district, *cols.values())
        events = [dict(zip(keys, row)) for row in data]
        for e in events if optional else ():
            for k in optional:
                if not e[k]:
                    del e[k]
        self.chunks[stream].append((t, events))

    def one(self, stream: str, etype: str, code: str, t: int, entity: str, source: str,
            district: str, **fields: Any) -> None:
        self.rows(stream, etype, code, np.array([t], np.int64), [entity], [source], [district],
                  **{k: [v] for k, v in fields.items()})

    def finish(self) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        for stream, chunks in self.chunks.items():
            if len(chunks) <= 1:
                out[stream] = chunks[0][1] if chunks else []
                continue
            t = np.concatenate([c[0] for c in chunks])
            events = [e for c in chunks for e in c[1]]
            out[stream] = [events[i] for i in np.argsort(t, kind="stable").tolist()]
        return out


class Simulation:
    """A seeded, deterministic city from ``start_ms`` on.

    ``incidents``: a mean number per hour, scheduled from the seed (0: none), or explicit
    ones: planned :class:`Incident` objects or ``inject`` keyword dicts such as
    ``{"kind": "gas_leak", "at_ms": ..., "district": "furong"}``.
    """

    def __init__(self, profile: CityProfile, scale: float = 1.0, seed: int = 7,
                 start_ms: int | None = None,
                 incidents: float | Iterable[Incident | Mapping[str, Any]] =
                 DEFAULT_INCIDENTS_PER_HOUR, roads: "RoadGraph | None | str" = "profile"
                 ) -> None:
        if start_ms is None:
            raise TypeError("start_ms is required: the generator never reads the clock")
        self.profile, self.scale, self.seed = profile, scale, seed
        self.world: World = build_world(profile, scale, seed, roads)
        self.start_ms = self.now_ms = int(start_ms)
        self._effects: list[inc_mod.Effect] = []
        self._effects_version = 0
        self.fleets = Fleets(self.world, self.start_ms, self._road_effects)
        self._clock = self.start_ms  # time of the action being handled: nothing goes before
        self._heap: list[tuple[int, str, str, dict[str, Any]]] = []
        self._truth: list[dict[str, Any]] = []
        self._truth_read = 0
        self._trips: list[dict[str, Any]] = []
        self._trips_read = 0
        self._injected = 0
        self._next_hour = self.start_ms // HOUR_MS
        self._per_hour = incidents if isinstance(incidents, (int, float)) else 0.0
        if not isinstance(incidents, (int, float)):
            for item in incidents:
                if isinstance(item, Incident):
                    self._register(item)
                else:
                    self.inject(**item)

    # -- public --------------------------------------------------------------------------
    def tick(self, until_ms: int) -> dict[str, list[dict[str, Any]]]:
        """All events with event time in (now, until_ms], per stream, in event-time order."""
        out = Output(self.seed)
        until_ms = int(until_ms)
        if until_ms <= self.now_ms:
            return out.finish()
        while self._next_hour * HOUR_MS <= until_ms:
            self._load_hour(self._next_hour)
            self._next_hour += 1
        self._effects = [e for e in self._effects if e.t1 > self.now_ms]
        self.fleets.effects = [e for e in self.fleets.effects if e.t1 > self.now_ms]
        a = self._clock = self.now_ms
        self._fixed(a, until_ms, out)
        while self._heap and self._heap[0][0] <= until_ms:
            t = self._heap[0][0]
            self.fleets.advance(a, t, out)
            a = self._clock = t
            while self._heap and self._heap[0][0] == t:
                _, key, name, params = heapq.heappop(self._heap)
                getattr(self, "_on_" + name)(t, key, params, out)
        self.fleets.advance(a, until_ms, out)
        self.now_ms = until_ms
        self._trips.extend(self.fleets.take_trips(until_ms))
        return out.finish()

    def inject(self, kind: str, at_ms: int, *, lat: float | None = None,
               lon: float | None = None, district: str | None = None,
               duration_s: float | None = None) -> Incident:
        """Schedule an incident of ``kind`` (see ``incidents.KINDS``) starting at ``at_ms``."""
        if at_ms <= self.now_ms:
            raise ValueError(f"cannot inject at {at_ms}: the simulation is at {self.now_ms}")
        self._injected += 1
        rng = np.random.default_rng([self.seed, 0x17, self._injected])
        iid = f"INC-{inc_mod.CODES.get(kind, 'X')}-X{self._injected:03d}"
        inc = inc_mod.plan(kind, self.world, iid, int(at_ms), rng, lat=lat, lon=lon,
                           district=district, duration_s=duration_s)
        self._register(inc)
        return inc

    @property
    def truth(self) -> list[dict[str, Any]]:
        """Ground truth of every incident started so far."""
        return list(self._truth)

    def pop_truth(self) -> list[dict[str, Any]]:
        """Ground-truth records of incidents started since the last call."""
        new = self._truth[self._truth_read:]
        self._truth_read = len(self._truth)
        return new

    @property
    def trips(self) -> list[dict[str, Any]]:
        """Ground truth of every dispatched trip completed so far (on the road graph): unit,
        ``ref`` (call or fire incident), ``leg`` (respond, transport, return), start and
        destination node, start and arrival time, true travel, route metres, free-flow s."""
        return list(self._trips)

    def pop_trips(self) -> list[dict[str, Any]]:
        """Trip records completed since the last call."""
        new = self._trips[self._trips_read:]
        self._trips_read = len(self._trips)
        return new

    def _road_effects(self) -> tuple[list[inc_mod.Effect], int]:
        return self._effects, self._effects_version

    def expected_rates(self) -> dict[str, float]:
        """Target events/s per stream: periodic reports plus background calls and reports."""
        r = self.world.expected_rates()
        day = 86_400.0 / self.scale
        r["ems"] += PER_DAY["ems_call"] / day
        r["fire"] += PER_DAY["fire_call"] / day
        r["traffic"] += (PER_DAY["accident"] + PER_DAY["signal_fault"]) / day
        return r

    # -- scheduling ----------------------------------------------------------------------
    def _push(self, t: int, key: str, name: str, params: dict[str, Any]) -> None:
        heapq.heappush(self._heap, (max(int(t), self._clock), key, name, params))

    def _register(self, inc: Incident) -> None:
        self._effects.extend(e for e in inc.effects if not e.group.startswith("tank"))
        self._effects_version += 1
        self.fleets.effects.extend(e for e in inc.effects if e.group.startswith("tank"))
        self._push(inc.start_ms, inc.incident_id, "activate", {"incident": inc})

    def _load_hour(self, hour: int) -> None:
        for t, key, name, params in background_hour(self.world, hour):
            if t > self.start_ms:
                self._push(t, key, name, params)
        for inc in inc_mod.schedule_hour(self.world, hour, float(self._per_hour)):
            if inc.start_ms > self.start_ms:
                self._register(inc)

    # -- fixed points --------------------------------------------------------------------
    def _fixed(self, a: int, b: int, out: Output) -> None:
        """Lifeline sensors, road segments and alarm panels reporting in (a, b]."""
        w = self.world
        s, idx, t = w.sensors, *w.sensors.schedule.due(a, b)
        out.rows("lifeline", "reading", "r", t, s.ids[idx].tolist(), s.source[idx].tolist(),
                 s.district[idx].tolist(), lat=s.lat[idx].tolist(), lon=s.lon[idx].tolist(),
                 kind=s.p["kind_s"][idx].tolist(),
                 value=sensor_values(w, idx, t, self._effects).tolist(),
                 unit=s.p["unit"][idx].tolist())
        g, idx, t = w.segments, *w.segments.schedule.due(a, b)
        speed, flow, occ = segment_values(w, idx, t, self._effects)
        out.rows("traffic", "segment", "s", t, g.ids[idx].tolist(), g.source[idx].tolist(),
                 g.district[idx].tolist(), lat=g.lat[idx].tolist(), lon=g.lon[idx].tolist(),
                 speed_kmh=speed.tolist(), flow_vph=flow.tolist(), occupancy=occ.tolist())
        f, idx, t = w.panels, *w.panels.schedule.due(a, b)
        ids = f.ids[idx].tolist()
        out.rows("fire", "alarm_signal", "a", t, ids, f.source[idx].tolist(),
                 f.district[idx].tolist(), lat=f.lat[idx].tolist(), lon=f.lon[idx].tolist(),
                 signal=panel_signals(w, idx, t),
                 building_id=[i.replace("FAP", "BLD", 1) for i in ids])

    # -- discrete actions ----------------------------------------------------------------
    def _where(self, p: dict[str, Any]) -> tuple[float, float, str]:
        lat, lon = float(p["lat"]), float(p["lon"])  # events carry plain floats, never numpy
        return lat, lon, self.profile.nearest_district(lat, lon)

    def _on_activate(self, t: int, key: str, p: dict[str, Any], out: Output) -> None:
        inc: Incident = p["incident"]
        if inc.vehicle >= 0:
            v, inc.lat, inc.lon = self.fleets.stop_vehicle(inc.vehicle, t, inc.end_ms)
            inc.district = self.profile.nearest_district(inc.lat, inc.lon)
            if v != inc.vehicle:
                inc.vehicle = v
                for e in inc.effects:
                    e.idx = np.array([v])
                h = self.world.hazmat
                inc.entities[:2] = [str(h.ids[v]), str(h.p["tank_ids"][v])]
            roads = self.world.roads
            if roads is not None:  # the leaking tanker closes the road it stands on
                seg = self.fleets.hazmat_segment(v)
                closed = inc_mod.Effect("segments", np.array([seg]), np.array([0.0]), t,
                                        inc.end_ms, 60_000)
                inc.effects.append(closed)
                self._effects.append(closed)
                self._effects_version += 1
        fire_id = opaque_id("FI", self.seed, inc.incident_id, t)
        cos = 111_320.0 * math.cos(math.radians(inc.lat))
        for i, act in enumerate(inc.actions):
            q = dict(act.params)
            q.setdefault("lat", round(inc.lat + act.dy_m / 111_320.0, 6))
            q.setdefault("lon", round(inc.lon + act.dx_m / cos, 6))
            at, k = t + act.offset_ms, f"{inc.incident_id}/{i:03d}"
            if act.name in ("ems_call", "fire_call", "accident"):
                q["id"] = opaque_id({"ems_call": "C120", "fire_call": "C119",
                                     "accident": "ACC"}[act.name], self.seed, k, at)
                inc.entities.append(q["id"])
            if "incident" in q:
                q["incident"] = fire_id
            self._push(at, k, act.name, q)
        if any("incident" in a.params for a in inc.actions) or inc.kind == "structure_fire":
            inc.entities.append(fire_id)
        self._truth.append(inc.truth())

    def _on_ems_call(self, t: int, key: str, p: dict[str, Any], out: Output) -> None:
        lat, lon, dist = self._where(p)
        cid = p.get("id") or opaque_id("C120", self.seed, key, t)
        out.one("ems", "call", "c", t, cid, _SOURCES["ems_call"], dist, lat=lat, lon=lon,
                complaint=p["complaint"], priority=p["priority"], patients=p["patients"])
        self.fleets.dispatch_ambulance(t, cid, lat, lon, out)

    def _on_fire_call(self, t: int, key: str, p: dict[str, Any], out: Output) -> None:
        lat, lon, dist = self._where(p)
        cid = p.get("id") or opaque_id("C119", self.seed, key, t)
        out.one("fire", "call", "c", t, cid, _SOURCES["fire_call"], dist, lat=lat, lon=lon,
                category=p["category"])
        fid = p.get("incident") or opaque_id("FI", self.seed, key, t)
        if self.fleets.open_fire(t, fid, lat, lon, dist, p, out) == 0:
            self._push(p["release_ms"], "close/" + fid, "fire_update", {"incident": fid,
                                                                        "status": "closed"})

    def _on_fire_update(self, t: int, key: str, p: dict[str, Any], out: Output) -> None:
        self.fleets.update_fire(t, p["incident"], p["status"], out)

    def _on_alarm(self, t: int, key: str, p: dict[str, Any], out: Output) -> None:
        lat, lon, dist = self._where(p)
        out.one("fire", "alarm_signal", "a", t, p["panel"], f"{_SOURCES['alarm']}-"
                f"{self.world.abbrev[dist]}", dist, lat=lat, lon=lon, signal=p["signal"],
                building_id=p["panel"].replace("FAP", "BLD", 1))

    def _on_accident(self, t: int, key: str, p: dict[str, Any], out: Output) -> None:
        lat, lon, dist = self._where(p)
        rid = p.get("id") or opaque_id("ACC", self.seed, key, t)
        extra = {"segment_id": p["segment_id"]} if "segment_id" in p else {}
        out.one("traffic", "accident", "x", t, rid, _SOURCES["accident"], dist, lat=lat,
                lon=lon, severity=p["severity"], lanes_blocked=p["lanes_blocked"], **extra)

    def _on_signal_fault(self, t: int, key: str, p: dict[str, Any], out: Output) -> None:
        lat, lon, dist = self._where(p)
        out.one("traffic", "signal_fault", "f", t, p["signal"], _SOURCES["signal_fault"], dist,
                lat=lat, lon=lon, fault=p["fault"])
