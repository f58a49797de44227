"""Building boards, incident event rows and stream events for the dispatch tests."""

from __future__ import annotations

import json
from typing import Any

from city.dispatch_config import load_runcards, registry_for
from dispatch.board import Board
from dispatch.config import DispatchConfig
from dispatch.graph import RoadGraph
from grid_helpers import grid_graph
from schemas.validate import format_event_time
from unit_helpers import PROFILE

T0 = 1_780_000_000_000 - 1_780_000_000_000 % 86_400_000 + 2 * 3_600_000   # 10:00 local
GRID = grid_graph(24, 600)
RUNCARDS = load_runcards("changsha")


def make_board(scale: float = 0.2, graph: RoadGraph | None = GRID,
               config: DispatchConfig = DispatchConfig()) -> Board:
    return Board(PROFILE, graph, registry_for(PROFILE, scale), RUNCARDS, config)


def row(iid: str, kind: str, seq: int, at_ms: int, payload: dict[str, Any]) -> dict[str, Any]:
    return {"event_id": f"{iid}-{seq}", "incident_id": iid, "seq": seq, "lsn": seq,
            "kind": kind, "at_ms": at_ms, "actor": "correlator",
            "payload_json": json.dumps(payload), "at": format_event_time(at_ms)}


def opened(iid: str, category: str = "fire", at_ms: int = T0, lat: float = 28.2282,
           lon: float = 112.9388, district: str = "yuelu", kinds: tuple[str, ...] = (),
           tags: tuple[str, ...] = (), severity: str = "major",
           calls: dict[str, Any] | None = None) -> dict[str, Any]:
    members = [{"kind": k, "tags": list(tags), "calls": []} for k in kinds or ("x",)]
    return row(iid, "opened", 0, at_ms, {
        "category": category, "category_zh": category, "category_en": category,
        "severity": severity, "opened_ms": at_ms, "lat": lat, "lon": lon,
        "district": district, "members": members, "calls": calls or {}})


def event(stream: str, type_: str, entity: str, at_ms: int, **fields: Any) -> dict[str, Any]:
    return {"event_id": f"{entity}-{at_ms}-{type_}", "type": type_,
            "event_time": format_event_time(at_ms), "source": "test", "entity_id": entity,
            **fields}


def cmd(action: str, cid: str = "c1", **args: Any) -> dict[str, Any]:
    return {"command_id": cid, "actor": "alice", "action": action, **args}
