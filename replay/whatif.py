"""What-if: two replays of one window side by side (pure: records in, a comparison out).

A what-if replays the same window twice, once with the configuration in force (the
baseline) and once with overrides (:mod:`replay.overrides`), and compares the records each
produced (:class:`replay.timeline.OutRecord`: the bytes the live worker would publish):

* alerts, by fingerprint (the detector's identity of a condition: the same fingerprint in
  both runs is the same alert): added (only in the variant), removed (only in the baseline)
  and matched; each with its kind, entity, district and first firing time;
* time to alert: the first firing time of each alert, measured from the window's start,
  per matched alert and per kind (earliest and mean over the matched alerts), with deltas;
* incidents, matched by their alert sets (a pair shares at least one fingerprint; the
  largest overlap first, ties by opening time and id: deterministic);
* the first package the board recommended for each incident (units and ETAs, from the
  ``package_recommended`` records of the ``dispatch`` topic) and how many followed;
* notifications delivered, counted per receiver.

Everything here is a pure function of its inputs: the same two timelines always give the
same report, byte for byte (:func:`to_json`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Protocol

import orjson


class Record(Protocol):
    """What is read of a :class:`replay.timeline.OutRecord`."""

    at_ms: int
    topic: str
    key: bytes
    value: bytes


@dataclass(frozen=True)
class AlertSeen:
    fingerprint: str
    kind: str
    entity_id: str
    district: str
    severity: str
    first_firing_ms: int


@dataclass
class IncidentSeen:
    incident_id: str
    category: str
    district: str
    lat: float | None
    lon: float | None
    opened_ms: int
    fingerprints: set[str] = field(default_factory=set)
    packages: int = 0
    first_package: list[dict[str, Any]] = field(default_factory=list)   # unit, capability, eta


@dataclass
class RunSummary:
    """What one replay produced, as the comparison needs it."""

    alerts: dict[str, AlertSeen] = field(default_factory=dict)
    incidents: dict[str, IncidentSeen] = field(default_factory=dict)
    notifications: dict[str, int] = field(default_factory=dict)   # receiver -> count
    titles: dict[str, tuple[str, str]] = field(default_factory=dict)   # fp -> (zh, en)

    def add(self, records: Iterable[Record]) -> None:
        """Take a replay's records as they come (a window's records are never all held)."""
        for r in records:
            if r.topic == "alerts":
                fp = r.key.decode("utf-8", "replace")
                if fp not in self.titles:
                    a = orjson.loads(r.value)
                    self.titles[fp] = (a.get("title_zh") or "", a.get("title_en") or "")
            elif r.topic == "alert_events":
                _alert_event(self, orjson.loads(r.value))
            elif r.topic == "incident_events":
                _incident_event(self, orjson.loads(r.value))
            elif r.topic == "dispatch":
                _dispatch(self, orjson.loads(r.value))
            elif r.topic == "notifications" and b'"outcome":"delivered"' in r.value:
                receiver = r.key.decode("utf-8", "replace")
                self.notifications[receiver] = self.notifications.get(receiver, 0) + 1


def summarize(records: Iterable[Record]) -> RunSummary:
    """Read the alert, incident, dispatch and notification records of one replay."""
    s = RunSummary()
    s.add(records)
    return s


def _alert_event(s: RunSummary, ev: Mapping[str, Any]) -> None:
    fp = ev["fingerprint"]
    if ev["to_state"] != "firing" or fp in s.alerts:
        return
    s.alerts[fp] = AlertSeen(fp, ev["kind"], ev["entity_id"], ev["district"], ev["severity"],
                             int(ev["at_ms"]))


def _incident_event(s: RunSummary, ev: Mapping[str, Any]) -> None:
    kind, iid = ev["kind"], ev["incident_id"]
    payload = orjson.loads(ev["payload_json"])
    if kind == "opened":
        s.incidents[iid] = IncidentSeen(
            iid, payload["category"], payload.get("district", ""), payload.get("lat"),
            payload.get("lon"), int(payload.get("opened_ms", ev["at_ms"])),
            {m["fingerprint"] for m in payload.get("members", ())})
        return
    inc = s.incidents.get(iid)
    if inc is None:
        return
    if kind in ("alert_attached", "alert_resolved"):
        inc.fingerprints.add(payload["member"]["fingerprint"])
    elif kind == "merged":
        inc.fingerprints.update(m["fingerprint"] for m in payload.get("members", ()))


def _dispatch(s: RunSummary, rec: Mapping[str, Any]) -> None:
    if rec.get("kind") != "package_recommended":
        return
    inc = s.incidents.get(rec.get("incident_id", ""))
    if inc is None:
        return
    inc.packages += 1
    if inc.packages == 1:
        inc.first_package = [{"unit_id": it["unit_id"], "capability": it["capability"],
                              "eta_s": it.get("eta_s")}
                             for it in rec["payload"].get("items", ())]


# -- the comparison ------------------------------------------------------------------------
def _title(s: RunSummary, fp: str) -> dict[str, str]:
    zh, en = s.titles.get(fp, ("", ""))
    return {"zh": zh, "en": en}


def _alert_row(a: AlertSeen, start_ms: int, s: RunSummary) -> dict[str, Any]:
    return {"fingerprint": a.fingerprint, "title": _title(s, a.fingerprint),
            "kind": a.kind, "entity_id": a.entity_id,
            "district": a.district, "severity": a.severity,
            "first_firing_ms": a.first_firing_ms, "time_to_alert_s": _secs(a, start_ms)}


def _secs(a: AlertSeen, start_ms: int) -> float:
    return round((a.first_firing_ms - start_ms) / 1000.0, 3)


def _by_time(alerts: Iterable[AlertSeen]) -> list[AlertSeen]:
    return sorted(alerts, key=lambda a: (a.first_firing_ms, a.fingerprint))


def compare(baseline: Iterable[Record], variant: Iterable[Record], start_ms: int
            ) -> dict[str, Any]:
    """The side-by-side comparison of two replays of the window starting at ``start_ms``
    (a JSON-able dict; :func:`replay.whatif_text.render_text` prints it)."""
    return compare_summaries(summarize(baseline), summarize(variant), start_ms)


def compare_summaries(b: RunSummary, v: RunSummary, start_ms: int) -> dict[str, Any]:
    """:func:`compare` of two runs already summarized (:meth:`RunSummary.add`)."""
    both = [fp for fp in b.alerts if fp in v.alerts]
    matched = [{"fingerprint": fp, "title": _title(b, fp), "kind": b.alerts[fp].kind,
                "entity_id": b.alerts[fp].entity_id, "district": b.alerts[fp].district,
                "baseline_s": _secs(b.alerts[fp], start_ms),
                "variant_s": _secs(v.alerts[fp], start_ms),
                "delta_s": round((v.alerts[fp].first_firing_ms
                                  - b.alerts[fp].first_firing_ms) / 1000.0, 3)}
               for fp in sorted(both, key=lambda f: (b.alerts[f].first_firing_ms, f))]
    return {
        "start_ms": start_ms,
        "alerts": {
            "baseline": len(b.alerts), "variant": len(v.alerts), "matched": len(matched),
            "added": [_alert_row(a, start_ms, v) for a in
                      _by_time(a for fp, a in v.alerts.items() if fp not in b.alerts)],
            "removed": [_alert_row(a, start_ms, b) for a in
                        _by_time(a for fp, a in b.alerts.items() if fp not in v.alerts)]},
        "time_to_alert": {"alerts": matched, "kinds": _per_kind(b, v, matched, start_ms)},
        "incidents": _incidents(b, v),
        "notifications": {"baseline": _counts(b.notifications),
                          "variant": _counts(v.notifications)},
    }


def _per_kind(b: RunSummary, v: RunSummary, matched: list[dict[str, Any]], start_ms: int
              ) -> list[dict[str, Any]]:
    kinds = sorted({a.kind for a in b.alerts.values()} | {a.kind for a in v.alerts.values()})
    out = []
    for kind in kinds:
        first_b = min((_secs(a, start_ms) for a in b.alerts.values() if a.kind == kind),
                      default=None)
        first_v = min((_secs(a, start_ms) for a in v.alerts.values() if a.kind == kind),
                      default=None)
        deltas = [m["delta_s"] for m in matched if m["kind"] == kind]
        first = _by_time([*(a for a in b.alerts.values() if a.kind == kind),
                          *(a for a in v.alerts.values() if a.kind == kind)])[0]
        out.append({"kind": kind,   # said by its first alert's title (a kind has no words)
                    "title": _title(b if first.fingerprint in b.alerts else v,
                                    first.fingerprint),
                    "baseline": sum(a.kind == kind for a in b.alerts.values()),
                    "variant": sum(a.kind == kind for a in v.alerts.values()),
                    "first_baseline_s": first_b, "first_variant_s": first_v,
                    "first_delta_s": None if first_b is None or first_v is None
                    else round(first_v - first_b, 3),
                    "matched": len(deltas),
                    "mean_delta_s": round(sum(deltas) / len(deltas), 3) if deltas else None})
    return out


def _counts(by_receiver: Mapping[str, int]) -> dict[str, Any]:
    return {"total": sum(by_receiver.values()),
            "by_receiver": {k: by_receiver[k] for k in sorted(by_receiver)}}


def _incident_row(inc: IncidentSeen) -> dict[str, Any]:
    return {"incident_id": inc.incident_id, "category": inc.category,
            "district": inc.district, "lat": inc.lat, "lon": inc.lon,
            "opened_ms": inc.opened_ms, "alerts": len(inc.fingerprints),
            "packages": inc.packages, "units": inc.first_package}


def match_incidents(b: Mapping[str, IncidentSeen], v: Mapping[str, IncidentSeen]
                    ) -> list[tuple[str, str]]:
    """Pairs (baseline id, variant id) sharing alerts: the largest overlap first (ties: the
    earlier baseline opening, then the ids), each incident in at most one pair."""
    cands = sorted(((len(bi.fingerprints & vi.fingerprints), bi.opened_ms, bi.incident_id,
                     vi.incident_id) for bi in b.values() for vi in v.values()
                    if bi.fingerprints & vi.fingerprints),
                   key=lambda c: (-c[0], c[1], c[2], c[3]))
    used_b: set[str] = set()
    used_v: set[str] = set()
    pairs = []
    for _, _, bid, vid in cands:
        if bid not in used_b and vid not in used_v:
            used_b.add(bid)
            used_v.add(vid)
            pairs.append((bid, vid))
    return sorted(pairs, key=lambda p: (b[p[0]].opened_ms, p[0]))


def _incidents(b: RunSummary, v: RunSummary) -> dict[str, Any]:
    pairs = match_incidents(b.incidents, v.incidents)
    in_b, in_v = {p[0] for p in pairs}, {p[1] for p in pairs}
    order = lambda incs: sorted(incs, key=lambda i: (i.opened_ms, i.incident_id))  # noqa: E731
    matched = []
    for bid, vid in pairs:
        bi, vi = b.incidents[bid], v.incidents[vid]
        matched.append({"baseline": _incident_row(bi), "variant": _incident_row(vi),
                        "shared_alerts": len(bi.fingerprints & vi.fingerprints),
                        "opened_delta_s": round((vi.opened_ms - bi.opened_ms) / 1000.0, 3),
                        "units_changed": _unit_ids(bi) != _unit_ids(vi)})
    return {"baseline": len(b.incidents), "variant": len(v.incidents), "matched": matched,
            "only_baseline": [_incident_row(i) for i in
                              order(i for k, i in b.incidents.items() if k not in in_b)],
            "only_variant": [_incident_row(i) for i in
                             order(i for k, i in v.incidents.items() if k not in in_v)]}


def _unit_ids(inc: IncidentSeen) -> list[str]:
    return sorted(u["unit_id"] for u in inc.first_package)


def to_json(report: Mapping[str, Any]) -> bytes:
    """The report as canonical JSON (sorted keys): identical reports, identical bytes."""
    return orjson.dumps(report, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2)
