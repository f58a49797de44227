"""Checks a city's road GeoJSON must pass (the builder refuses to write one that fails, the
unit tests run them on the committed file). Each returns a list of readable problems.

- water: only crossing features (bridge/tunnel) may cut a river line, and each must cut one,
  and lead somewhere (both ends on another road);
- connectivity: one strongly connected component (else the islands, with a feature in each);
- coverage: every hospital and fire station of the profile is near a node.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from city.profile import CityProfile
from city.roads_geom import crossings
from dispatch.graph import RoadGraph
from dispatch.roads import parse_roads, rivers

FACILITY_MAX_M = 1500.0


def check_water(obj: dict[str, Any]) -> list[str]:
    lines = [(r.id, list(r.points)) for r in rivers(obj)]
    out = []
    for f in obj["features"]:
        p = f["properties"]
        if p.get("kind") != "road":
            continue
        line = [(lat, lon) for lon, lat, *_ in f["geometry"]["coordinates"]]
        wet = [rid for rid, river in lines if crossings(line, river)]
        if p.get("crossing") and not wet:
            out.append(f"{p['id']}: a {p['crossing']} that crosses no river")
        elif not p.get("crossing") and wet:
            out.append(f"{p['id']}: crosses {', '.join(wet)} without a bridge or tunnel")
    return out


def check_crossing_ends(obj: dict[str, Any]) -> list[str]:
    """A bridge or tunnel must lead somewhere: both its ends are on another road."""
    ends: dict[tuple[float, float], int] = {}
    for f in obj["features"]:
        if f["properties"].get("kind") == "road":
            for c in {tuple(c[:2]) for c in f["geometry"]["coordinates"]}:
                ends[c] = ends.get(c, 0) + 1
    out = []
    for f in obj["features"]:
        p = f["properties"]
        if p.get("kind") == "road" and p.get("crossing"):
            for c in (f["geometry"]["coordinates"][0], f["geometry"]["coordinates"][-1]):
                if ends[tuple(c[:2])] < 2:
                    out.append(f"{p['id']}: the {p['crossing']} ends at {c[:2]} on no other road")
    return out


def components(graph: RoadGraph) -> np.ndarray:
    """Strongly connected component label of every node."""
    m = csr_matrix((np.ones(graph.edges), (graph.src, graph.dst)),
                   shape=(graph.nodes, graph.nodes))
    return connected_components(m, directed=True, connection="strong")[1]


def check_connected(graph: RoadGraph) -> list[str]:
    labels = components(graph)
    sizes = np.bincount(labels)
    if len(sizes) == 1:
        return []
    main = int(np.argmax(sizes))
    out = []
    for c in np.flatnonzero(np.arange(len(sizes)) != main):
        node = int(np.flatnonzero(labels == c)[0])
        edge = np.flatnonzero((graph.src == node) | (graph.dst == node))
        where = graph.edge_id[int(edge[0])] if len(edge) else "no edge"
        out.append(f"island of {int(sizes[c])} node(s) cut off from the main network: node "
                   f"{node} at ({graph.lat[node]:.6f}, {graph.lon[node]:.6f}), edge {where}")
    return out


def check_facilities(graph: RoadGraph, profile: CityProfile,
                     max_m: float = FACILITY_MAX_M) -> list[str]:
    out = []
    for f in profile.hospitals + profile.fire_stations:
        _, dist = graph.nearest(np.array([f.lat]), np.array([f.lon]))
        if dist[0] > max_m:
            out.append(f"{f.id} ({f.en}) is {dist[0]:.0f} m from the nearest road node "
                       f"(> {max_m:.0f} m)")
    return out


def check_all(obj: dict[str, Any], profile: CityProfile) -> list[str]:
    graph = parse_roads(obj)
    return (check_water(obj) + check_crossing_ends(obj) + check_connected(graph)
            + check_facilities(graph, profile))
