"""The emergency guidance of an incident as the cockpit shows it, from its enrichment.

Why: the correlator stores ``alerting.enrich.enrich``'s result in an incident's ``opened``
and ``enriched`` events (cargo with its ERG guide, isolation distances, fire, spill and
first-aid advice; protected places near; nearest stations and hospitals). The page showed
only the enrichment's top-level keys ("补充研判信息 assets, calls, city, district, hazmat"),
the raw structure. This picks what a dispatcher acts on, every text as ``{zh, en}`` and every
distance a number with its unit in the name (``_m``, ``_km``), bounded in size. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MAX_CARGO, MAX_PLACES = 5, 5
NEARBY = ("schools", "hospitals", "water_sources", "tunnels")
NEAREST = ("fire_stations", "hospitals")
_ADVICE = ("fire", "spill", "first_aid")
_DISTANCES = ("isolation_m", "large_spill_m", "fire_isolation_m")


def _words(zh: Any, en: Any) -> dict[str, str] | None:
    zh, en = (zh if isinstance(zh, str) else ""), (en if isinstance(en, str) else "")
    return {"zh": zh or en, "en": en or zh} if zh or en else None


def _mapping(v: Any) -> Mapping[str, Any]:
    return v if isinstance(v, Mapping) else {}


def _number(v: Any) -> float | int | None:
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _cargo(h: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "un_number": str(h.get("un_number") or ""), "known": bool(h.get("known")),
        "name": _words(h.get("name_zh"), h.get("name_en")),
        "hazard_class": str(h.get("hazard_class") or ""),
        "hazard_class_name": _words(h.get("hazard_class_zh"), h.get("hazard_class_en")),
        "guide": str(h.get("guide") or "")}
    for k in _DISTANCES:
        out[k] = _number(h.get(k))
    for k in _ADVICE:
        a = h.get(k)
        out[k] = _words(a.get("zh"), a.get("en")) if isinstance(a, Mapping) else None
    return out


def _places(rows: Any) -> list[dict[str, Any]]:
    out = []
    for r in rows if isinstance(rows, list) else ():
        if isinstance(r, Mapping) and _words(r.get("zh"), r.get("en")):
            out.append({"name": _words(r.get("zh"), r.get("en")),
                        "distance_km": _number(r.get("distance_km")),
                        "inside": bool(r.get("inside"))})
        if len(out) >= MAX_PLACES:
            break
    return out


def guidance_of(enrichment: Any) -> dict[str, Any] | None:
    """The guidance in an enrichment, or None when it holds none (no cargo, no places)."""
    if not isinstance(enrichment, Mapping):
        return None
    hazmat = [_cargo(h) for h in enrichment.get("hazmat") or () if isinstance(h, Mapping)]
    nearby_in, nearest_in = _mapping(enrichment.get("nearby")), _mapping(enrichment.get("nearest"))
    nearby = {k: _places(nearby_in.get(k)) for k in NEARBY}
    nearest = {k: _places(nearest_in.get(k)) for k in NEAREST}
    if not hazmat and not any(nearby.values()) and not any(nearest.values()):
        return None
    return {"hazmat": hazmat[:MAX_CARGO], "radius_km": _number(enrichment.get("radius_km")),
            "nearby": nearby, "nearest": nearest}
