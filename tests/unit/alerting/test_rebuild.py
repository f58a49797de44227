"""A lost checkpoint: the engine rebuilt from the warehouse's event logs."""

from __future__ import annotations

import dataclasses
from typing import Any

from alerting.engine import Engine, Output
from alerting.rebuild import rebuild
from schemas.validate import format_event_time
from test_engine import S, alert, engine, gas_leak
from unit_helpers import NOW_MS


class Logs:
    """What the worker's sinks would have written to ClickHouse."""

    def __init__(self) -> None:
        self.alerts: list[dict[str, Any]] = []
        self.incidents: list[dict[str, Any]] = []
        self.silences: list[dict[str, Any]] = []

    def add(self, out: Output) -> Output:
        self.alerts += [e.to_dict() for e in out.alert_events]
        self.incidents += [dataclasses.asdict(e) for e in out.incident_events]
        self.silences += out.silence_events
        return out


def history() -> tuple[Engine, Logs, str, str]:
    e, logs = engine(), Logs()
    out = logs.add(e.alerts(gas_leak(), NOW_MS + 6 * S))
    fp = out.alert_events[0].fingerprint
    iid = next(ev.incident_id for ev in out.incident_events if ev.kind == "opened")
    logs.add(e.command({"command_id": "a1", "action": "ack", "fingerprint": fp,
                        "actor": "调度员", "comment": "已派员"}, NOW_MS + 20 * S))
    logs.add(e.command({"command_id": "s1", "action": "silence", "actor": "值班长",
                        "matchers": ['kind="water_pressure_low"'], "reason": "试压",
                        "ends_at": format_event_time(NOW_MS + 3600 * S)}, NOW_MS + 30 * S))
    logs.add(e.command({"command_id": "s2", "action": "silence", "actor": "值班长",
                        "matchers": ['entity_id="X"'], "reason": "旧的"}, NOW_MS + 31 * S))
    sid = logs.silences[-1]["silence_id"]
    logs.add(e.command({"command_id": "s3", "action": "expire_silence", "actor": "值班长",
                        "silence_id": sid}, NOW_MS + 40 * S))
    logs.add(e.tick(NOW_MS + 41 * S))
    first = logs.silences[0]["silence_id"]   # the water silence, extended to open-ended
    logs.add(e.command({"command_id": "s4", "action": "extend_silence", "actor": "值班长",
                        "silence_id": first}, NOW_MS + 42 * S))
    return e, logs, fp, iid


def test_the_book_incidents_and_current_silences_come_back() -> None:
    old, logs, fp, iid = history()
    new = engine()
    counts = rebuild(new, logs.alerts, logs.incidents, logs.silences, NOW_MS + 50 * S)
    assert counts["active_alerts"] == 2 and counts["open_incidents"] == 1
    assert new.book.snapshot() == old.book.snapshot()
    assert [i.incident_id for i in new.correlator.open_incidents()] == [iid]
    assert new.correlator.get(iid).members.keys() == old.correlator.get(iid).members.keys()
    assert [(s.author, s.reason, s.ends_ms) for s in new.silencer.silences()] == \
        [("值班长", "试压", None)]   # with its extended (open) end


def test_the_rebuilt_engine_behaves_as_the_old_one_would() -> None:
    old, logs, fp, iid = history()
    new = engine()
    rebuild(new, logs.alerts, logs.incidents, logs.silences, NOW_MS + 50 * S)
    again = {"command_id": "a2", "action": "ack", "fingerprint": fp, "actor": "乙"}
    assert [r.code for r in new.command(again, NOW_MS + 60 * S).rejected] == \
        [r.code for r in old.command(again, NOW_MS + 60 * S).rejected] == ["illegal_transition"]
    third = [alert("gas_concentration_high", "GASC-3", t=NOW_MS + 70 * S, lat=28.1903,
                   severity="critical", evidence=("e3",))]
    joined = new.alerts(third, NOW_MS + 70 * S).incident_events
    assert [(ev.kind, ev.incident_id) for ev in joined][:1] == [("alert_attached", iid)]
    water = [alert("water_pressure_low", "WP-9", t=NOW_MS + 80 * S)]
    fired = new.alerts(water, NOW_MS + 80 * S).alert_events[0]
    assert new.silencer.mutes(dict(fired.labels), NOW_MS + 80 * S)   # still silenced


def test_an_empty_warehouse_rebuilds_an_empty_engine() -> None:
    new = engine()
    assert rebuild(new, [], [], [], NOW_MS)["active_alerts"] == 0
    assert new.correlator.open_incidents() == [] and new.silencer.silences() == []


def test_a_rebuild_after_reassertions_pages_no_level_again_under_a_new_key() -> None:
    """Re-assertions make an update the last event of a long-firing alert; a rebuild must
    go on with the run its firing started (same page keys), not start one from the update
    (level 1 again, a new key: the duty dispatcher paged twice)."""
    e, logs = engine(), Logs()
    a = alert("gas_concentration_high", "GASC-1", severity="critical")
    out = logs.add(e.alerts([a], NOW_MS))
    fp = out.alert_events[0].fingerprint
    for k in (1, 2, 3):   # its detector re-asserts it every minute
        t = NOW_MS + k * 60 * S
        logs.add(e.alerts([{**a, "event_time": format_event_time(t),
                            "detected_at": format_event_time(t), "reasserted": True}], t))
    assert logs.alerts[-1]["action"] == "update"
    e.tick(NOW_MS + 200 * S)   # level 1 at 0 s, level 2 at 120 s
    keys = {x.notification.key for x in e.outbox.due(NOW_MS + 200 * S)}
    new = engine()
    rebuild(new, logs.alerts, logs.incidents, logs.silences, NOW_MS + 200 * S)
    new.tick(NOW_MS + 200 * S)
    again = [x.notification for x in new.outbox.due(NOW_MS + 200 * S)
             if x.notification.status == "escalation"]
    assert again and {n.key for n in again} <= keys, "a level paged again under a new key"
    assert new.escalator.running(fp) == e.escalator.running(fp)
