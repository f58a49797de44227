"""The what-if report as text: headers and labels from one zh/en vocabulary (pure).

:func:`render_text` prints the dict of :func:`replay.whatif.compare` in ``lang`` ("zh" the
default, or "en"); the JSON form (``--json``) is :func:`replay.whatif.to_json`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping

VOCAB: dict[str, tuple[str, str]] = {
    "title": ("假设推演对比", "What-if comparison"),
    "alerts": ("告警", "Alerts"),
    "added": ("新增告警", "Alerts added"),
    "removed": ("消失告警", "Alerts removed"),
    "tta": ("告警时间（自窗口开始）", "Time to alert (from the window's start)"),
    "tta_kind": ("按告警类型", "By kind"),
    "incidents": ("事件", "Incidents"),
    "matched_inc": ("两次均有的事件", "Incidents in both"),
    "only_baseline": ("仅基线有的事件", "Incidents only in the baseline"),
    "only_variant": ("仅推演有的事件", "Incidents only in the variant"),
    "notifications": ("通知", "Notifications"),
    "baseline": ("基线", "baseline"),
    "variant": ("推演", "variant"),
    "matched": ("匹配", "matched"),
    "delta": ("差值", "delta"),
    "none": ("无", "none"),
    "units": ("推荐力量", "recommended units"),
    "packages": ("调派方案数", "packages"),
    "total": ("合计", "total"),
    "alike": ("等同类告警", "and alike"),
    "by_receiver": ("各接收方的通知数见 --json", "per receiver: see --json"),
}
LANGS = ("zh", "en")


@dataclass(frozen=True)
class Names:
    """The words for the codes a report carries: districts, incident categories, unit
    capabilities (code -> (zh, en)); a code with no words is said as "unknown"."""

    districts: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    categories: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    capabilities: Mapping[str, tuple[str, str]] = field(default_factory=dict)

    @classmethod
    def of_city(cls, profile: Any) -> "Names":
        from alerting.incident_config import DEFAULT_CATEGORIES
        from dispatch.units import CAPABILITY_TEXT
        return cls({d.code: (d.zh, d.en) for d in profile.districts},
                   {c.name: (c.zh, c.en) for c in DEFAULT_CATEGORIES},
                   dict(CAPABILITY_TEXT))


def _said(table: Mapping[str, tuple[str, str]], code: str, lang: str) -> str:
    pair = table.get(code)
    if pair is None:
        return "未知" if lang == "zh" else "unknown"
    return pair[LANGS.index(lang)]


def _title(row: Mapping[str, Any], lang: str) -> str:
    title = row.get("title") or {}
    return title.get(lang) or title.get("zh") or ("（无标题）" if lang == "zh" else "(untitled)")


def word(key: str, lang: str = "zh") -> str:
    return VOCAB[key][LANGS.index(lang)]


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _s(x: float | None) -> str:
    return "-" if x is None else f"{x:+.1f}s" if x < 0 or x > 0 else "0.0s"


def _t(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}s"


def render_text(report: Mapping[str, Any], lang: str = "zh", names: Names | None = None
                ) -> str:
    """The report in ``lang``; codes said with ``names`` (unit ids are names already)."""
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {LANGS}, not {lang!r}")
    names = names or Names()
    w = lambda k: word(k, lang)  # noqa: E731
    district = lambda c: _said(names.districts, c, lang) if c else "-"  # noqa: E731
    category = lambda c: _said(names.categories, c, lang)  # noqa: E731

    def _units(units: list[Mapping[str, Any]]) -> str:
        o, c = ("（", "）") if lang == "zh" else (" (", ")")
        return ", ".join(f"{u['unit_id']}{o}{_said(names.capabilities, u['capability'], lang)}"
                         f" {_t(u['eta_s'])}{c}" for u in units) or "-"

    out = [f"== {w('title')} ({_iso(report['start_ms'])}) =="]
    al = report["alerts"]
    out.append(f"\n## {w('alerts')}: {w('baseline')} {al['baseline']}, {w('variant')} "
               f"{al['variant']}, {w('matched')} {al['matched']}")
    for key in ("added", "removed"):
        out.append(f"\n### {w(key)} ({len(al[key])})")
        for a in al[key]:
            out.append(f"  {_title(a, lang)}  {district(a['district'])}  "
                       f"{_iso(a['first_firing_ms'])}")
        if not al[key]:
            out.append(f"  {w('none')}")
    tta = report["time_to_alert"]
    out.append(f"\n## {w('tta')}")
    for a in tta["alerts"]:
        if a["delta_s"]:
            out.append(f"  {_title(a, lang)}  {w('baseline')} "
                       f"{_t(a['baseline_s'])}  {w('variant')} {_t(a['variant_s'])}  "
                       f"{w('delta')} {_s(a['delta_s'])}")
    out.append(f"### {w('tta_kind')}")
    for k in tta["kinds"]:
        out.append(f"  {_title(k, lang)} {w('alike')}  {w('baseline')} {k['baseline']:>4} "
                   f"({_t(k['first_baseline_s'])})  {w('variant')} {k['variant']:>4} "
                   f"({_t(k['first_variant_s'])})  {w('delta')} {_s(k['first_delta_s'])}")
    inc = report["incidents"]
    out.append(f"\n## {w('incidents')}: {w('baseline')} {inc['baseline']}, {w('variant')} "
               f"{inc['variant']}")
    out.append(f"### {w('matched_inc')} ({len(inc['matched'])})")
    for m in inc["matched"]:
        b, v = m["baseline"], m["variant"]
        out.append(f"  {category(b['category'])}  {district(b['district'])}  "
                   f"{b['incident_id']} / "
                   f"{v['incident_id']}  {w('delta')} {_s(m['opened_delta_s'])}")
        out.append(f"    {w('baseline')} {w('units')}: {_units(b['units'])}")
        out.append(f"    {w('variant')} {w('units')}: {_units(v['units'])}")
    for key in ("only_baseline", "only_variant"):
        out.append(f"### {w(key)} ({len(inc[key])})")
        for i in inc[key]:
            out.append(f"  {category(i['category'])}  {district(i['district'])}  "
                       f"{i['incident_id']} "
                       f"{_iso(i['opened_ms'])}  {w('units')}: {_units(i['units'])}")
    n = report["notifications"]
    out.append(f"\n## {w('notifications')}: {w('baseline')} {n['baseline']['total']}, "
               f"{w('variant')} {n['variant']['total']}")
    out.append(f"  {w('by_receiver')}")
    return "\n".join(out) + "\n"
