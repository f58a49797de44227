"""What the board shows: every unit with its status, the open packages, the suggested
move-ups and the recent calls with their age (``Board.view``; the cockpit's unit board)."""

from __future__ import annotations

from typing import Any, Mapping

from dispatch.status import STATUS_ZH

MAX_CALLS_VIEW = 200


def board_view(board: Any, now: int) -> dict[str, Any]:
    units = []
    for u in board.fleet.registry.units:
        s = board.fleet.state[u.id]
        units.append({"unit_id": u.id, "kind": u.kind, "agency": u.agency,
                      "station_id": u.station_id, "district": u.district,
                      "capabilities": sorted(u.capabilities), "status": s.status,
                      "status_zh": STATUS_ZH[s.status], "since_ms": s.since_ms,
                      "incident_id": s.incident_id, "lat": s.lat, "lon": s.lon,
                      "gps_ms": s.gps_ms, "stale": s.stale, "posted": s.posted})
    packages = [p for p in board.packages.values()
                if p["status"] in ("recommended", "confirmed") and
                getattr(board.incidents.get(p["incident_id"]), "status", "") == "open"]
    calls = sorted(({"call_id": c, "stream": v["stream"], "at_ms": v["at_ms"],
                     "age_s": max(now - v["at_ms"], 0) / 1000,
                     "incident_id": v["incident_id"], "category": v["category"],
                     "served": _served(board, v)}
                    for c, v in board.incidents.calls.items()),
                   key=lambda c: (-c["at_ms"], c["call_id"]))[:MAX_CALLS_VIEW]
    return {"units": units, "packages": sorted(packages, key=lambda p: p["at_ms"]),
            "moveups": [m for m in board.moveups.values() if m["status"] == "suggested"],
            "calls": calls}


def _served(board: Any, call: Mapping[str, Any]) -> bool:
    """A call is served once its incident has a unit working it."""
    inc = board.incidents.get(call.get("incident_id") or "")
    return inc is not None and bool(board.fleet.on_incident(inc.incident_id))
