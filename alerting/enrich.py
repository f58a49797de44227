"""Incident enrichment from the city profile: what is near, who responds, what is carried.

Why: a dispatcher opening a gas-leak or tanker incident needs at once the district, the
schools, hospitals, drinking-water intakes and river tunnels within reach (with distances),
the nearest fire stations and hospitals, the assets involved and, for a hazmat vehicle,
what its UN number is and what first responders must do. Computed once when an incident
opens (``Correlator(enricher=functools.partial(enrich, profile=p))``), stored in its
``opened`` event, and read by the exports. Pure: the profile is passed in.

The cargo table covers the cargoes the simulator carries (``simulator.world.CARGOES``).
Its guidance is an ERG-style summary (the orange guides of the US DOT / Transport Canada
Emergency Response Guidebook), paraphrased for a first-response aid: it does not replace
the carrier's safety data sheet (化学品安全技术说明书) or the hazmat team. Distances are the
guides' initial isolation, large-spill downwind and tank-in-fire isolation distances;
where a guide refers to its Table 1/3 (toxic-inhalation gases), the large-spill figure is
left ``None`` and the text says so. An unknown UN number gets ERG guide 111 (unidentified
cargo), marked ``known: False``.
"""

from __future__ import annotations

import math
import re
from typing import Any, Mapping, Sequence

from alerting.incident_model import Incident, km_between
from city.profile import CityProfile, Facility, Zone
from detectors.geo import distance_to_path_km

# UN number -> (name zh, name en, hazard class, ERG guide)
CARGO: Mapping[str, tuple[str, str, str, str]] = {
    "1203": ("汽油", "Gasoline (motor spirit)", "3", "128"),
    "1202": ("柴油", "Diesel fuel / gas oil", "3", "128"),
    "1075": ("液化石油气", "Liquefied petroleum gas", "2.1", "115"),
    "1005": ("液氨（无水氨）", "Ammonia, anhydrous", "2.3", "125"),
    "1017": ("液氯", "Chlorine", "2.3", "124"),
    "1830": ("硫酸", "Sulfuric acid", "8", "137"),
    "1824": ("氢氧化钠溶液", "Sodium hydroxide solution", "8", "154"),
    "1230": ("甲醇", "Methanol", "3", "131"),
    "1789": ("盐酸", "Hydrochloric acid", "8", "157"),
    "1090": ("丙酮", "Acetone", "3", "127"),
}
HAZARD_CLASS_NAMES: Mapping[str, tuple[str, str]] = {  # GB 6944 / UN Model Regulations
    "1": ("爆炸品", "Explosives"), "2.1": ("易燃气体", "Flammable gas"),
    "2.2": ("非易燃无毒气体", "Non-flammable, non-toxic gas"), "2.3": ("毒性气体", "Toxic gas"),
    "3": ("易燃液体", "Flammable liquid"), "4.1": ("易燃固体", "Flammable solid"),
    "4.2": ("易于自燃的物质", "Spontaneously combustible substance"),
    "4.3": ("遇水放出易燃气体的物质", "Dangerous when wet"),
    "5.1": ("氧化性物质", "Oxidizing substance"), "5.2": ("有机过氧化物", "Organic peroxide"),
    "6.1": ("毒性物质", "Toxic substance"), "6.2": ("感染性物质", "Infectious substance"),
    "7": ("放射性物质", "Radioactive material"), "8": ("腐蚀性物质", "Corrosive substance"),
    "9": ("杂项危险物质和物品", "Miscellaneous dangerous goods"),
}
_TIH = ("有毒气体，须在上风向接近，穿戴正压式空气呼吸器和气密型防化服；下风向防护距离见ERG表1/表3。",
        "Toxic by inhalation: approach from upwind in SCBA and a gas-tight suit; downwind "
        "protective distances per ERG Table 1/3.")
_FLUSH = ("脱去污染衣物，用流动清水冲洗皮肤或眼睛至少20分钟；呼叫120。",
          "Remove contaminated clothing; flush skin or eyes with running water for at "
          "least 20 minutes; call 120.")
_AIR = ("将伤员移至空气新鲜处，呼吸困难者给氧；呼叫120，吸入后症状可能延迟出现。",
        "Move victims to fresh air; give oxygen if breathing is difficult; call 120 — "
        "effects of inhalation may be delayed.")
_LIQ_SPILL = ("消除一切点火源，勿接触或踏入泄漏物；在安全前提下堵漏；用沙土围堵吸收，防止流入水体和下水道；使用无火花工具。",
              "Eliminate ignition sources; do not touch or walk through the product; stop "
              "the leak if safe; dike and absorb with sand or earth; keep it out of "
              "waterways and sewers; use non-sparking tools.")
_CORR_SPILL = ("勿接触泄漏物；在安全前提下堵漏；用干沙土覆盖围堵，勿向泄漏物或容器内喷水；防止流入水体和下水道。",
               "Do not touch the product; stop the leak if safe; cover and dike with dry "
               "sand or earth; do not put water on it or into containers; keep it out of "
               "waterways and sewers.")


def _fire(zh: str, en: str) -> tuple[str, str]:
    return (zh + "从远处用大量水冷却容器；安全阀声响或罐体变色时立即撤离。",
            en + " Cool containers with flooding water from a distance; withdraw at once "
                 "if a relief valve roars or the tank discolours.")


# ERG guide -> isolation m, large-spill downwind m (None: see the guide's table),
# tank-in-fire isolation m, fire / spill / first-aid advice (zh, en)
GUIDES: Mapping[str, dict[str, Any]] = {
    "128": dict(isolation_m=50, large_spill_m=300, fire_isolation_m=800, fire=_fire(
        "小火用干粉、二氧化碳、水雾或普通泡沫；大火用水雾或普通泡沫，勿用直流水。",
        "Small fire: dry chemical, CO2, water spray or foam; large fire: water spray or "
        "foam, no straight streams."), spill=_LIQ_SPILL, first_aid=_FLUSH),
    "127": dict(isolation_m=50, large_spill_m=300, fire_isolation_m=800, fire=_fire(
        "用干粉、二氧化碳、水雾或抗溶性泡沫（本品溶于水，普通泡沫无效）。",
        "Dry chemical, CO2, water spray or alcohol-resistant foam (water-miscible: "
        "ordinary foam fails)."), spill=_LIQ_SPILL, first_aid=_FLUSH),
    "131": dict(isolation_m=50, large_spill_m=300, fire_isolation_m=800, fire=_fire(
        "用干粉、二氧化碳、水雾或抗溶性泡沫；火焰可能不可见。",
        "Dry chemical, CO2, water spray or alcohol-resistant foam; the flame may be "
        "invisible."), spill=_LIQ_SPILL,
        first_aid=("吸入或误服有毒（甲醇可致失明和死亡）：" + _AIR[0],
                   "Toxic if inhaled or swallowed (methanol can blind and kill): " + _AIR[1])),
    "115": dict(isolation_m=100, large_spill_m=800, fire_isolation_m=1600, fire=_fire(
        "除非能切断气源，不要扑灭泄漏气体的火焰；使用无人值守水炮，警惕沸腾液体扩展蒸气爆炸（BLEVE）。",
        "Do not put out a leaking-gas fire unless the leak can be stopped; use unmanned "
        "monitors; beware of a BLEVE."),
        spill=("消除一切点火源；在安全前提下切断气源；用水雾驱散蒸气云但不要直接喷向泄漏处；气体比空气重，沿地面扩散，远离低洼处。",
               "Eliminate ignition sources; stop the leak if safe; use water spray to "
               "divert the vapour cloud, never on the leak; the gas is heavier than air "
               "and flows along the ground — keep out of low areas."),
        first_aid=(_AIR[0] + "液化气冻伤用温水复温，勿揉搓。",
                   _AIR[1] + " Thaw frostbite from the liquefied gas with lukewarm "
                             "water; do not rub.")),
    "125": dict(isolation_m=100, large_spill_m=None, fire_isolation_m=1600, fire=_fire(
        "小火用干粉或二氧化碳，大火用水雾或普通泡沫；勿让水进入容器。",
        "Small fire: dry chemical or CO2; large fire: water spray or foam; keep water "
        "out of containers."),
        spill=(_TIH[0] + "在安全前提下堵漏；用水雾吸收蒸气，勿向泄漏处喷水。",
               _TIH[1] + " Stop the leak if safe; knock vapours down with water spray, "
                         "never on the leak."), first_aid=(_AIR[0] + _FLUSH[0],
                                                          _AIR[1] + " " + _FLUSH[1])),
    "124": dict(isolation_m=100, large_spill_m=None, fire_isolation_m=1600, fire=_fire(
        "本品不燃但助燃：控制周边火势，用水雾保护周边，勿让水进入容器。",
        "Does not burn but supports combustion: fight the surrounding fire with water "
        "spray; keep water out of containers."),
        spill=(_TIH[0] + "远离可燃物；用水雾吸收蒸气，勿向泄漏处喷水。",
               _TIH[1] + " Keep combustibles away; knock vapours down with water "
                         "spray, never on the leak."),
        first_aid=(_AIR[0] + _FLUSH[0], _AIR[1] + " " + _FLUSH[1])),
    "137": dict(isolation_m=50, large_spill_m=None, fire_isolation_m=800, fire=_fire(
        "勿直接向本品喷水（遇水剧烈放热飞溅）；小火用二氧化碳或干粉，大火从远处用水淹没周边。",
        "No water on the product itself (violent heat and spattering); small fire: CO2 "
        "or dry chemical; large fire: flood the surroundings from a distance."),
        spill=_CORR_SPILL, first_aid=(_FLUSH[0] + "灼伤可能严重。",
                                      _FLUSH[1] + " Burns may be severe.")),
    "154": dict(isolation_m=50, large_spill_m=None, fire_isolation_m=800, fire=_fire(
        "本品不燃；按周边火灾选择灭火剂。", "Non-combustible; use the agent the surrounding fire "
        "needs."), spill=_CORR_SPILL, first_aid=_FLUSH),
    "157": dict(isolation_m=50, large_spill_m=None, fire_isolation_m=800, fire=_fire(
        "本品不燃，受热放出有毒腐蚀性烟气（氯化氢）；用水雾，勿让水进入容器。",
        "Non-combustible; heat releases toxic, corrosive fumes (hydrogen chloride); use "
        "water spray, keep water out of containers."), spill=_CORR_SPILL,
        first_aid=(_AIR[0] + _FLUSH[0], _AIR[1] + " " + _FLUSH[1])),
    "111": dict(isolation_m=100, large_spill_m=None, fire_isolation_m=800, fire=_fire(
        "货物不明：按最危险情况处置，从上风向远处灭火。",
        "Unidentified cargo: assume the worst; fight the fire from upwind and far."),
        spill=("位于上风向，勿接触泄漏物；通过电子运单、标志牌或承运人尽快确认货物。",
               "Stay upwind; do not touch the product; identify the cargo from the "
               "electronic waybill, placards or the carrier."), first_aid=_AIR),
}
_UN = re.compile(r"^[0-9]{4}$")


def cargo_info(un_number: str, hazard_class: str = "") -> dict[str, Any]:
    """Name, class and ERG-style guidance of a UN number (``known: False`` if not listed)."""
    un = str(un_number).strip().upper().removeprefix("UN")
    row = CARGO.get(un)
    if row is None:
        shown = un if _UN.match(un) else repr(un_number)
        row = (f"未知货物（UN{shown} 不在内置表中）", f"Unknown cargo (UN{shown} not in the "
               f"built-in table)", str(hazard_class or ""), "111")
    zh, en, table_class, guide = row
    cls = str(hazard_class or table_class)
    names = HAZARD_CLASS_NAMES.get(cls, ("未知类别", "unknown class"))
    g = GUIDES[guide]
    return {"un_number": un, "known": un in CARGO, "name_zh": zh, "name_en": en,
            "hazard_class": cls, "hazard_class_zh": names[0], "hazard_class_en": names[1],
            "class_mismatch": un in CARGO and bool(hazard_class) and hazard_class != table_class,
            "guide": guide, "isolation_m": g["isolation_m"], "large_spill_m": g["large_spill_m"],
            "fire_isolation_m": g["fire_isolation_m"],
            **{k: {"zh": g[k][0], "en": g[k][1]} for k in ("fire", "spill", "first_aid")}}


def hazmat_cargo(incident: Incident, cargo: Mapping[str, Sequence[str]] | None = None
                 ) -> list[dict[str, Any]]:
    """Cargo entries of an incident: from its alerts' ``un_number``/``hazard_class`` and
    from ``cargo`` ({entity id: (un number, hazard class)}, e.g. the last vehicle_gps)."""
    seen: dict[str, str] = {}
    for m in incident.members.values():
        if m.attrs.get("un_number"):
            seen.setdefault(m.attrs["un_number"], m.attrs.get("hazard_class", ""))
        if cargo and m.entity_id in cargo:
            un, *cls = cargo[m.entity_id]
            seen.setdefault(str(un), str(cls[0]) if cls else "")
    return [cargo_info(un, cls) for un, cls in sorted(seen.items())]


def _zone_row(z: Zone, lat: float, lon: float) -> dict[str, Any]:
    d = distance_to_path_km(lat, lon, z.path) if z.path else km_between(lat, lon, z.lat, z.lon)
    inside_km = (z.width_m / 2 if z.path else z.radius_m) / 1000
    return {"id": z.id, "zh": z.zh, "en": z.en, "district": z.district,
            "distance_km": round(float(d), 3), "inside": bool(d <= inside_km)}


def _nearest(facilities: Sequence[Facility], lat: float, lon: float, k: int
             ) -> list[dict[str, Any]]:
    if not facilities:
        return []
    # (a city has tens of these: plain floats beat numpy's per-call overhead)
    d = [km_between(lat, lon, f.lat, f.lon) for f in facilities]
    out = []
    for i in sorted(range(len(d)), key=d.__getitem__)[:k]:
        f = facilities[i]
        row = {"id": f.id, "zh": f.zh, "en": f.en, "district": f.district,
               "distance_km": round(d[i], 3)}
        if f.engines:
            row["engines"] = f.engines
        out.append(row)
    return out


def warning_radius_km(hazmat: Sequence[Mapping[str, Any]], default_km: float) -> float:
    """How far the public should be warned: the largest cargo distance, else the default."""
    metres = [h["large_spill_m"] or h["fire_isolation_m"] for h in hazmat]
    return max([default_km] + [m / 1000 for m in metres])


def enrich(incident: Incident, profile: CityProfile, *, radius_km: float = 1.0,
           nearest_k: int = 3, cargo: Mapping[str, Sequence[str]] | None = None
           ) -> dict[str, Any]:
    """The enrichment of an incident (JSON-serialisable). Protected places are listed
    within ``radius_km``, widened to a hazmat cargo's warning distance."""
    hazmat = hazmat_cargo(incident, cargo)
    reach = warning_radius_km(hazmat, radius_km)
    lat, lon = incident.lat, incident.lon
    located = lat is not None and lon is not None and math.isfinite(lat) and math.isfinite(lon)
    code = incident.district
    if not any(d.code == code for d in profile.districts) and located:
        code = profile.nearest_district(lat, lon)  # type: ignore[arg-type]
    dist = next((d for d in profile.districts if d.code == code), None)
    out: dict[str, Any] = {
        "version": 1,
        "city": {"name": profile.name, "zh": profile.name_zh, "en": profile.name_en,
                 "utc_offset_hours": profile.utc_offset_hours},
        "district": {"code": code, "zh": dist.zh if dist else code,
                     "en": dist.en if dist else code},
        "location": {"lat": lat, "lon": lon} if located else None,
        "assets": incident.entities, "calls": sorted(incident.calls), "hazmat": hazmat,
        "radius_km": round(reach, 3),
        "nearby": {"schools": [], "hospitals": [], "water_sources": [], "tunnels": []},
        "nearest": {"fire_stations": [], "hospitals": []},
    }
    if not located:
        return out
    assert lat is not None and lon is not None
    for key, zones in (("schools", profile.schools), ("water_sources", profile.water_sources),
                       ("tunnels", profile.tunnels)):
        rows = [_zone_row(z, lat, lon) for z in zones]
        out["nearby"][key] = sorted((r for r in rows if r["distance_km"] <= reach),
                                    key=lambda r: (r["distance_km"], r["id"]))
    hospitals = _nearest(profile.hospitals, lat, lon, len(profile.hospitals))
    out["nearby"]["hospitals"] = [h for h in hospitals if h["distance_km"] <= reach]
    out["nearest"] = {"fire_stations": _nearest(profile.fire_stations, lat, lon, nearest_k),
                      "hospitals": hospitals[:nearest_k]}
    return out
