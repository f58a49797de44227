"""Rebuilding any moment from the event logs, and exporting an incident from history."""

from __future__ import annotations

import pytest

from alerting.cap import validate_cap
from alerting.config import default_config
from alerting.engine import Engine
from alerting.gbt import validate_gbt
from alerting.history import alerts_at, export_incident
from alerting.incident_model import IncidentError
from unit_helpers import NOW_MS, PROFILE

from test_engine import S, alert, gas_leak  # noqa: E402  (same folder)


def logs() -> tuple[Engine, list[dict], list[dict], str]:
    e = Engine(default_config(), PROFILE)
    out = e.alerts(gas_leak(), NOW_MS + 6 * S)
    fp = out.alert_events[0].fingerprint
    out.extend(e.command({"command_id": "c", "action": "ack", "fingerprint": fp,
                          "actor": "王五"}, NOW_MS + 30 * S))
    out.extend(e.alerts([alert("gas_concentration_high", "GASC-1", "resolved",
                               t=NOW_MS + 90 * S, severity="critical")], NOW_MS + 90 * S))
    alert_log = [ev.to_dict() for ev in out.alert_events]
    incident_log = [ev.to_row() for ev in out.incident_events]
    iid = next(ev.incident_id for ev in out.incident_events if ev.kind == "opened")
    return e, alert_log, incident_log, iid


def test_alert_states_at_any_moment() -> None:
    e, alert_log, _, _ = logs()
    assert alerts_at(alert_log) == e.book                     # now
    fp = alert_log[0]["fingerprint"]
    before_ack = [ev for ev in alert_log if ev["at_ms"] < NOW_MS + 30 * S]
    assert alerts_at(before_ack).get(fp)["state"] == "firing"
    until_ack = [ev for ev in alert_log if ev["at_ms"] <= NOW_MS + 30 * S]
    assert alerts_at(until_ack).get(fp)["state"] == "acknowledged"


@pytest.mark.parametrize("fmt,validate", [("cap", validate_cap), ("gbt", validate_gbt)])
def test_an_incident_exports_from_its_history(fmt: str, validate: object) -> None:
    _, _, incident_log, iid = logs()
    doc = export_incident(incident_log, iid, fmt, NOW_MS + 100 * S, exercise=True)
    assert validate(doc) == []  # type: ignore[operator]
    assert "Exercise" in doc


def test_unknown_incident_or_format_is_a_clear_error() -> None:
    _, _, incident_log, iid = logs()
    with pytest.raises(IncidentError, match="no incident"):
        export_incident(incident_log, "INC-nope", "cap", NOW_MS)
    with pytest.raises(IncidentError, match="unknown export format"):
        export_incident(incident_log, iid, "pdf", NOW_MS)
