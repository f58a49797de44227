"""The detection stage: lateness policy, event-level detector plumbing, explanations."""

from __future__ import annotations

from typing import Any

import pytest

from detectors.findings import FIRING, EventDetector, Finding
from schemas.records import Origin
from streams.alerting_bridge import finding_alert
from streams.detection import DetectionStage
from unit_helpers import NOW_MS, PROFILE

O = Origin("citycc.lifeline", 0, 0)


def reading(i: int, ts: int, value: float, entity: str = "GAS-1") -> tuple[dict[str, Any], int,
                                                                          Origin]:
    return ({"event_id": f"e{i}", "entity_id": entity, "kind": "gas_concentration",
             "value": value, "unit": "%LEL", "lat": 28.19, "lon": 112.99,
             "district": "furong"}, ts, O)


class Recorder(EventDetector):
    name = "recorder"
    streams = ("lifeline",)

    def __init__(self) -> None:
        self.seen: list[str] = []

    def update(self, stream: str, events: list[dict[str, Any]],
               ts_ms: list[int]) -> list[Finding]:
        assert ts_ms == sorted(ts_ms), "detectors get event-time order"
        self.seen += [e["event_id"] for e in events]
        return [Finding("recorder", "k", e["entity_id"], FIRING, "info", t, "测试", "test",
                        stream=stream, evidence=(e["event_id"],)) for e, t in zip(events, ts_ms)
                if e["value"] > 50]


def test_out_of_order_within_tolerance_is_sorted_beyond_it_is_counted_not_detected() -> None:
    rec = Recorder()
    stage = DetectionStage("lifeline", PROFILE, [rec], out_of_order_ms=60_000)
    stage.run([reading(2, NOW_MS + 2000, 1.0), reading(1, NOW_MS + 1000, 1.0)])
    assert rec.seen == ["e1", "e2"]
    stage.run([reading(3, NOW_MS + 2000 - 30_000, 1.0),     # 30 s behind: still detected
               reading(4, NOW_MS + 2000 - 120_000, 99.0),   # 2 min behind: late
               reading(5, NOW_MS + 1000, 1.0, entity="GAS-2")])
    assert rec.seen == ["e1", "e2", "e3", "e5"]
    assert stage.counters["late_for_detection"] == 1


def test_detectors_of_other_streams_are_not_run() -> None:
    rec = Recorder()
    stage = DetectionStage("traffic", PROFILE, [rec])
    stage.run([reading(1, NOW_MS, 99.0)])
    assert rec.seen == []


def test_limit_alert_carries_its_explanation() -> None:
    stage = DetectionStage("lifeline", PROFILE)
    (finding,) = stage.run([reading(1, NOW_MS, 5.0), reading(2, NOW_MS + 1000, 26.0)])
    alert = finding_alert(finding, PROFILE, NOW_MS + 1500)
    assert alert["explanation"]["alarm_level"] == 20.0
    assert alert["explanation"]["recover_level"] == 10.0
    assert alert["explanation"]["deviation"] == 6.0
    assert alert["event_time"] == "2025-06-01T08:00:01.000Z"
    assert alert["detected_at"] == "2025-06-01T08:00:01.500Z"
    assert alert["district_zh"] == "芙蓉区" and alert["evidence"] == ["e2"]


def test_rejected_readings_feed_the_out_of_range_burst_detector() -> None:
    import orjson
    from detectors.quality import OutOfRangeBurst
    from schemas.validate import Policy, format_event_time
    from streams.pipeline import RawMessage, StreamStep
    burst = OutOfRangeBurst(window_ms=600_000, min_count=3)
    step = StreamStep("lifeline", PROFILE, Policy.for_city(PROFILE), event_detectors=[burst])
    bad = [{"event_id": f"b{i}", "type": "reading", "event_time": format_event_time(NOW_MS),
            "source": "gw", "entity_id": "GAS-BROKEN", "lat": 28.19, "lon": 112.99,
            "kind": "gas_concentration", "value": 250.0, "unit": "%LEL"} for i in range(3)]
    result = step.process([RawMessage("citycc.lifeline", 0, 0,
                                      orjson.dumps({"events": bad}))], NOW_MS)
    assert [d["code"] for d in result.dead] == ["out_of_range"] * 3
    assert [(a["kind"], a["entity_id"], a["status"]) for a in result.alerts] == [
        ("sensor_out_of_range_burst", "GAS-BROKEN", "firing")]


class _Counter(EventDetector):
    """Counts the events it sees; its snapshot is the count."""

    name = "counter"
    streams = ("lifeline",)

    def __init__(self) -> None:
        self.n = 0

    def update(self, stream: str, events: list[dict[str, Any]],
               ts_ms: list[int]) -> list[Finding]:
        self.n += len(events)
        return []

    def snapshot(self) -> Any:
        return {"n": self.n}

    def restore(self, state: Any) -> None:
        self.n = state["n"]


def _per_partition_stage() -> DetectionStage:
    from detectors.plan import PartitionDetector
    spec = PartitionDetector("counter", ("lifeline",), _Counter)
    return DetectionStage("lifeline", PROFILE, partition_detectors=[spec])


def test_per_partition_detectors_see_only_their_partitions_events() -> None:
    stage = _per_partition_stage()
    p1 = Origin("citycc.lifeline", 1, 0)
    stage.run([reading(1, NOW_MS, 1.0), (reading(2, NOW_MS, 1.0, "GAS-2")[0], NOW_MS, p1),
               (reading(3, NOW_MS + 1, 1.0, "GAS-2")[0], NOW_MS + 1, p1)])
    assert stage.partition_detectors(0)["counter"].n == 1
    assert stage.partition_detectors(1)["counter"].n == 2
    assert stage.partition_detectors(0)["counter"] is not stage.partition_detectors(1)["counter"]
    assert DetectionStage("traffic", PROFILE, partition_detectors=stage.partition_specs) \
        .partition_specs == []


class _Table:
    """The two things StateStore uses of a Faust table: ``data`` and ``send_changelog``."""

    def __init__(self) -> None:
        self.data: dict[str, str] = {}
        self.sent: list[tuple[int, str]] = []

    def send_changelog(self, partition: int, key: str, value: str) -> Any:
        self.sent.append((partition, key))
        import asyncio
        fut = asyncio.get_running_loop().create_future()
        fut.set_result(None)
        return fut


def _checkpointed_two_readings_on_partition_3() -> tuple[DetectionStage, _Table, Any]:
    """A per-partition stage that read two readings of partition 3, then checkpointed."""
    import asyncio
    from streams.state import StateStore
    stage = _per_partition_stage()
    table = _Table()
    store = StateStore(table, stage, [])
    p3 = Origin("citycc.lifeline", 3, 0)
    store.restore(3)
    stage.run([(reading(1, NOW_MS, 1.0)[0], NOW_MS, p3),
               (reading(2, NOW_MS + 1, 1.0)[0], NOW_MS + 1, p3)])
    asyncio.run(store.checkpoint_detectors())
    return stage, table, store


def test_per_partition_state_is_checkpointed_to_its_partition_and_restored() -> None:
    stage, table, store = _checkpointed_two_readings_on_partition_3()
    assert table.sent == [(3, "pdet:counter:3")]
    # the partition is revoked and comes back: its state is read back from the table
    store.forget(3)
    assert 3 not in stage.partitioned
    store.restore(3)
    assert stage.partition_detectors(3)["counter"].n == 2


# --- re-assertion: firing findings are repeated on a schedule and after a restore ------------
def test_a_firing_limit_alert_ends_unless_reasserted_and_is_reasserted_on_schedule() -> None:
    """Issue 12, item 3: an alert carries its end; the stage keeps its firing findings so
    they are repeated (same fingerprint and alert id, the time of the repeat) until they
    resolve."""
    from detectors.reassert import Reasserter
    active = Reasserter(60_000)
    stage = DetectionStage("lifeline", PROFILE, active=active)
    (finding,) = stage.run([reading(1, NOW_MS, 5.0), reading(2, NOW_MS + 1000, 26.0)],
                           NOW_MS + 1500)
    first = finding_alert(finding, PROFILE, NOW_MS + 1500, 300_000)
    assert first["ends_at"] == "2025-06-01T08:05:01.500Z" and "reasserted" not in first
    assert active.due(NOW_MS + 61_499) == []
    (again,) = active.due(NOW_MS + 61_500)
    repeat = finding_alert(again, PROFILE, NOW_MS + 61_500, 300_000, reasserted=True)
    assert (repeat["fingerprint"], repeat["alert_id"]) == (first["fingerprint"],
                                                           first["alert_id"])
    assert repeat["event_time"] == repeat["detected_at"] == "2025-06-01T08:01:01.500Z"
    assert repeat["ends_at"] == "2025-06-01T08:06:01.500Z" and repeat["reasserted"] is True
    assert active.due(NOW_MS + 100_000) == []           # asserted at 61.5 s: not yet
    (rec,) = stage.run([reading(3, NOW_MS + 110_000, 5.0)], NOW_MS + 110_000)
    assert rec.status == "resolved" and len(active) == 0
    assert active.due(NOW_MS + 10**7) == []
    assert "ends_at" not in finding_alert(rec, PROFILE, NOW_MS + 110_000, 300_000)


def test_restored_detector_state_reasserts_its_firing_findings_at_once() -> None:
    import asyncio
    import orjson
    from detectors.reassert import Reasserter
    from streams.state import StateStore
    stage = DetectionStage("lifeline", PROFILE, active=Reasserter(60_000))
    table = _Table()
    store = StateStore(table, stage, [])
    store.restore(0)
    stage.run([reading(1, NOW_MS, 26.0), reading(2, NOW_MS, 30.0, entity="GAS-2")], NOW_MS)
    stage.run([reading(3, NOW_MS + 1000, 5.0, entity="GAS-2")], NOW_MS + 1000)  # recovers
    asyncio.run(store.checkpoint_limits())
    assert sorted(k for _, k in table.sent) == ["active:limits:0", "limits:0"]
    # a new worker: the same table, empty memory
    fresh = DetectionStage("lifeline", PROFILE, active=Reasserter(60_000))
    StateStore(table, fresh, []).restore(0)
    due = fresh.active.due(NOW_MS + 2000) if fresh.active else []
    assert [(f.entity_id, f.status) for f in due] == [("GAS-1", "firing")]
    # its limit state agrees: GAS-1 is still beyond its level (no new transition)
    assert fresh.run([reading(4, NOW_MS + 3000, 27.0)], NOW_MS + 3000) == []
    # a broken snapshot of the firing findings is logged and left to expire
    table.data["active:limits:0"] = orjson.dumps({"not": "a list"}).decode()
    broken = DetectionStage("lifeline", PROFILE, active=Reasserter(60_000))
    StateStore(table, broken, []).restore(0)
    assert broken.active is not None and broken.active.due(NOW_MS + 10**7) == []


def test_a_checkpoint_longer_than_a_record_is_split_and_restored(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A per-partition detector's state over the record limit (~4 MB of sensor baselines in
    one lifeline partition at city-1x) goes out as parts and a manifest, and comes back."""
    from streams import chunks
    monkeypatch.setattr(chunks, "CHUNK_CHARS", 3)
    stage, table, store = _checkpointed_two_readings_on_partition_3()
    keys = [key for _, key in table.sent]
    assert len(keys) > 2 and keys[-1] == "pdet:counter:3"          # manifest last
    assert keys[:-1] == [f"pdet:counter:3#{i}" for i in range(len(keys) - 1)]
    assert all(len(table.data[k]) <= 3 for k in keys[:-1])
    assert {p for p, _ in table.sent} == {3}
    store.forget(3)
    store.restore(3)
    assert stage.partition_detectors(3)["counter"].n == 2
