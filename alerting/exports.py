"""What an incident says to people and to other systems: the bilingual texts of a warning
(headline, description, instruction, area) shared by the CAP (``alerting.cap``) and
GB/T 35965.1-style (``alerting.gbt``) exports, and the incident timeline.

Why one module: both exports must say the same thing in the same words, and the timeline
is the same events told as a story (zh-CN and en). Pure: times are epoch ms, rendered in
the city's fixed UTC offset (taken from the enrichment).
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Mapping

from alerting.incident_model import Incident, IncidentEvent

SEVERITY_WORDS = {"critical": ("特别严重", "critical"), "major": ("严重", "major"),
                  "minor": ("较重", "minor"), "info": ("一般", "low")}
INSTRUCTIONS: Mapping[str, tuple[str, str]] = {
    "gas": ("疏散周边人员，严禁明火、严禁开关电器，关闭燃气阀门，等待燃气抢修和消防人员处置。",
            "Evacuate the area; no open flames and no electrical switching; shut gas valves; "
            "wait for the gas utility and the fire service."),
    "water": ("避开积水和可能塌陷的路面，提前储水，听从供水抢修人员指挥。",
              "Keep away from flooded roads and possible subsidence; store water; follow the "
              "water utility's crews."),
    "fire": ("远离火场和烟雾，关闭门窗，保持消防通道畅通，听从消防指挥。",
             "Stay away from the fire and its smoke; close windows; keep access routes "
             "clear; follow the fire service."),
    "traffic": ("绕行事故路段，减速慢行，为救援车辆让行。",
                "Avoid the affected road; slow down; give way to emergency vehicles."),
    "hazmat": ("立即远离现场并转移至上风向，关闭门窗，切勿靠近事故车辆，听从现场指挥疏散。",
               "Move away and upwind at once; close windows; do not approach the vehicle; "
               "follow evacuation orders."),
    "ems": ("保持通道畅通，配合120急救人员。", "Keep access clear and assist the 120 crews."),
}
_GENERIC = ("请关注官方通报，听从现场指挥。", "Follow official updates and on-scene instructions.")
_BAD_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def xml_text(value: Any) -> str:
    """Text safe for XML 1.0: ElementTree escapes ``& < >`` but not control characters."""
    return _BAD_XML_CHARS.sub("", str(value))


def offset_hours(enrichment: Mapping[str, Any]) -> float:
    return float((enrichment.get("city") or {}).get("utc_offset_hours", 0.0) or 0.0)


def local_time(ms: int, hours: float, sep: str = "T") -> str:
    """``YYYY-MM-DDThh:mm:ss+08:00``; UTC as ``-00:00`` (CAP 1.2 forbids ``Z``)."""
    tz = timezone(timedelta(hours=hours))
    dt = datetime.fromtimestamp(ms // 1000, tz=timezone.utc).astimezone(tz)
    mins = round(hours * 60)
    sign = "-" if mins <= 0 else "+"
    return f"{dt:%Y-%m-%d}{sep}{dt:%H:%M:%S}{sign}{abs(mins) // 60:02d}:{abs(mins) % 60:02d}"


def area_circle(incident: Incident, enrichment: Mapping[str, Any], default_km: float = 0.5
                ) -> str | None:
    """``"lat,lon radius_km"`` around the incident (None when it has no location)."""
    if incident.lat is None or incident.lon is None:
        return None
    km = max(float(enrichment.get("radius_km") or 0.0), default_km)
    return f"{incident.lat:.6f},{incident.lon:.6f} {km:.3f}"


def warning_texts(incident: Incident, enrichment: Mapping[str, Any], lang: str
                  ) -> dict[str, str]:
    """headline, description, instruction and areaDesc in ``zh`` or ``en``."""
    zh = lang.startswith("zh")
    li = 0 if zh else 1
    d, city = enrichment.get("district") or {}, enrichment.get("city") or {}
    place = (d.get("zh") or incident.district) if zh else (d.get("en") or incident.district)
    cat = incident.category_zh if zh else incident.category_en
    n, over = len(incident.members), incident.status != "open"
    headline = (f"{place}{cat}（{n}条告警）" + ("，已解除" if over else "")) if zh else \
        (f"{cat} in {place} ({n} alert{'s' * (n != 1)})" + (" - all clear" if over else ""))
    titles = [(m.title_zh if zh else m.title_en) or m.kind for m in sorted(
        incident.members.values(), key=lambda m: (m.first_ms, m.fingerprint))]
    shown = ("；" if zh else "; ").join(titles[:8]) + \
        ((f"等{n}条" if zh else f" and {n - 8} more") if n > 8 else "")
    when = local_time(incident.opened_ms, offset_hours(enrichment), " ")
    sev = SEVERITY_WORDS.get(incident.severity, (incident.severity,) * 2)[li]
    parts = [f"事件{incident.incident_id}，{when}起，级别：{sev}。告警：{shown}。" if zh else
             f"Incident {incident.incident_id} since {when}, severity {sev}. Alerts: {shown}."]
    for h in enrichment.get("hazmat") or ():
        parts.append(f"危化品：UN{h['un_number']} {h['name_zh']}（第{h['hazard_class']}类 "
                     f"{h['hazard_class_zh']}）。" if zh else
                     f"Hazmat: UN{h['un_number']} {h['name_en']} (class {h['hazard_class']}, "
                     f"{h['hazard_class_en']}).")
    near = enrichment.get("nearby") or {}
    labels = {"schools": ("学校", "schools"), "hospitals": ("医院", "hospitals"),
              "water_sources": ("饮用水水源", "drinking-water sources"),
              "tunnels": ("隧道", "tunnels")}
    for key, (lz, le) in labels.items():
        rows = near.get(key) or ()
        if rows:
            names = ("、" if zh else ", ").join(
                f"{r['zh' if zh else 'en']}（{r['distance_km']:.1f}公里）" if zh else
                f"{r['en']} ({r['distance_km']:.1f} km)" for r in rows[:5])
            parts.append(f"附近{lz}：{names}。" if zh else f"Nearby {le}: {names}.")
    if incident.calls:
        parts.append(f"关联120/119呼叫{len(incident.calls)}起。" if zh else
                     f"{len(incident.calls)} linked 120/119 calls.")
    steps = [INSTRUCTIONS.get(incident.category, _GENERIC)[li]]
    for h in enrichment.get("hazmat") or ():
        iso = h["isolation_m"]
        steps.append(f"UN{h['un_number']}：立即隔离泄漏区至少{iso}米。" if zh else
                     f"UN{h['un_number']}: isolate the spill area at least {iso} m at once.")
        steps += [h[k]["zh" if zh else "en"] for k in ("spill", "fire", "first_aid")]
    station = ((enrichment.get("nearest") or {}).get("fire_stations") or [None])[0]
    if station:
        steps.append(f"最近消防站：{station['zh']}（{station['distance_km']:.1f}公里）。" if zh
                     else f"Nearest fire station: {station['en']} "
                          f"({station['distance_km']:.1f} km).")
    city_name = city.get("zh" if zh else "en") or ""
    return {"headline": headline, "description": "".join(parts) if zh else " ".join(parts),
            "instruction": "".join(steps) if zh else " ".join(steps),
            "areaDesc": f"{city_name}{place}" if zh else f"{place}, {city_name}".strip(", ")}


# -- the timeline ------------------------------------------------------------------------
_CALL_ZH = {"ems": "120", "fire": "119"}
_CALL_EN = {"ems": "120 EMS", "fire": "119 fire"}


def describe(ev: IncidentEvent) -> tuple[str, str]:
    """One event as a line of the incident's story, (zh, en)."""
    p, k = ev.payload, ev.kind
    if k == "opened":
        n = len(p["members"])
        return (f"事件建立：{p['category_zh']}，{n}条告警",
                f"Opened: {p['category_en']}, {n} alert{'s' * (n != 1)}")
    if k in ("alert_attached", "alert_resolved"):
        m = p["member"]
        zh, en = (m.get("title_zh") or m["kind"]), (m.get("title_en") or m["kind"])
        return (f"告警并入：{zh}", f"Alert attached: {en}") if k == "alert_attached" else \
            (f"告警恢复：{zh}", f"Alert resolved: {en}")
    if k == "merged":
        n = len(p["members"])
        return f"并入事件{p['source']}（{n}条告警）", f"Merged in {p['source']} ({n} alerts)"
    if k == "merged_into":
        return f"已并入事件{p['target']}", f"Merged into {p['target']}"
    if k == "split":
        n = len(p["fingerprints"])
        return (f"拆分出{n}条告警至事件{p['new_incident']}",
                f"Split {n} alerts out to {p['new_incident']}")
    if k == "severity_changed":
        zf, ef = SEVERITY_WORDS.get(p["from"], (p["from"],) * 2)
        zt, et = SEVERITY_WORDS.get(p["to"], (p["to"],) * 2)
        return f"级别：{zf} → {zt}", f"Severity: {ef} → {et}"
    if k == "call_linked":
        s = p["stream"]
        return (f"关联{_CALL_ZH.get(s, s)}呼叫{p['call_id']}",
                f"Linked {_CALL_EN.get(s, s)} call {p['call_id']}")
    if k == "call_unlinked":
        s = p["stream"]
        return (f"{_CALL_ZH.get(s, s)}呼叫{p['call_id']}改关联至事件{p['moved_to']}",
                f"{_CALL_EN.get(s, s)} call {p['call_id']} moved to {p['moved_to']}")
    if k == "note_added":
        return f"备注：{p['text']}", f"Note: {p['text']}"
    if k == "enriched":
        return "更新事件周边与危化品信息", "Enrichment updated (surroundings, cargo)"
    if k == "resolved":
        return f"事件结束：{p.get('reason', '')}", f"Resolved: {p.get('reason', '')}"
    detail = ", ".join(f"{key}={json.dumps(v, ensure_ascii=False)}" for key, v in sorted(p.items()))
    return f"{k}：{detail}", f"{k}: {detail}"


def timeline(events: Iterable[IncidentEvent], incident_id: str, hours: float = 0.0
             ) -> list[dict[str, Any]]:
    """The incident's story: its events, notes and unit records, and those of the incidents
    merged into it, in time order (then log order)."""
    evs = list(events)
    ids, grew = {incident_id}, True
    while grew:
        more = {e.payload["source"] for e in evs if e.kind == "merged" and e.incident_id in ids}
        grew, ids = not more <= ids, ids | more
    rows = []
    for e in sorted((e for e in evs if e.incident_id in ids), key=lambda e: (e.at_ms, e.lsn)):
        zh, en = describe(e)
        rows.append({"at_ms": e.at_ms, "at": local_time(e.at_ms, hours),
                     "incident_id": e.incident_id, "seq": e.seq, "kind": e.kind,
                     "actor": e.actor, "zh": zh, "en": en})
    return rows
