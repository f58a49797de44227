"""The incident model: the alerts an incident holds, the incident, and the immutable events
that change it (the categories and the correlator's settings: ``alerting.incident_config``).

Kept apart from the correlator (``alerting.incidents``) so that exports, enrichment and the
warehouse can use the records without the correlation logic. Pure data, no I/O.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Callable, Mapping

from alerting import canonical
from alerting.geo import KM_PER_DEG, cell_of, cells_near, km_between  # noqa: F401 (their old home)
from alerting.incident_config import (  # noqa: F401 (the categories' old home)
    DEFAULT_CATEGORIES, RANK, Category, CorrelatorConfig, IncidentError)
from alerting.records import maker
from schemas.errors import ValidationError
from schemas.records import ALERT_STATUSES, SEVERITIES, stable_id
from schemas.validate import format_event_time, parse_event_time

CORRELATOR = "correlator"  # the actor of automatic changes
EVENT_KINDS = ("opened", "alert_attached", "alert_resolved", "merged", "merged_into",
               "split", "severity_changed", "call_linked", "call_unlinked", "note_added",
               "enriched", "resolved")
CALL_STREAMS = ("ems", "fire")
_CALL_KINDS = {"ems_calls": "ems", "fire_calls": "fire"}  # cluster alerts listing call ids
# explanation keys naming other entities of the same event (detectors.traffic, .clusters,
# .hazmat): an alert on one of them belongs with this one wherever it is
_RELATED_LISTS = ("segments", "disturbed_segments", "members", "panels")
_RELATED_ONE = ("tank", "pressure_sensor", "accident")
SEEN_MAX, EVIDENCE_MAX = 16, 20  # alert ids / evidence event ids kept per alert


@dataclass
class Member:
    """One alert (by fingerprint) as an incident holds it: its latest state."""

    fingerprint: str
    alert_id: str
    kind: str
    detector: str
    stream: str
    severity: str
    status: str
    entity_id: str
    lat: float | None
    lon: float | None
    district: str
    first_ms: int
    event_ms: int
    title_zh: str = ""
    title_en: str = ""
    evidence: tuple[str, ...] = ()  # distinct event ids, oldest first
    tags: tuple[str, ...] = ()
    attrs: dict[str, str] = field(default_factory=dict)  # un_number, hazard_class
    calls: tuple[tuple[str, str], ...] = ()  # (call id, stream) named by the alert
    related: tuple[str, ...] = ()  # other entities the alert names (an accident's segments)
    seen: tuple[str, ...] = ()  # alert ids applied: a redelivered one is a no-op

    @property
    def located(self) -> bool:
        return self.lat is not None and self.lon is not None

    def to_dict(self) -> dict[str, Any]:
        # (every field, written out: asdict() is 10x slower, and a compiled Member has no
        # __dict__ to copy; made per update; a test checks it names every field)
        return {"fingerprint": self.fingerprint, "alert_id": self.alert_id, "kind": self.kind,
                "detector": self.detector, "stream": self.stream, "severity": self.severity,
                "status": self.status, "entity_id": self.entity_id, "lat": self.lat,
                "lon": self.lon, "district": self.district, "first_ms": self.first_ms,
                "event_ms": self.event_ms, "title_zh": self.title_zh,
                "title_en": self.title_en, "evidence": self.evidence, "tags": self.tags,
                "attrs": dict(self.attrs), "calls": self.calls, "related": self.related,
                "seen": self.seen}

    @property
    def plain(self) -> bool:
        """Whether ``to_dict()`` is plain data (``alerting.canonical.plain``) without walking
        it. Both constructors (:func:`member_from_alert`, :meth:`from_dict`) make the text
        fields str, the lists tuples of str and the times ints, so only the coordinates can
        be floats the json module writes differently (with an exponent)."""
        return _plain_coord(self.lat) and _plain_coord(self.lon) and \
            type(self.first_ms) is int and type(self.event_ms) is int

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Member":
        kw = dict(d)
        for k in _MEMBER_TEXT:
            if k in kw:
                kw[k] = str(kw[k])
        for k in ("evidence", "tags", "seen", "related"):
            kw[k] = tuple(map(str, kw.get(k, ())))
        kw["calls"] = tuple((str(c[0]), str(c[1])) for c in kw.get("calls", ()))
        kw["attrs"] = {str(k): str(v) for k, v in (kw.get("attrs") or {}).items()}
        for k in ("first_ms", "event_ms"):
            ms: Any = kw.get(k)
            kw[k] = int(ms)   # (None: a TypeError, as a missing field)
        return cls(**kw)


def _plain_coord(v: Any) -> bool:
    """None, or a float the json module writes without an exponent (``canonical.plain``)."""
    return v is None or (type(v) is float and (v == 0.0 or 1e-4 <= abs(v) < 1e16))


def coord(v: Any, limit: float) -> float | None:
    """A finite number within ±``limit`` as a float (a WGS-84 latitude: 90), else None."""
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    return float(v) if ok and abs(v) <= limit else None


def _seq(v: Any) -> tuple[Any, ...]:
    return tuple(v) if isinstance(v, (list, tuple)) else ()


def _text(aid: Any, name: str, v: Any) -> str:
    """``v`` if it is a non-empty string, else IncidentError naming alert ``aid``'s field."""
    if not isinstance(v, str) or not v:
        raise IncidentError(f"alert {aid!r}: field {name!r} must be a non-empty string")
    return v


def member_from_alert(alert: Mapping[str, Any]) -> Member:
    """An alert message (``schemas.records.make_alert``) as a Member; IncidentError if bad."""
    if type(alert) is not dict and not isinstance(alert, Mapping):
        raise IncidentError(f"an alert must be a mapping, got {type(alert).__name__}")
    get = alert.get
    raw_id = get("alert_id")
    aid = _text(raw_id, "alert_id", raw_id)
    fp, kind = _text(aid, "fingerprint", get("fingerprint")), _text(aid, "kind", get("kind"))
    status, severity = get("status"), get("severity")
    if status not in ALERT_STATUSES or severity not in SEVERITIES:
        raise IncidentError(f"alert {aid}: status/severity {status!r}/{severity!r} not in "
                            f"{ALERT_STATUSES}/{SEVERITIES}")
    try:
        ms = parse_event_time(get("event_time"))
    except ValidationError as exc:
        raise IncidentError(f"alert {aid}: {exc}") from exc
    lat, lon = get("lat"), get("lon")
    # (a float in range is what detectors send: the general check for anything else; a
    # NaN fails the comparisons)
    if not (type(lat) is float and -90.0 <= lat <= 90.0):
        lat = coord(lat, 90)
    if not (type(lon) is float and -180.0 <= lon <= 180.0):
        lon = coord(lon, 180)
    if lat is None or lon is None:
        lat = lon = None
    raw = get("explanation")
    expl = raw if type(raw) is dict or isinstance(raw, Mapping) else None
    tags: tuple[str, ...] = ()
    calls: tuple[tuple[str, str], ...] = ()
    related: tuple[str, ...] = ()
    attrs: dict[str, str] = {}
    if expl:   # (most alerts explain nothing the correlator reads)
        tags, calls, attrs, related = _explained(kind, expl, get("entity_id"))
    ev = get("evidence")
    return _new_member(   # every field, in order (one made per alert update)
        fp, aid, kind, str(get("detector", "")), str(get("stream", "")), severity, status,
        str(get("entity_id", "")), lat, lon, str(get("district") or ""), ms, ms,
        str(get("title_zh", "")), str(get("title_en", "")),
        tuple(dict.fromkeys(map(str, ev)))[-EVIDENCE_MAX:] if isinstance(ev, (list, tuple))
        else (),
        tags, attrs, calls, related, (aid,))


def _explained(kind: str, expl: Mapping[str, Any], entity_id: Any
               ) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...], dict[str, str],
                          tuple[str, ...]]:
    """(tags, calls, attrs, related) from an alert's explanation."""
    tags = [str(expl[k]) for k in ("key", "category") if expl.get(k)]
    tags += [str(c) for c in _seq(expl.get("categories")) if c]
    calls: list[tuple[str, str]] = []
    if kind in _CALL_KINDS:
        calls = [(str(c), _CALL_KINDS[kind]) for c in _seq(expl.get("members"))]
    elif kind == "gas_explosion_risk" and expl.get("call"):
        calls = [(str(expl["call"]), "fire")]
    attrs = {}
    if expl.get("un_number"):
        attrs["un_number"] = str(expl["un_number"]).strip().upper().removeprefix("UN")
    if expl.get("hazard_class"):
        attrs["hazard_class"] = str(expl["hazard_class"]).strip()
    related = [str(x) for k in _RELATED_LISTS for x in _seq(expl.get(k)) if x]
    related += [str(expl[k]) for k in _RELATED_ONE if isinstance(expl.get(k), str) and expl[k]]
    return (tuple(dict.fromkeys(tags)), tuple(dict.fromkeys(calls)), attrs,
            tuple(r for r in dict.fromkeys(related) if r != entity_id)[:50])


@dataclass
class Incident:
    """An incident's current state (rebuilt from its events; do not mutate from outside)."""

    incident_id: str
    category: str
    category_zh: str
    category_en: str
    severity: str
    opened_ms: int
    lat: float | None
    lon: float | None
    district: str
    members: dict[str, Member] = field(default_factory=dict)
    calls: dict[str, dict[str, str]] = field(default_factory=dict)  # id -> stream, via, fp
    status: str = "open"  # open | resolved | merged
    last_ms: int = 0
    resolved_ms: int | None = None
    merged_into: str = ""
    merged_from: list[str] = field(default_factory=list)
    split_from: str = ""
    notes: int = 0
    seq: int = 0
    enrichment: dict[str, Any] = field(default_factory=dict)

    @property
    def entities(self) -> list[str]:
        """The assets involved: entity ids of its alerts (calls excluded)."""
        return sorted({m.entity_id for m in self.members.values() if m.entity_id})

    def to_dict(self) -> dict[str, Any]:
        d = {f: getattr(self, f) for f in _INCIDENT_FIELDS}
        d.update(members=[m.to_dict() for m in self.members.values()],
                 calls={k: dict(v) for k, v in self.calls.items()},
                 merged_from=list(self.merged_from), enrichment=self.enrichment)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Incident":
        kw = dict(d)
        kw["members"] = {m["fingerprint"]: Member.from_dict(m) for m in kw.get("members", ())}
        return cls(**kw)


_new_member = maker(Member)
_MEMBER_TEXT = tuple(f.name for f in fields(Member) if f.type == "str")
_INCIDENT_FIELDS = tuple(f.name for f in fields(Incident))


@dataclass(frozen=True)
class IncidentEvent:
    """One change of one incident. ``lsn`` orders the log of one correlator (replay order);
    ``seq`` counts the incident's own events; ``payload_json`` is canonical JSON."""

    event_id: str
    incident_id: str
    seq: int
    lsn: int
    kind: str
    at_ms: int
    actor: str
    payload_json: str

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.payload_json)

    def to_row(self) -> dict[str, Any]:
        """A warehouse row (see the ``incident_events`` table in the report)."""
        return {**asdict(self), "at": format_event_time(self.at_ms)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "IncidentEvent":
        return cls(**{k: d[k] for k in cls.__dataclass_fields__})


_new_incident_event = maker(IncidentEvent)


@dataclass(frozen=True)
class SeverityContext:
    """What an escalation policy sees: the alerts' maximum (``base``) and the size."""

    category: str
    base: str
    current: str
    alerts: int
    firing: int
    streams: int
    calls: int


EscalationPolicy = Callable[[SeverityContext], str]


def grow_escalation(ctx: SeverityContext) -> str:
    """One level above the alerts' maximum once an incident has grown (>= 5 alerts, or
    alerts from >= 3 streams: a compound incident)."""
    up = 1 if ctx.alerts >= 5 or ctx.streams >= 3 else 0
    return SEVERITIES[len(SEVERITIES) - 1 - min(RANK[ctx.base] + up, RANK["critical"])]


Enricher = Callable[[Incident], Mapping[str, Any]]


def make_event(incident_id: str, seq: int, lsn: int, kind: str, at_ms: int, actor: str,
               payload: Mapping[str, Any]) -> IncidentEvent:
    """An event with its deterministic id (same incident, same seq: same id) and canonical
    JSON payload; IncidentError if the payload is not JSON."""
    return make_event_plain(incident_id, seq, lsn, kind, at_ms, actor, payload)[0]


def make_event_plain(incident_id: str, seq: int, lsn: int, kind: str, at_ms: int, actor: str,
                     payload: Mapping[str, Any], known_plain: bool = False
                     ) -> tuple[IncidentEvent, bool]:
    """:func:`make_event`, and whether ``payload`` is plain data (``alerting.canonical``):
    then it equals the event's parsed payload and the emitter may apply it unparsed.
    ``known_plain``: the caller knows it is (``canonical.encode``)."""
    try:
        pj, is_plain = canonical.encode(payload, known_plain)
    except (TypeError, ValueError) as exc:
        raise IncidentError(f"incident {incident_id}: {kind} payload is not JSON: {exc}") from exc
    return _new_incident_event(stable_id("incident-event", incident_id, seq, kind),
                               incident_id, seq, lsn, kind, int(at_ms), actor, pj), is_plain
