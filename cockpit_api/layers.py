"""The map's live layers, folded from streams the cockpit follows (pure, bounded).

* ``hazmat``: each hazardous-goods vehicle's latest position with its cargo, from the
  ``hazmat`` stream's ``vehicle_gps`` events (validated by the feed through the same door as
  the worker's, :func:`decode_input`);
* ``congestion``: each traffic detector's (road segment's) latest level, from the ``traffic``
  stream's ``segment`` events: the speed as a share of the segment's free-flow speed (its
  road's ``speed_kmh`` in the road network: segment ``F:k`` lies on road ``F``), or, for a
  detector on no known road, its occupancy; see :func:`congestion_level`;
* ``units``: the dispatch fleet, whose positions come from the board's ``unit_positions``
  records (:mod:`dispatch.positions`, folded into the unit board by
  :mod:`cockpit_api.dispatch_view`; :func:`unit_item`, :func:`units_message`);
* ``sensor_health``: lifeline sensors in alarm / silent / stuck / sending bad data by
  district, from the detectors' alerts (:mod:`cockpit_api.sensor_health`), sent as
  ``{"type": "sensor_health", "health": {...}}`` when the counts changed.

Events only fold (a dict update: cheap at hundreds a second); :meth:`Layers.flush`, run
every second by the server, turns what changed since into ONE message per layer (interface
2 of issue 15): ``{"type": "positions", "layer": "hazmat", "items": {id: {...}}}`` and
``{"type": "congestion", "items": {id: {...}}}``; an item ``null`` left the layer (not heard
of for ``ttl_s``). A congestion item is sent when its level changes or, while congested,
its speed moves by ``speed_step_kmh``: free-flowing roads cost nothing. Each layer holds at
most ``max_items`` (the least recently heard of goes).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from schemas.errors import ValidationError
from schemas.validate import EventValidator, Policy
from schemas.wire import decode_message

from .errors import MalformedMessage
from .sensor_health import SensorHealth

LEVELS = ("free", "slow", "congested", "jammed")       # 畅通 缓行 拥堵 严重拥堵
# speed / free-flow speed at or above which a segment is at each level (free, slow,
# congested), after the usual urban traffic-performance bands (GB/T 33171-2016 uses speed
# against free flow in the same spirit); below the last: jammed
RATIO_BOUNDS = (0.7, 0.5, 0.3)
# occupancy (share of time the detector's loop is occupied) below which each level holds,
# for a detector on no known road
OCCUPANCY_BOUNDS = (0.15, 0.25, 0.40)
HAZMAT_FIELDS = ("speed_kmh", "heading", "un_number", "hazard_class")
# the event types each followed stream's layers use (the others are not even validated:
# validation is most of a layer event's cost, and a tank reading is a quarter of hazmat's)
LAYER_TYPES = {"hazmat": frozenset({"vehicle_gps"}), "traffic": frozenset({"segment"})}


def congestion_level(speed_kmh: float, free_kmh: float | None, occupancy: float | None) -> int:
    """0 free .. 3 jammed (index into :data:`LEVELS`)."""
    if free_kmh:
        ratio = speed_kmh / free_kmh
        return next((k for k, b in enumerate(RATIO_BOUNDS) if ratio >= b), 3)
    if occupancy is not None:
        return next((k for k, b in enumerate(OCCUPANCY_BOUNDS) if occupancy < b), 3)
    return 0


@dataclass(frozen=True)
class LayerLimits:
    max_items: int = 5_000           # per layer (city-1x: 1,500 vehicles, 2,000 segments)
    ttl_s: float = 900.0             # not heard of for this long: gone from the map
    speed_step_kmh: float = 5.0      # a congested segment's speed change worth sending


class _Layer:
    """Items by id (least recently heard of first) and the ids changed since the flush."""

    def __init__(self, limits: LayerLimits) -> None:
        self.limits = limits
        self.items: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.changed: set[str] = set()
        self.gone: set[str] = set()

    def put(self, key: str, item: dict[str, Any], send: bool = True) -> None:
        self.items[key] = item
        self.items.move_to_end(key)
        if send:
            self.changed.add(key)
            self.gone.discard(key)
        while len(self.items) > self.limits.max_items:
            old, _ = self.items.popitem(last=False)
            self.changed.discard(old)
            self.gone.add(old)

    def take(self, now_ms: int) -> dict[str, Any]:
        cut = now_ms - int(self.limits.ttl_s * 1000)
        while self.items:
            key, item = next(iter(self.items.items()))
            if item["at_ms"] >= cut:
                break
            del self.items[key]
            self.changed.discard(key)
            self.gone.add(key)
        out: dict[str, Any] = {k: self.items[k] for k in sorted(self.changed)}
        out.update((k, None) for k in sorted(self.gone))
        self.changed, self.gone = set(), set()
        return out


class Layers:
    """The hazmat and congestion layers (see the module docstring). ``free_kmh``: road id ->
    free-flow speed; ``district_of(lat, lon)``: the district code of a place."""

    def __init__(self, free_kmh: Mapping[str, float] | None = None,
                 district_of: Callable[[float, float], str] | None = None,
                 limits: LayerLimits = LayerLimits()) -> None:
        self.free_kmh = dict(free_kmh or {})
        self.district_of = district_of or (lambda lat, lon: "")
        self.limits = limits
        self.hazmat = _Layer(limits)
        self.congestion = _Layer(limits)
        self.health = SensorHealth()

    def observe(self, stream: str, events: Iterable[Mapping[str, Any]]) -> int:
        """Fold validated events of ``stream`` (others are ignored); how many were used."""
        used = 0
        for ev in events:
            if stream == "hazmat" and ev.get("type") == "vehicle_gps":
                self._vehicle(ev)
                used += 1
            elif stream == "traffic" and ev.get("type") == "segment":
                self._segment(ev)
                used += 1
        return used

    def _district(self, ev: Mapping[str, Any]) -> str:
        return str(ev.get("district") or self.district_of(ev["lat"], ev["lon"]))

    def _vehicle(self, ev: Mapping[str, Any]) -> None:
        key, at = str(ev["entity_id"]), int(ev["ts_ms"])
        held = self.hazmat.items.get(key)
        if held is not None and held["at_ms"] > at:
            return                                  # an older fix than the one held
        item = {"lat": ev["lat"], "lon": ev["lon"], "at_ms": at,
                "district": self._district(ev)}
        item.update((f, ev[f]) for f in HAZMAT_FIELDS if ev.get(f) is not None)
        self.hazmat.put(key, item)

    def _segment(self, ev: Mapping[str, Any]) -> None:
        key, at = str(ev["entity_id"]), int(ev["ts_ms"])
        held = self.congestion.items.get(key)
        if held is not None and held["at_ms"] > at:
            return
        speed = float(ev["speed_kmh"])
        free = self.free_kmh.get(key.split(":", 1)[0])
        level = congestion_level(speed, free, ev.get("occupancy"))
        item = {"lat": ev["lat"], "lon": ev["lon"], "level": level, "speed_kmh": speed,
                "at_ms": at, "district": self._district(ev)}
        if free:
            item["free_kmh"] = free
        send = held is None and level > 0 or held is not None and (
            held["level"] != level or level > 0 and
            abs(held["speed_kmh"] - speed) >= self.limits.speed_step_kmh)
        if held is not None and not send:       # keep the speed that was last sent
            item["speed_kmh"] = held["speed_kmh"]
        self.congestion.put(key, item, send)

    def flush(self, now_ms: int) -> list[dict[str, Any]]:
        """One message per layer with what changed (and left) since the last flush."""
        out: list[dict[str, Any]] = []
        hazmat = self.hazmat.take(now_ms)
        if hazmat:
            out.append({"type": "positions", "layer": "hazmat", "items": hazmat})
        congestion = self.congestion.take(now_ms)
        if congestion:
            out.append({"type": "congestion", "items": congestion})
        health = self.health.take()
        if health is not None:
            out.append({"type": "sensor_health", "health": health})
        return out

    def part(self, units: Iterable[Mapping[str, Any]] = ()) -> dict[str, Any]:
        """The snapshot's ``layers``: every unit with a place, every vehicle, every segment
        not flowing freely."""
        return {"units": {str(u["unit_id"]): unit_item(u) for u in units
                          if u.get("lat") is not None and u.get("lon") is not None},
                "hazmat": dict(self.hazmat.items),
                "congestion": {k: v for k, v in self.congestion.items.items() if v["level"]},
                "sensor_health": self.health.part()}


def unit_item(row: Mapping[str, Any]) -> dict[str, Any]:
    """A unit board row (:mod:`cockpit_api.dispatch_view`) as a ``units`` layer item."""
    return {"lat": row.get("lat"), "lon": row.get("lon"), "at_ms": row.get("gps_ms"),
            "status": row.get("status"), "kind": row.get("kind"),
            "agency": row.get("agency"), "district": row.get("district"),
            "at_district": row.get("at_district") or row.get("district"),
            "incident_id": row.get("incident_id") or "", "stale": bool(row.get("stale"))}


def units_message(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    return {"type": "positions", "layer": "units",
            "items": {str(r["unit_id"]): unit_item(r) for r in rows}}


def decode_input(stream: str, policy: Policy, max_message_bytes: int, max_batch_events: int,
                 clock: Callable[[], float] = time.time
                 ) -> Callable[[bytes | None], list[dict[str, Any]]]:
    """A feed decoder for an input topic: one event or a batch (:mod:`schemas.wire`), each
    event validated as the worker does (:class:`schemas.validate.EventValidator`; its time
    window is the wall clock's). The valid events the layers use (:data:`LAYER_TYPES`; other
    types of the stream are passed over unchecked), each with ``ts_ms``; a message with no
    event of the stream's types, or only invalid ones of the used types, is malformed (its
    invalid events were dead-lettered by the worker: not counted again)."""
    validator = EventValidator(stream, policy)
    used, known = LAYER_TYPES.get(stream, frozenset()), frozenset(validator.stream.types)

    def decode(value: bytes | None) -> list[dict[str, Any]]:
        try:
            raw, _ = decode_message(value, max_message_bytes=max_message_bytes,
                                    max_batch_events=max_batch_events)
        except ValidationError as exc:
            raise MalformedMessage(f"value: {exc.reason} [{exc.code}]") from None
        now = int(clock() * 1000)
        out, first, other = [], None, False
        for obj in raw:
            etype = obj.get("type") if isinstance(obj, dict) else None
            if etype in known and etype not in used:
                other = True
                continue
            try:
                ev, ts = validator.validate(obj, now)
            except ValidationError as exc:
                first = first or exc
                continue
            ev["ts_ms"] = ts
            out.append(ev)
        if not out and not (other and first is None):
            why = f"{first.field}: {first.reason} [{first.code}]" if first else "no events"
            raise MalformedMessage(f"no valid {stream} event: {why}")
        return out
    return decode
