"""One pass that builds an incident's multi-agency package from a run card.

For each slot the card asks for, the fastest unit that is available, capable, not assigned
to another incident and not already in this package (one unit never fills two slots), within
the card's per-station cap. Scarce capabilities are filled first (an ALS ambulance is not
spent on a BLS slot while an ALS slot is open). Every choice is explained: its ETA, route
length, route line (``route``: [[lon, lat], ...] from the unit's nearest road node to the
incident's, bounded by :mod:`dispatch.route_line`; [] without a road graph) and status,
the faster units passed over and why (a bounded list), and the slots that could not be
filled with the reason. Only the units chosen get a line (their paths are walked already
for ``route_m``), so the line costs nothing per candidate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from dispatch.eta import UnitEtas
from dispatch.route_line import route_line
from dispatch.runcards import Need, RunCard
from dispatch.status import ASSIGNABLE
from dispatch.units import CAP_INDEX, CAPABILITY_TEXT, Registry

MAX_SKIPPED = 12            # skipped units listed per package
SKIPPED_PER_SLOT = 3

REASONS = {   # code -> (zh, en)
    "unavailable": ("状态不可派", "not available"),
    "assigned": ("已派往其他事件", "assigned to another incident"),
    "in_package": ("已在本方案中", "already in this package"),
    "station_cap": ("该站已达派出上限", "its station already sends its share"),
    "unreachable": ("道路不可达", "no open road to the incident"),
    "excluded": ("调度员已移除", "removed by the dispatcher"),
    "no_unit": ("无具备该能力的可用单位", "no available unit with this capability"),
}


@dataclass(frozen=True)
class FleetState:
    """The board's view of every registry unit, aligned with ``registry.units``."""

    status: Sequence[str]
    incident: Sequence[str]          # "" when not working an incident


def _reason(code: str, **extra: Any) -> dict[str, Any]:
    zh, en = REASONS[code]
    return {"reason": code, "zh": zh, "en": en, **extra}


def build_package(card: RunCard, patients: int, registry: Registry, fleet: FleetState,
                  etas: UnitEtas, incident_id: str = "",
                  exclude: frozenset[str] = frozenset(),
                  keep: Sequence[str] = ()) -> dict[str, Any]:
    """``items``, ``unfilled`` and ``skipped`` of the package (see the Record contract).

    ``exclude``: unit ids the dispatcher removed; ``keep``: units already in the package
    that stay (a re-plan after an edit or a grown incident), counted against its slots."""
    n = len(registry)
    eta = np.asarray(etas.eta_s, np.float64)
    status = np.asarray(fleet.status, dtype=object)
    assigned_elsewhere = np.array([bool(x) and x != incident_id for x in fleet.incident], bool)
    ok_status = np.isin(status, list(ASSIGNABLE)) if n else np.zeros(0, bool)
    reachable = np.isfinite(eta)
    excluded = np.array([u.id in exclude for u in registry.units], bool)
    taken = np.zeros(n, bool)
    per_station: dict[str, int] = {}
    kept = [registry.index(u) for u in keep]
    kept_idx = [i for i in kept if i is not None]
    for i in kept_idx:
        taken[i] = True
        st = registry.units[i].station_id
        per_station[st] = per_station.get(st, 0) + 1
    eligible = ok_status & ~assigned_elsewhere & reachable & ~excluded
    needs = list(card.needs)
    slots: dict[str, int] = {nd.capability: nd.slots(patients) for nd in needs}
    # kept units fill the slots of the capabilities they have, scarce ones first
    order = sorted(needs, key=lambda nd: (int((eligible & registry.caps[:, CAP_INDEX[
        nd.capability]]).sum()), card.needs.index(nd)))
    chosen: dict[str, list[int]] = {nd.capability: [] for nd in needs}
    extra: list[tuple[str, int]] = []      # kept units beyond the card's slots
    for i in sorted(kept_idx, key=lambda i: (eta[i], i)):
        fit = [nd.capability for nd in order if registry.caps[i, CAP_INDEX[nd.capability]]]
        free = [c for c in fit if len(chosen[c]) < slots[c]]
        if free:
            chosen[free[0]].append(i)
        else:
            extra.append((fit[0] if fit else sorted(registry.units[i].capabilities)[0], i))
    skipped: list[dict[str, Any]] = []
    skipped_ids: set[str] = set()
    unfilled: list[dict[str, Any]] = []
    cap = card.max_per_station
    for nd in order:
        col = registry.caps[:, CAP_INDEX[nd.capability]]
        ranked = np.flatnonzero(col)
        ranked = ranked[np.lexsort((ranked, eta[ranked]))]     # by ETA, then registry order
        ptr = 0
        while len(chosen[nd.capability]) < slots[nd.capability]:
            pick, passed = -1, []
            while ptr < len(ranked):
                i = int(ranked[ptr])
                ptr += 1
                st = registry.units[i].station_id
                why = None
                if taken[i]:
                    why = "in_package"
                elif not eligible[i]:
                    why = ("excluded" if excluded[i] else "assigned" if assigned_elsewhere[i]
                           else "unavailable" if not ok_status[i] else "unreachable")
                elif cap and st and per_station.get(st, 0) >= cap:
                    why = "station_cap"
                if why is None:
                    pick = i
                    break
                if why != "in_package":
                    passed.append((i, why))
            for i, why in passed[:SKIPPED_PER_SLOT]:
                uid = registry.units[i].id
                if uid not in skipped_ids and len(skipped) < MAX_SKIPPED:
                    skipped_ids.add(uid)
                    skipped.append({"unit_id": uid, "capability": nd.capability,
                                    "status": str(status[i]),
                                    "eta_s": _num(eta[i]), **_reason(why)})
            if pick < 0:
                missing = slots[nd.capability] - len(chosen[nd.capability])
                unfilled.append({"capability": nd.capability, "missing": missing,
                                 **_reason("no_unit")})
                break
            taken[pick] = True
            st = registry.units[pick].station_id
            per_station[st] = per_station.get(st, 0) + 1
            chosen[nd.capability].append(pick)
    items = []
    placed = [(nd, rank, i) for nd in needs for rank, i in enumerate(chosen[nd.capability])]
    by_cap = {nd.capability: nd for nd in needs}
    placed += [(by_cap.get(c) or Need(c, 1), -1, i) for c, i in extra]
    graph = etas.speeds.graph if etas.speeds is not None else None
    for nd, rank, i in placed:
        u = registry.units[i]
        nodes, _, metres = etas.route(i)
        items.append({"capability": nd.capability, "unit_id": u.id, "eta_s": _num(eta[i]),
                      "route_m": _num(metres),
                      "route": route_line(graph, nodes) if graph is not None else [],
                      "status": str(status[i]),
                      "station_id": u.station_id, "agency": u.agency, "kind": u.kind,
                      "kept": i in kept_idx,
                      "why": _why(nd.capability, rank, eta[i], etas.method, nd.zh, nd.en)
                      if rank >= 0 else _added(nd.capability)})
    return {"items": items, "unfilled": unfilled, "skipped": skipped}


def _num(x: float) -> float | None:
    return round(float(x), 1) if np.isfinite(x) else None


def _why(cap: str, rank: int, eta: float, method: str, zh: str, en: str) -> dict[str, str]:
    how_en = "by road" if method == "road_graph" else "straight line x detour (no road graph)"
    how_zh = "按路网行车时间" if method == "road_graph" else "直线距离×绕行系数（无路网）"
    nth = f" #{rank + 1}" if rank else ""
    purpose_en, purpose_zh = (f" for {en}" if en else ""), (f"（{zh}）" if zh else "")
    cap_zh, cap_en = CAPABILITY_TEXT[cap]
    return {"en": f"fastest available {cap_en}{nth}{purpose_en}: {eta / 60:.1f} min {how_en}",
            "zh": f"最快可用{cap_zh}{nth}{purpose_zh}：{how_zh}约{eta / 60:.1f}分钟"}


def _added(cap: str) -> dict[str, str]:
    cap_zh, cap_en = CAPABILITY_TEXT[cap]
    return {"en": f"added by the dispatcher ({cap_en}, beyond the run card)",
            "zh": f"调度员追加（{cap_zh}，超出预案）"}
