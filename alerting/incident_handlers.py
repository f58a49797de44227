"""How each incident event changes the state: one handler per event kind.

Module level so the table is built once; apart from :mod:`alerting.incident_state`
(which calls them from ``IncidentState.apply``, the only mutation path) to keep each
module to one concept. Kinds not in the table (dispatch and unit records, operator
records) are timeline entries that change nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Mapping

from alerting.incident_model import Incident, IncidentEvent, Member

if TYPE_CHECKING:
    from alerting.incident_state import IncidentState

Handler = Callable[["IncidentState", Incident, Mapping[str, Any], IncidentEvent], None]


def _on_member(s: IncidentState, inc: Incident, p: Mapping[str, Any], ev: IncidentEvent) -> None:
    d = p["member"]
    m = d if type(d) is Member else Member.from_dict(d)
    old = inc.members.get(m.fingerprint)
    if old is not None:
        s._replace_member(inc, old, m)
    else:
        s._add_member(inc, m)


def _on_merged(s: IncidentState, inc: Incident, p: Mapping[str, Any], ev: IncidentEvent) -> None:
    for d in p["members"]:
        s._add_member(inc, Member.from_dict(d))
    for cid, info in p["calls"].items():
        if cid not in inc.calls:
            s._add_call(inc, cid, info)
    inc.merged_from += [p["source"], *p.get("merged_from", [])]


def _on_merged_into(s: IncidentState, inc: Incident, p: Mapping[str, Any],
                    ev: IncidentEvent) -> None:
    inc.status, inc.merged_into = "merged", p["target"]
    s._close(inc)


def _on_split(s: IncidentState, inc: Incident, p: Mapping[str, Any], ev: IncidentEvent) -> None:
    fps = set(p["fingerprints"])
    for fp in sorted(fps & set(inc.members)):
        s._drop_member(inc, inc.members[fp])
    for cid in [c for c, i in inc.calls.items() if i.get("fingerprint") in fps]:
        s._index_call(inc, cid, -1)
        del inc.calls[cid]


def _on_severity(s: IncidentState, inc: Incident, p: Mapping[str, Any], ev: IncidentEvent) -> None:
    inc.severity = p["to"]


def _on_call(s: IncidentState, inc: Incident, p: Mapping[str, Any], ev: IncidentEvent) -> None:
    s._add_call(inc, p["call_id"], {"stream": p["stream"], "via": p["via"],
                                    "fingerprint": p.get("fingerprint", "")})


def _on_call_unlinked(s: IncidentState, inc: Incident, p: Mapping[str, Any],
                      ev: IncidentEvent) -> None:
    if p["call_id"] in inc.calls:
        s._index_call(inc, p["call_id"], -1)
        del inc.calls[p["call_id"]]


def _on_note(s: IncidentState, inc: Incident, p: Mapping[str, Any], ev: IncidentEvent) -> None:
    inc.notes += 1


def _on_enriched(s: IncidentState, inc: Incident, p: Mapping[str, Any], ev: IncidentEvent) -> None:
    inc.enrichment = dict(p["enrichment"])


def _on_resolved(s: IncidentState, inc: Incident, p: Mapping[str, Any], ev: IncidentEvent) -> None:
    inc.status, inc.resolved_ms = "resolved", ev.at_ms
    s._close(inc)


def on_record(s: IncidentState, inc: Incident, p: Mapping[str, Any], ev: IncidentEvent) -> None:
    """Dispatch/unit records are timeline entries only."""


HANDLERS: dict[str, Handler] = {
    "alert_attached": _on_member, "alert_resolved": _on_member, "merged": _on_merged,
    "merged_into": _on_merged_into, "split": _on_split, "severity_changed": _on_severity,
    "call_linked": _on_call, "call_unlinked": _on_call_unlinked, "note_added": _on_note,
    "enriched": _on_enriched, "resolved": _on_resolved}
