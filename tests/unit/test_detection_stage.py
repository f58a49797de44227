"""The detection stage: lateness policy, event-level detector plumbing, explanations."""

from __future__ import annotations

from typing import Any

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
