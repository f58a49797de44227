"""The simulated city's own dispatch (the "legacy CAD" whose decisions the streams show):
which units go to a call. On the road graph: the fastest available capable units by TRUE
drive time (what the dispatch package is scored against); without a graph: the nearest by
city-block distance, as before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

if TYPE_CHECKING:
    from .fleets import Unit
    from .incidents import Effect

_KM_DEG = 111.32
# what a 119 call of each category needs first; the rest of its units are engines
FIRE_NEEDS = {"hazmat": ("hazmat",), "rescue": ("rescue",), "structure_fire": ("ladder",)}


def needs(category: str, n: int) -> list[str]:
    """Capabilities of the ``n`` fire units a call of ``category`` gets (a structure fire
    gets its ladder only from three units up)."""
    first = list(FIRE_NEEDS.get(category, ()))
    if category == "structure_fire" and n < 3:
        first = []
    first = first[:n]
    return first + ["engine"] * (n - len(first))


def true_etas(u: "Unit", idx: np.ndarray, t: int, lat: float, lon: float,
              effects: Sequence["Effect"], version: int) -> np.ndarray:
    """TRUE drive seconds of units ``idx`` from where they are at ``t`` to (lat, lon):
    the rest of the edge they are on, the fastest route under the true speeds at ``t``, and
    the last leg from the nearest node (dispatch.graph's access leg)."""
    mot = u.mot
    assert mot is not None
    net, g = mot.net, mot.g
    node, dist_m = g.nearest(np.array([lat]), np.array([lon]))
    to = net.times_to(int(node[0]), float(t), effects, version)
    leg = mot.leg(idx, np.full(len(idx), t))
    inside = leg.edge >= 0
    rest = np.zeros(len(idx))
    if inside.any():
        e = leg.edge[inside]
        kmh = np.maximum(net.edge_kmh(e, np.full(len(e), float(t)), effects), 5.0)
        rest[inside] = leg.m[inside] / (kmh / 3.6)
    return rest + to[leg.node] + float(g.access_s(dist_m)[0])


def pick(u: "Unit", free: np.ndarray, want: list[str], cost: np.ndarray) -> np.ndarray:
    """For each wanted capability in turn, the cheapest free unit with it (any free unit
    when none has it); each unit once."""
    caps = u.pts.p.get("caps")
    taken = np.zeros(len(free), bool)
    out = []
    order = np.argsort(cost, kind="stable")
    for cap in want:
        ok = ~taken[order]
        if caps is not None:
            able = np.array([cap in caps[i] for i in free[order]], bool) & ok
            ok = able if able.any() else ok
        if not ok.any():
            break
        j = order[np.argmax(ok)]
        taken[j] = True
        out.append(free[j])
    return np.array(out, np.int64)


def block_distance(u: "Unit", idx: np.ndarray, lat: float, lon: float) -> np.ndarray:
    return np.abs(u.lat[idx] - lat) * _KM_DEG + np.abs(u.lon[idx] - lon) * _KM_DEG * 0.88
