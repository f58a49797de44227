"""The dispatch picture the cockpit shows, folded from ``dispatch`` records (pure, bounded).

* the unit board: every unit of the registry (:mod:`dispatch.units`, built at start) with
  its latest status (``unit_status``), when it took it, the incident it works and whether
  its position is stale (``unit_stale``); a unit heard of but not in the registry is added;
* the latest package of each incident (recommended, confirmed, edited, rejected) with its
  items, unfilled slots, skipped units, coverage and move-ups;
* the move-ups suggested and not yet confirmed;
* each incident's dispatch timeline (its last records), which the page shows in the
  incident's timeline, and the number of signal pre-emption requests made for it;
* the units' positions from the board's ``unit_positions`` batches (:mod:`dispatch.positions`):
  each unit's place, fix time and the district it is in now (``at_district``; ``district``
  stays its home district, which decides who sees it); such a record is sent on as the map's
  ``positions`` message of the ``units`` layer (:mod:`cockpit_api.layers`), not as a
  ``dispatch`` message, and is in no timeline.

A record is one schema for every kind (``dispatch.board``: ``record_id, kind, at, at_ms,
incident_id, unit_id, actor, payload``). One seen before (by id: a redelivery, a replay,
the warehouse's backfill then the feed's) changes nothing; a unit's status older than the
one held is a timeline entry only.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from dispatch.route_line import MAX_POINTS as MAX_ROUTE_POINTS

from .auth.roles import AGENCY_OF_UNIT
from .errors import MalformedMessage, require_ids
from .layers import units_message

KINDS = ("package_recommended", "package_confirmed", "package_edited", "package_rejected",
         "unit_assigned", "unit_status", "unit_stale", "timer_escalated", "moveup_suggested",
         "moveup_confirmed", "preemption_request", "unit_positions")
# the state a package record leaves its package in (an edit: the state the board gives the
# edited package, ``payload.status``: still to decide, or committed)
PACKAGE_STATES = {"package_recommended": "recommended", "package_confirmed": "confirmed",
                  "package_edited": "", "package_rejected": "rejected"}
OPEN_STATES = frozenset({"recommended"})   # a dispatcher may still decide on it
DEFAULT_MAX_PACKAGES, DEFAULT_TIMELINE, MAX_TIMELINES = 500, 30, 2000
MAX_SEEN, MAX_UNITS, MAX_MOVEUPS = 50_000, 20_000, 500
_PACKAGE_PARTS = ("card", "method", "items", "unfilled", "skipped", "coverage", "moveups",
                  "priority", "edit", "location")
_UNIT_FIELDS = ("status", "lat", "lon")


def normalize_dispatch_record(obj: object) -> dict[str, Any]:
    """Check a dispatch record: ids and kind strings, ``at_ms`` an int, ``payload`` an
    object; ``incident_id``/``unit_id``/``actor`` strings ("" when absent)."""
    if not isinstance(obj, dict):
        raise MalformedMessage(f"dispatch record is not a JSON object but "
                               f"{type(obj).__name__}")
    rec = dict(obj)
    require_ids(rec, "dispatch record", ("record_id", "kind"))
    if isinstance(rec.get("at_ms"), bool) or not isinstance(rec.get("at_ms"), int):
        raise MalformedMessage(f"dispatch record {rec['record_id']!r}: 'at_ms' must be an int")
    for k in ("incident_id", "unit_id", "actor"):
        if rec.get(k) is None:
            rec[k] = ""
        elif not isinstance(rec[k], str):
            raise MalformedMessage(f"dispatch record {rec['record_id']!r}: {k!r} must be a "
                                   f"string")
    if not isinstance(rec.setdefault("payload", {}), dict):
        raise MalformedMessage(f"dispatch record {rec['record_id']!r}: payload is not an "
                               f"object")
    return rec


def unit_rows(units: Iterable[Any]) -> list[dict[str, Any]]:
    """The unit board's rows of registry units (:class:`dispatch.units.UnitSpec`)."""
    return [{"unit_id": u.id, "kind": u.kind, "agency": u.agency, "stream": u.stream,
             "capabilities": sorted(u.capabilities), "station_id": u.station_id,
             "district": u.district, "home_lat": u.home_lat, "home_lon": u.home_lon,
             "crew": u.crew, "status": "available", "status_ms": None, "incident_id": "",
             "stale": False, "lat": u.home_lat, "lon": u.home_lon} for u in units]


def unit_agency(unit: Mapping[str, Any] | None) -> str | None:
    """The cockpit agency that commits ``unit`` (None: not a unit the hub holds)."""
    return None if unit is None else AGENCY_OF_UNIT.get(str(unit.get("agency") or ""))


def lead_agency(items: Iterable[Mapping[str, Any]],
                unit: Callable[[str], Mapping[str, Any] | None]) -> str:
    """The cockpit agency sending the most units of a package (a tie: the earliest slot's;
    a unit's agency as the unit board holds it, else as its slot says); "" without units."""
    counts: dict[str, int] = {}
    for item in items:
        held = unit(str(item.get("unit_id") or ""))
        agency = unit_agency(held if held is not None else item)
        if agency:
            counts[agency] = counts.get(agency, 0) + 1
    return max(counts, key=lambda a: counts[a], default="")   # (max keeps the first of a tie)


def _units_of(payload: Mapping[str, Any]) -> list[str]:
    items = payload.get("items")
    return [str(i.get("unit_id")) for i in items if isinstance(i, Mapping) and
            i.get("unit_id")] if isinstance(items, list) else []


def _routed(item: Any) -> Any:
    """A package item with its route line (``route``: [[lon, lat], ...], drawn on the
    console's map) as the board makes it (:mod:`dispatch.route_line`), else with none:
    a line of more points, or of anything but finite [lon, lat] pairs, is not drawn."""
    line = item.get("route") if isinstance(item, dict) else None
    if line is None or (isinstance(line, list) and len(line) <= MAX_ROUTE_POINTS and all(
            isinstance(p, list) and len(p) == 2 and all(
                isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
                for x in p) and abs(p[0]) <= 180 and abs(p[1]) <= 90 for p in line)):
        return item
    return {**item, "route": []}


def timeline_entry(rec: Mapping[str, Any]) -> dict[str, Any]:
    """What an incident's timeline shows of a record (the package's units, not its all)."""
    p = rec["payload"]
    edit = p.get("edit") if isinstance(p.get("edit"), Mapping) else {}
    detail: dict[str, Any] = {k: v for k, v in (*p.items(), *edit.items())
                              if k in ("package_id", "status", "from", "reason", "moveup_id",
                                       "timer", "add", "remove", "to_station", "zh", "en",
                                       "waited_s", "stale", "age_s")
                              and (isinstance(v, (str, int, float)) or
                                   isinstance(v, list) and len(v) <= 20)}
    if "items" in p:
        detail["units"] = _units_of(p)[:20]
    elif isinstance(p.get("units"), list):
        detail["units"] = [str(u) for u in p["units"][:20]]
    return {"record_id": rec["record_id"], "kind": rec["kind"], "at_ms": rec["at_ms"],
            "unit_id": rec["unit_id"], "actor": rec["actor"], "detail": detail}


class DispatchView:
    """The folded picture (see the module docstring)."""

    def __init__(self, units: Iterable[Mapping[str, Any]] = (),
                 max_packages: int = DEFAULT_MAX_PACKAGES, timeline: int = DEFAULT_TIMELINE
                 ) -> None:
        if max_packages < 1 or timeline < 1:
            raise ValueError("max_packages and timeline must be >= 1")
        self.max_packages, self.timeline = max_packages, timeline
        self._units: dict[str, dict[str, Any]] = {str(u["unit_id"]): dict(u) for u in units}
        self._packages: OrderedDict[str, dict[str, Any]] = OrderedDict()   # by incident
        self._moveups: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._timelines: OrderedDict[str, deque[dict[str, Any]]] = OrderedDict()
        self._preemptions: dict[str, int] = {}
        self._seen: OrderedDict[str, None] = OrderedDict()

    # -- reading -------------------------------------------------------------------------
    def units(self) -> list[dict[str, Any]]:
        return list(self._units.values())

    def unit(self, unit_id: str) -> dict[str, Any] | None:
        return self._units.get(unit_id)

    def package(self, incident_id: str) -> dict[str, Any] | None:
        return self._packages.get(incident_id)

    def packages(self) -> list[dict[str, Any]]:
        """The latest package of each incident, most recently changed first."""
        return list(reversed(self._packages.values()))

    def moveup(self, moveup_id: str) -> dict[str, Any] | None:
        return self._moveups.get(moveup_id)

    def snapshot(self) -> dict[str, Any]:
        return {"units": self.units(), "packages": self.packages(),
                "moveups": list(self._moveups.values()),
                "timelines": {iid: list(t) for iid, t in self._timelines.items()},
                "preemptions": dict(self._preemptions)}

    # -- folding -------------------------------------------------------------------------
    def apply(self, rec: dict[str, Any]) -> dict[str, Any] | None:
        """Fold one normalised record: the client message, or None (seen before)."""
        rid = rec["record_id"]
        if rid in self._seen:
            return None
        self._seen[rid] = None
        while len(self._seen) > MAX_SEEN:
            self._seen.popitem(last=False)
        kind, iid = rec["kind"], rec["incident_id"]
        if kind == "unit_positions":
            return self._positions(rec)
        msg: dict[str, Any] = {"type": "dispatch", "record": timeline_entry(rec),
                               "incident_id": iid, "unit": None, "package": None,
                               "moveup": None, "entry": None}
        if kind in PACKAGE_STATES and iid:
            msg["package"] = self._package(rec)
        elif kind in ("unit_status", "unit_stale") and rec["unit_id"]:
            msg["unit"] = self._unit(rec)
        elif kind in ("moveup_suggested", "moveup_confirmed"):
            msg["moveup"] = self._moveup(rec)
        if kind == "preemption_request" and iid:
            self._preemptions[iid] = self._preemptions.get(iid, 0) + 1
            msg["preemptions"] = self._preemptions[iid]
        elif iid:   # (pre-emptions are many, one per intersection: counted, not listed)
            msg["entry"] = msg["record"]
            self._timeline(iid).append(msg["entry"])
        return msg

    def forget_incident(self, incident_id: str) -> None:
        """An incident closed: its package, timeline and count leave the picture."""
        self._packages.pop(incident_id, None)
        self._timelines.pop(incident_id, None)
        self._preemptions.pop(incident_id, None)

    def _package(self, rec: dict[str, Any]) -> dict[str, Any]:
        iid, p = rec["incident_id"], rec["payload"]
        held = self._packages.get(iid)
        pid = str(p.get("package_id") or "")
        whole = "items" in p   # a recommended or edited package, not a decision on one
        if held is not None and held["package_id"] != pid and not whole:
            return held        # a decision on an older package: the timeline's only
        base = held if held is not None and held["package_id"] == pid else \
            {"incident_id": iid, "package_id": pid, "items": [], "unfilled": [],
             "skipped": [], "coverage": {}, "moveups": [], "card": {}, "method": ""}
        state = PACKAGE_STATES[rec["kind"]] or str(p.get("status") or "recommended")
        pkg = {**base, **{k: p[k] for k in _PACKAGE_PARTS if k in p},
               "state": state, "at_ms": rec["at_ms"], "actor": rec["actor"],
               "reason": str(p.get("reason") or ""), "edited": rec["kind"] == "package_edited"
               or bool(base.get("edited"))}
        if isinstance(pkg["items"], list):
            pkg["items"] = [_routed(i) for i in pkg["items"]]
        pkg["open"] = pkg["state"] in OPEN_STATES
        pkg["lead"] = lead_agency(pkg["items"], self.unit)   # who may decide (authorize)
        self._packages[iid] = pkg
        self._packages.move_to_end(iid)
        while len(self._packages) > self.max_packages:
            self._packages.popitem(last=False)
        return pkg

    def _unit(self, rec: dict[str, Any]) -> dict[str, Any]:
        uid, p = rec["unit_id"], rec["payload"]
        unit = self._units.get(uid) or self._add_unit(uid, p)
        if unit is None:
            return {"unit_id": uid}
        if rec["kind"] == "unit_stale":
            unit["stale"] = bool(p.get("stale", True))
            unit["stale_s"] = p.get("age_s")
        elif unit["status_ms"] is None or rec["at_ms"] >= unit["status_ms"]:
            unit.update({k: p[k] for k in _UNIT_FIELDS if k in p},
                        status_ms=rec["at_ms"], incident_id=rec["incident_id"])
        return unit

    def _add_unit(self, uid: str, p: Mapping[str, Any]) -> dict[str, Any] | None:
        """A unit heard of, not configured: shown as the board knows it (None: full)."""
        if len(self._units) >= MAX_UNITS:
            return None
        unit = self._units[uid] = {"unit_id": uid, "kind": str(p.get("unit_kind") or ""),
                                   "agency": str(p.get("agency") or ""),
                                   "capabilities": [], "station_id": "", "district": "",
                                   "status": "", "status_ms": None, "incident_id": "",
                                   "stale": False, "lat": None, "lon": None}
        return unit

    def _positions(self, rec: dict[str, Any]) -> dict[str, Any] | None:
        """Fold a batch of positions into the unit board: the ``units`` layer's message
        with the rows it moved (None: none). A position older than the one held is left."""
        units = rec["payload"].get("units")
        if not isinstance(units, dict):
            raise MalformedMessage(f"dispatch record {rec['record_id']!r}: unit_positions "
                                   f"without a 'units' object")
        moved = []
        for uid, item in units.items():
            if not isinstance(item, dict) or not all(
                    isinstance(item.get(k), (int, float)) and not isinstance(item.get(k), bool)
                    for k in ("lat", "lon", "at_ms")):
                continue            # (the board writes every item so: a foreign one)
            unit = self._units.get(uid) or self._add_unit(uid, {})
            if unit is None or (unit.get("gps_ms") or 0) > item["at_ms"]:
                continue            # (an older fix; or the board is full)
            unit.update(lat=item["lat"], lon=item["lon"], gps_ms=item["at_ms"],
                        at_district=str(item.get("district") or ""))
            if isinstance(item.get("stale"), bool):
                unit["stale"] = item["stale"]
            moved.append(unit)
        return units_message(moved) if moved else None

    def _moveup(self, rec: dict[str, Any]) -> dict[str, Any]:
        p = rec["payload"]
        mid = str(p.get("moveup_id") or rec["record_id"])
        if rec["kind"] == "moveup_confirmed":
            gone = self._moveups.pop(mid, None) or {"moveup_id": mid}
            return {**gone, "state": "confirmed"}
        view = {**p, "moveup_id": mid, "unit_id": rec["unit_id"] or p.get("unit_id", ""),
                "at_ms": rec["at_ms"], "state": "suggested"}
        self._moveups[mid] = view
        while len(self._moveups) > MAX_MOVEUPS:
            self._moveups.popitem(last=False)
        return view

    def _timeline(self, iid: str) -> deque[dict[str, Any]]:
        held = self._timelines.get(iid)
        if held is None:
            held = self._timelines[iid] = deque(maxlen=self.timeline)
            while len(self._timelines) > MAX_TIMELINES:
                self._timelines.popitem(last=False)
        self._timelines.move_to_end(iid)
        return held
