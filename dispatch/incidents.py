"""What the board knows of incidents and calls: enough to choose a run card and to show a
call's age. Built from the alerting correlator's incident events (``IncidentEvent.to_row()``)
and the 119/120 call events; an incident event older than the last one applied (its
``seq``) is a redelivery and changes nothing.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

from dispatch.incident_type import incident_type

MAX_KINDS = 64      # member kinds and tags kept per incident (for the subtype)


@dataclass
class TrackedIncident:
    incident_id: str
    category: str
    category_zh: str = ""
    category_en: str = ""
    severity: str = "minor"
    lat: float | None = None
    lon: float | None = None
    district: str = ""
    opened_ms: int = 0
    status: str = "open"            # open | resolved | merged
    closed_ms: int = 0
    merged_into: str = ""
    seq: int = -1
    kinds: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    package_id: str = ""            # the current package ("" none)
    packages: int = 0               # how many were made (ids are versioned)
    plan_key: str = ""              # what the current package was planned for

    def learn_member(self, m: Mapping[str, Any]) -> None:
        for k in [m.get("kind")] if m.get("kind") else []:
            if k not in self.kinds and len(self.kinds) < MAX_KINDS:
                self.kinds.append(str(k))
        for t in m.get("tags") or ():
            if t not in self.tags and len(self.tags) < MAX_KINDS:
                self.tags.append(str(t))
        for c in m.get("calls") or ():
            cid = str(c[0]) if isinstance(c, (list, tuple)) and c else str(c)
            if cid not in self.calls:
                self.calls.append(cid)
        if self.lat is None and m.get("lat") is not None and m.get("lon") is not None:
            self.lat, self.lon = float(m["lat"]), float(m["lon"])

    def kind_of(self, patients: int) -> tuple[str, str]:
        return incident_type(self.category, self.kinds, self.tags, len(self.calls), patients)


class Incidents:
    def __init__(self) -> None:
        self.by_id: dict[str, TrackedIncident] = {}
        self.calls: dict[str, dict[str, Any]] = {}     # call id -> what the call said
        self.linked: dict[str, str] = {}               # call id -> its incident (derived)

    def get(self, incident_id: str) -> TrackedIncident | None:
        return self.by_id.get(incident_id)

    def observe_call(self, stream: str, event: Mapping[str, Any], at_ms: int) -> None:
        cid = str(event.get("entity_id", ""))
        if not cid or cid in self.calls:
            return
        linked = self.linked.get(cid, "")
        self.calls[cid] = {"stream": stream, "at_ms": at_ms, "lat": event.get("lat"),
                           "lon": event.get("lon"), "patients": int(event.get("patients") or 1),
                           "category": event.get("category") or event.get("complaint") or "",
                           "incident_id": linked}

    def patients(self, inc: TrackedIncident) -> int:
        return sum(int(self.calls.get(c, {}).get("patients", 1)) for c in inc.calls)

    def apply(self, row: Mapping[str, Any]) -> tuple[TrackedIncident | None, str]:
        """Apply one incident event row; (the incident, its kind) or (None, "") if ignored."""
        iid, kind = str(row.get("incident_id", "")), str(row.get("kind", ""))
        seq = int(row.get("seq", 0))
        raw = row.get("payload_json")
        payload = json.loads(raw) if isinstance(raw, str) else dict(row.get("payload") or {})
        inc = self.by_id.get(iid)
        if kind == "opened":
            if inc is not None:
                return None, ""
            inc = self.by_id[iid] = TrackedIncident(
                iid, str(payload.get("category", "")), str(payload.get("category_zh", "")),
                str(payload.get("category_en", "")), str(payload.get("severity", "minor")),
                payload.get("lat"), payload.get("lon"), str(payload.get("district", "")),
                int(payload.get("opened_ms", row.get("at_ms", 0))))
            for m in payload.get("members") or ():
                inc.learn_member(m)
            was = self.by_id.get(str(payload.get("split_from") or ""))
            for cid in payload.get("calls") or {}:
                if was is not None and str(cid) in was.calls:   # split off with its calls
                    was.calls.remove(str(cid))
                self._link(inc, str(cid))
        elif inc is None or seq <= inc.seq:
            return None, ""
        elif kind in ("alert_attached", "merged"):
            for m in ([payload.get("member")] if kind == "alert_attached"
                      else payload.get("members") or ()):
                if isinstance(m, Mapping):
                    inc.learn_member(m)
            for cid in (payload.get("calls") or {}) if kind == "merged" else ():
                self._link(inc, str(cid))
        elif kind == "call_linked":
            cid = str(payload.get("call_id", ""))
            was = self.by_id.get(str(payload.get("moved_from") or ""))
            if was is not None and cid in was.calls:
                was.calls.remove(cid)
            self._link(inc, cid)
        elif kind == "call_unlinked":
            cid = str(payload.get("call_id", ""))
            if cid in inc.calls:
                inc.calls.remove(cid)
            if self.linked.get(cid) == iid:
                del self.linked[cid]
                if cid in self.calls:
                    self.calls[cid]["incident_id"] = ""
        elif kind == "severity_changed":
            inc.severity = str(payload.get("to", inc.severity))
        elif kind == "merged_into":
            inc.status, inc.merged_into = "merged", str(payload.get("target", ""))
            inc.closed_ms = int(row.get("at_ms", 0))
        elif kind == "resolved":
            inc.status, inc.closed_ms = "resolved", int(row.get("at_ms", 0))
        inc.seq = max(inc.seq, seq)
        for cid in inc.calls:        # (members' calls too)
            self._link(inc, cid)
        return inc, kind

    def prune(self, before_ms: int) -> None:
        """Forget incidents closed and calls received before ``before_ms``."""
        for iid in [i for i, v in self.by_id.items() if v.status != "open" and
                    v.closed_ms < before_ms]:
            for cid in self.by_id.pop(iid).calls:
                if self.linked.get(cid) == iid:
                    del self.linked[cid]
        for cid in [c for c, v in self.calls.items() if v["at_ms"] < before_ms]:
            del self.calls[cid]

    def _link(self, inc: TrackedIncident, cid: str) -> None:
        if cid and cid not in inc.calls:
            inc.calls.append(cid)
        if cid:
            self.linked[cid] = inc.incident_id
        if cid in self.calls:
            self.calls[cid]["incident_id"] = inc.incident_id

    def snapshot(self) -> dict[str, Any]:
        return {"incidents": {k: asdict(v) for k, v in sorted(self.by_id.items())},
                "calls": {k: dict(v) for k, v in sorted(self.calls.items())}}

    def restore(self, snap: Mapping[str, Any]) -> None:
        self.by_id = {k: TrackedIncident(**v) for k, v in snap.get("incidents", {}).items()}
        self.calls = {k: dict(v) for k, v in snap.get("calls", {}).items()}
        self.linked = {cid: iid for iid, inc in sorted(self.by_id.items())
                       for cid in inc.calls}
