"""Green waves: signal pre-emption requests along a priority unit's route.

For a unit en route to a priority incident, every intersection on its route (a node where
at least three distinct roads meet) gets a request with the time the unit is expected there
(event time: the start plus the drive time along the route at current edge speeds). A
signal system holds green for the approach; records go to topic ``signal_requests``.
"""

from __future__ import annotations

import weakref
from typing import Any, Sequence

import numpy as np

from dispatch.eta import Speeds
from dispatch.graph import RoadGraph
from schemas.validate import format_event_time

MIN_DEGREE = 3
MAX_REQUESTS = 60          # per route: a long trip asks for the next hour's signals at most

_JUNCTIONS: "weakref.WeakKeyDictionary[RoadGraph, np.ndarray]" = weakref.WeakKeyDictionary()


def junctions(graph: RoadGraph) -> np.ndarray:
    """Boolean (n,): nodes with at least :data:`MIN_DEGREE` distinct neighbours."""
    j = _JUNCTIONS.get(graph)
    if j is None:
        a = np.minimum(graph.src, graph.dst).astype(np.int64)
        b = np.maximum(graph.src, graph.dst).astype(np.int64)
        pairs = np.unique(a * graph.nodes + b)
        ends = np.concatenate([pairs // graph.nodes, pairs % graph.nodes])
        j = _JUNCTIONS[graph] = np.bincount(ends, minlength=graph.nodes) >= MIN_DEGREE
    return j


def requests(speeds: Speeds, nodes: Sequence[int], edges: Sequence[int], start_ms: int,
             lead_s: float = 0.0) -> list[dict[str, Any]]:
    """Pre-emption requests for the junctions of a route (``nodes``/``edges`` as returned by
    :meth:`dispatch.eta.UnitEtas.route`); ``lead_s``: seconds before the first node."""
    g = speeds.graph
    if len(nodes) < 2:
        return []
    cum = lead_s + np.concatenate([[0.0], np.cumsum(speeds.seconds[list(edges)])])
    jn = junctions(g)
    out: list[dict[str, Any]] = []
    for k, (node, t) in enumerate(zip(nodes, cum)):
        if k == 0 or not jn[node]:     # the unit is already at its first node
            continue
        at = start_ms + int(round(t * 1000))
        out.append({"node": int(node), "lat": round(float(g.lat[node]), 6),
                    "lon": round(float(g.lon[node]), 6), "eta_s": round(float(t), 1),
                    "expected_ms": at, "expected_at": format_event_time(at),
                    "seq": len(out)})
        if len(out) >= MAX_REQUESTS:
            break
    return out
