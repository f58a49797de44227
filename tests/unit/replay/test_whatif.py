"""The what-if comparison on hand-made timelines: alerts by fingerprint, incidents matched by
their alert sets (largest overlap first, each at most once), the first package's units and
ETAs, notifications counted once each; deterministic bytes."""

from __future__ import annotations

from typing import Any

import orjson

from replay.timeline import OutRecord
from replay.whatif import compare, match_incidents, summarize, to_json
from replay.whatif_text import Names, render_text

T0 = 1_800_000_000_000


def alert(fp: str, at_s: float, kind: str = "gas_concentration_high", state: str = "firing",
          entity: str = "GASC-1") -> OutRecord:
    at = T0 + int(at_s * 1000)
    return OutRecord(at, "alert_events", fp.encode(), orjson.dumps({
        "fingerprint": fp, "to_state": state, "kind": kind, "entity_id": entity,
        "district": "yuelu", "severity": "critical", "at_ms": at}))


def incident(iid: str, kind: str, at_s: float, **payload: Any) -> OutRecord:
    at = T0 + int(at_s * 1000)
    return OutRecord(at, "incident_events", iid.encode(), orjson.dumps({
        "incident_id": iid, "kind": kind, "at_ms": at, "payload_json": orjson.dumps(
            {"category": "gas", "district": "yuelu", "lat": 28.18, "lon": 112.94,
             "opened_ms": at, **payload}).decode()}))


def opened(iid: str, at_s: float, *fps: str) -> OutRecord:
    return incident(iid, "opened", at_s, members=[{"fingerprint": f} for f in fps])


def attached(iid: str, at_s: float, fp: str) -> OutRecord:
    return incident(iid, "alert_attached", at_s, member={"fingerprint": fp})


def package(iid: str, at_s: float, *units: tuple[str, float]) -> OutRecord:
    return OutRecord(T0 + int(at_s * 1000), "dispatch", b"k", orjson.dumps({
        "kind": "package_recommended", "incident_id": iid, "payload": {"items": [
            {"unit_id": u, "capability": "engine", "eta_s": eta} for u, eta in units]}}))


def note(receiver: str, outcome: str = "delivered") -> OutRecord:
    return OutRecord(T0, "notifications", receiver.encode(),
                     orjson.dumps({"outcome": outcome, "notification": {}}))


def test_alerts_added_removed_and_time_to_alert() -> None:
    base = [alert("a", 30), alert("a", 90, state="resolved"), alert("a", 100), alert("b", 60)]
    var = [alert("a", 12), alert("c", 45, kind="gas_pressure_low", entity="GASP-1")]
    rep = compare(base, var, T0)
    assert [r["fingerprint"] for r in rep["alerts"]["added"]] == ["c"]
    assert rep["alerts"]["added"][0]["time_to_alert_s"] == 45.0
    assert [r["fingerprint"] for r in rep["alerts"]["removed"]] == ["b"]
    (m,) = rep["time_to_alert"]["alerts"]
    assert (m["fingerprint"], m["baseline_s"], m["variant_s"], m["delta_s"]) == \
        ("a", 30.0, 12.0, -18.0)            # the first firing counts, not a later one
    kinds = {k["kind"]: k for k in rep["time_to_alert"]["kinds"]}
    assert kinds["gas_concentration_high"]["first_delta_s"] == -18.0
    assert kinds["gas_pressure_low"]["first_baseline_s"] is None
    assert kinds["gas_pressure_low"]["first_delta_s"] is None


def test_incidents_are_matched_by_their_alert_sets() -> None:
    base = [opened("I1", 10, "a"), attached("I1", 20, "b"), opened("I2", 30, "c")]
    # the variant opened one incident with a, b and c, and another with d only
    var = [opened("J1", 5, "a", "c"), attached("J1", 25, "b"), opened("J2", 40, "d")]
    pairs = match_incidents(summarize(base).incidents, summarize(var).incidents)
    assert pairs == [("I1", "J1")]                       # overlap 2 beats I2's 1; J1 once
    rep = compare(base, var, T0)["incidents"]
    assert [i["incident_id"] for i in rep["only_baseline"]] == ["I2"]
    assert [i["incident_id"] for i in rep["only_variant"]] == ["J2"]
    assert rep["matched"][0]["shared_alerts"] == 2
    assert rep["matched"][0]["opened_delta_s"] == -5.0


def test_the_first_package_gives_units_and_etas() -> None:
    base = [opened("I1", 10, "a"), package("I1", 11, ("E1", 300.0)),
            package("I1", 50, ("E1", 300.0), ("E2", 420.0))]
    var = [opened("I1", 10, "a"), package("I1", 11, ("E3", 240.5))]
    (m,) = compare(base, var, T0)["incidents"]["matched"]
    assert m["baseline"]["units"] == [{"unit_id": "E1", "capability": "engine", "eta_s": 300.0}]
    assert m["baseline"]["packages"] == 2 and m["variant"]["packages"] == 1
    assert m["units_changed"] is True


def test_notifications_count_deliveries_per_receiver() -> None:
    base = [note("gas_utility", "sent"), note("gas_utility"), note("duty")]
    rep = compare(base, [], T0)["notifications"]
    assert rep["baseline"] == {"total": 2, "by_receiver": {"duty": 1, "gas_utility": 1}}
    assert rep["variant"]["total"] == 0


def test_report_bytes_and_text_are_deterministic() -> None:
    base = [alert("a", 30), opened("I1", 31, "a"), package("I1", 31, ("E1", 300.0))]
    var = [alert("a", 20), alert("b", 25), opened("I1", 21, "a", "b")]
    one, two = compare(base, var, T0), compare(list(base), list(var), T0)
    assert to_json(one) == to_json(two)
    names = Names(capabilities={"engine": ("水罐消防车", "engine")})
    zh, en = render_text(one, "zh", names), render_text(one, "en", names)
    assert "新增告警" in zh and "Alerts added" in en and "E1 (engine 300.0s)" in en
    assert "E1（水罐消防车 300.0s）" in zh
    assert render_text(two, "en", names) == en
