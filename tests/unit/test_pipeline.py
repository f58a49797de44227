"""streams.pipeline.StreamStep: decode -> validate -> enrich -> detect over RawMessages."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import errors as E
from schemas.catalog import STREAMS
from schemas.records import ALERT_FIELDS, Origin, fingerprint
from schemas.validate import format_event_time
from schemas.wire import encode_batch, encode_event
from streams.pipeline import Limits, RawMessage, StepResult, StreamStep
from unit_helpers import ALL_TYPES, DROP, NOW_MS, POLICY, PROFILE, valid_event

TOPIC = "citycc.lifeline"


def step(stream: str = "lifeline", limits: Limits = Limits()) -> StreamStep:
    return StreamStep(stream, PROFILE, POLICY, limits)


def msg(value: bytes | None, offset: int = 0, partition: int = 0,
        topic: str = TOPIC) -> RawMessage:
    return RawMessage(topic, partition, offset, value)


def reading(n: int, value: float, *, entity: str = "GAS-1", kind: str = "gas_concentration",
            t_ms: int = NOW_MS - 60_000, **extra: Any) -> dict[str, Any]:
    return valid_event("lifeline", "reading", n=n, entity_id=entity, kind=kind, value=value,
                       event_time=format_event_time(t_ms), **extra)


# --- dead letters -----------------------------------------------------------------------
def test_one_bad_event_in_a_batch_dead_letters_only_that_one() -> None:
    good1, good2 = reading(1, 5.0), reading(3, 6.0)
    bad = reading(2, 5.0, unit="ppm")
    r = step().process([msg(encode_batch([good1, bad, good2]), offset=42, partition=3)], NOW_MS)
    assert [e for e, _, _ in r.events] == [{**good1, "district": "yuelu"},
                                            {**good2, "district": "yuelu"}]
    assert [o for _, _, o in r.events] == [Origin(TOPIC, 3, 42, 0), Origin(TOPIC, 3, 42, 2)]
    assert [ts for _, ts, _ in r.events] == [NOW_MS - 60_000] * 2
    (dl,) = r.dead
    assert (dl["code"], dl["field"], dl["batch_index"]) == (E.BAD_UNIT, "unit", 1)
    assert (dl["source_topic"], dl["source_partition"], dl["source_offset"]) == (TOPIC, 3, 42)
    assert dl["raw"] == orjson.dumps(bad) and orjson.loads(dl["raw"]) == bad
    assert dl["event_id"] == bad["event_id"] and dl["received_ms"] == NOW_MS
    assert r.alerts == []


def test_non_object_batch_items_are_dead_lettered_each() -> None:
    items = [reading(1, 5.0), 7, "x", None, [reading(2, 5.0)]]
    r = step().process([msg(encode_batch(items), offset=5)], NOW_MS)
    assert len(r.events) == 1
    assert [(d["batch_index"], d["code"], d["raw"], d["event_id"]) for d in r.dead] == [
        (1, E.NOT_OBJECT, b"7", ""), (2, E.NOT_OBJECT, b'"x"', ""),
        (3, E.NOT_OBJECT, b"null", ""), (4, E.NOT_OBJECT, orjson.dumps(items[4]), "")]


@pytest.mark.parametrize("raw,code", [(b"{not json", E.MALFORMED_JSON),
                                      (b"\xff\xfe\x00", E.MALFORMED_JSON),
                                      (b"[1, 2]", E.NOT_OBJECT),
                                      (b'{"events": [], "x": 1}', E.UNKNOWN_FIELD),
                                      (b'{"events": 5}', E.WRONG_TYPE)])
def test_bad_message_dead_letters_the_whole_original_bytes(raw: bytes, code: str) -> None:
    good = msg(encode_event(reading(1, 5.0)), offset=1)
    r = step().process([msg(raw, offset=0, partition=2), good], NOW_MS)
    (dl,) = r.dead
    assert (dl["code"], dl["batch_index"], dl["raw"]) == (code, -1, raw)
    assert (dl["source_partition"], dl["source_offset"]) == (2, 0)
    assert len(r.events) == 1  # the next message is not affected


def test_tombstone_is_dead_lettered_with_empty_raw() -> None:
    (dl,) = step().process([msg(None, offset=9)], NOW_MS).dead
    assert (dl["code"], dl["batch_index"], dl["raw"]) == (E.NOT_OBJECT, -1, b"")


def test_invalid_single_event_keeps_its_original_bytes() -> None:
    raw = b'{"type": "reading",   "event_id": "spaced-1"}'  # not orjson's own formatting
    (dl,) = step().process([msg(raw, offset=3)], NOW_MS).dead
    assert (dl["code"], dl["field"], dl["batch_index"]) == (E.MISSING_FIELD, "event_time", -1)
    assert dl["raw"] == raw and dl["event_id"] == "spaced-1"


def test_too_many_events_and_too_large_messages_use_the_limits() -> None:
    s = step(limits=Limits(max_message_bytes=10_000, max_batch_events=2))
    r = s.process([msg(encode_batch([reading(i, 5.0) for i in range(3)])),
                   msg(encode_event({"pad": "x" * 10_000}), offset=1)], NOW_MS)
    assert [(d["code"], d["batch_index"]) for d in r.dead] == [(E.BATCH_TOO_LARGE, -1),
                                                               (E.TOO_LARGE, -1)]


def test_event_size_limit_per_item_and_per_single_message() -> None:
    small, big = reading(1, 5.0), reading(2, 5.0, source="s" * 120)
    limit = len(orjson.dumps(small)) + 10
    s = step(limits=Limits(max_event_bytes=limit))
    r = s.process([msg(encode_batch([small, big])), msg(encode_event(big), offset=1),
                   msg(encode_event(small), offset=2)], NOW_MS)
    assert [(d["code"], d["batch_index"], d["source_offset"]) for d in r.dead] == [
        (E.TOO_LARGE, 1, 0), (E.TOO_LARGE, -1, 1)]
    assert [o.offset for _, _, o in r.events] == [0, 2]


def test_event_id_of_a_dead_letter_is_a_truncated_string() -> None:
    bad = reading(1, 5.0, unit="ppm", event_id="x" * 300)
    (dl,) = step().process([msg(encode_batch([bad]))], NOW_MS).dead
    assert dl["event_id"] == "x" * 128
    bad = reading(1, 5.0, event_id=12345)
    (dl,) = step().process([msg(encode_batch([bad]))], NOW_MS).dead
    assert (dl["code"], dl["event_id"]) == (E.WRONG_TYPE, "12345")


# --- enrichment -------------------------------------------------------------------------
def test_district_is_derived_from_coordinates() -> None:
    yl = PROFILE.district("yuelu")
    near_yuelu = reading(1, 5.0, lat=yl.lat + 0.01, lon=yl.lon - 0.01)
    near_liuyang = reading(2, 5.0, lat=28.16, lon=113.64)
    r = step().process([msg(encode_batch([near_yuelu, near_liuyang]))], NOW_MS)
    assert [e["district"] for e, _, _ in r.events] == ["yuelu", "liuyang"]


def test_given_district_is_kept() -> None:
    yl = PROFILE.district("yuelu")
    ev = reading(1, 5.0, lat=yl.lat, lon=yl.lon, district="furong")
    (out,) = step().process([msg(encode_event(ev))], NOW_MS).events
    assert out[0]["district"] == "furong"


def test_event_without_coordinates_or_district_gets_empty_district() -> None:
    s = step("ems")
    bare = valid_event("ems", "unit_status", n=1)
    given_ = valid_event("ems", "unit_status", n=2, district="kaifu")
    located = valid_event("ems", "unit_status", n=3, lat=28.2567, lon=112.9856)
    r = s.process([RawMessage("citycc.ems", 0, 0, encode_batch([bare, given_, located]))],
                  NOW_MS)
    assert [e["district"] for e, _, _ in r.events] == ["", "kaifu", "kaifu"]
    assert r.alerts == []


# --- detection --------------------------------------------------------------------------
def test_gas_leak_yields_one_firing_alert() -> None:
    yl = PROFILE.district("yuelu")
    seq = [reading(i, v, t_ms=NOW_MS - 60_000 + i * 1000, lat=yl.lat, lon=yl.lon)
           for i, v in enumerate([3.0, 12.0, 21.5, 30.0, 45.0, 15.0])]
    s = step()
    r = s.process([msg(encode_batch(seq), offset=7, partition=1)], NOW_MS + 500)
    (a,) = r.alerts
    assert tuple(a) == ALERT_FIELDS
    assert a["status"] == "firing" and a["severity"] == "critical"
    assert (a["detector"], a["kind"], a["stream"], a["entity_id"]) == \
        ("limit", "gas_concentration_high", "lifeline", "GAS-1")
    assert a["fingerprint"] == fingerprint("limit", "gas_concentration_high", "GAS-1")
    assert a["title_zh"] == "燃气浓度超限"
    assert a["title_en"] == "Gas concentration above alarm level"
    assert (a["district"], a["district_zh"], a["district_en"]) == ("yuelu", "岳麓区", "Yuelu")
    assert (a["lat"], a["lon"]) == (yl.lat, yl.lon)
    assert a["evidence"] == [seq[2]["event_id"]]
    assert a["event_time"] == seq[2]["event_time"]
    assert (a["value"], a["threshold"], a["unit"]) == (21.5, 20.0, "%LEL")
    assert a["detected_at"] == format_event_time(NOW_MS + 500)
    assert s.detection.dirty == {1}

    # the leak clears: one resolved alert with the same fingerprint
    clear = [reading(10, 9.0, t_ms=NOW_MS - 30_000)]
    (res,) = s.process([msg(encode_batch(clear), offset=8, partition=1)], NOW_MS).alerts
    assert res["status"] == "resolved" and res["fingerprint"] == a["fingerprint"]
    assert res["alert_id"] != a["alert_id"] and res["evidence"] == [clear[0]["event_id"]]


def test_alert_ids_are_the_same_when_the_batch_is_processed_again() -> None:
    seq = [reading(i, v) for i, v in enumerate([5.0, 25.0])]
    first = step().process([msg(encode_batch(seq))], NOW_MS).alerts
    again = step().process([msg(encode_batch(seq))], NOW_MS + 10_000).alerts
    assert [a["alert_id"] for a in first] == [a["alert_id"] for a in again]
    assert len(first) == 1


def test_low_side_alert_title() -> None:
    ev = reading(1, 100.0, entity="GP-1", kind="gas_pressure")
    (a,) = step().process([msg(encode_event(ev))], NOW_MS).alerts
    assert (a["kind"], a["severity"], a["threshold"], a["unit"]) == \
        ("gas_pressure_low", "major", 150.0, "kPa")
    assert a["title_zh"] == "燃气管网压力过低"
    assert a["title_en"] == "Gas network pressure below alarm level"


def test_hazmat_tank_readings_are_detected() -> None:
    ev = valid_event("hazmat", "tank_reading", entity_id="TANK-1", kind="tank_temperature",
                     value=55.0, district="wangcheng")
    (a,) = step("hazmat").process([RawMessage("citycc.hazmat", 0, 0, encode_event(ev))],
                                  NOW_MS).alerts
    assert (a["kind"], a["stream"], a["district_zh"]) == ("tank_temperature_high", "hazmat",
                                                          "望城区")
    assert a["title_zh"] == "罐体温度超限"


def test_detection_follows_event_time_not_arrival_order() -> None:
    late_low = reading(3, 5.0, t_ms=NOW_MS - 10_000)
    high_a = reading(1, 25.0, t_ms=NOW_MS - 30_000)
    high_b = reading(2, 26.0, t_ms=NOW_MS - 20_000)
    r = step().process([msg(encode_batch([late_low, high_a])), msg(encode_event(high_b), 1)],
                       NOW_MS)
    assert [(a["status"], a["evidence"]) for a in r.alerts] == [
        ("firing", [high_a["event_id"]]), ("resolved", [late_low["event_id"]])]


def test_detector_state_is_per_partition() -> None:
    s = step()
    fire0 = s.process([msg(encode_event(reading(1, 25.0)), partition=0)], NOW_MS).alerts
    assert [a["status"] for a in fire0] == ["firing"]
    # the same entity on another partition has its own state: it fires there too ...
    fire1 = s.process([msg(encode_event(reading(2, 25.0)), partition=1)], NOW_MS).alerts
    assert [a["status"] for a in fire1] == ["firing"]
    # ... and resolving it there leaves partition 0 firing
    res1 = s.process([msg(encode_event(reading(3, 1.0)), partition=1)], NOW_MS).alerts
    assert [a["status"] for a in res1] == ["resolved"]
    assert s.detection.limit_detector(0).firing == {("GAS-1", "gas_concentration"): "high"}
    assert s.detection.limit_detector(1).firing == {}
    assert s.detection.dirty == {0, 1} and set(s.detection.limits) == {0, 1}
    # one batch spanning both partitions
    r = s.process([msg(encode_event(reading(4, 2.0)), partition=0, offset=1),
                   msg(encode_event(reading(5, 30.0)), partition=1, offset=1)], NOW_MS)
    assert sorted((a["status"], a["evidence"][0]) for a in r.alerts) == [
        ("firing", "lifeline-reading-5"), ("resolved", "lifeline-reading-4")]


def test_clean_readings_mark_no_partition_dirty() -> None:
    s = step()
    s.process([msg(encode_batch([reading(i, 5.0) for i in range(5)]), partition=4)], NOW_MS)
    assert s.detection.dirty == set()


def test_unmeasured_streams_never_alert() -> None:
    for stream in ("ems", "fire", "traffic"):
        s = step(stream)
        evs = [valid_event(stream, t, n=i, full=True) for i, t in enumerate(STREAMS[stream].types)]
        r = s.process([RawMessage(f"citycc.{stream}", 0, 0, encode_batch(evs))], NOW_MS)
        assert len(r.events) == len(evs) and r.alerts == [] and r.dead == []
        assert s.detection.limits == {}


def test_unknown_stream_is_refused() -> None:
    with pytest.raises(ValueError):
        StreamStep("weather", PROFILE, POLICY)


# --- property: every input event ends in events or dead -------------------------------------
BAD_CHANGES = [{"unit": "bogus"}, {"colour": "red"}, {"event_id": DROP}, {"value": 1e9},
               {"lat": 39.9, "lon": 116.4}, {"event_time": "yesterday"},
               {"event_time": format_event_time(NOW_MS + 3_600_000)}, {"district": "haidian"},
               {"type": "nope"}, {"kind": ["gas_pressure"]}, {"value": "12"},
               {"lat": 28.2, "lon": DROP}, {"source": ""}, {"entity_id": None}]
GARBAGE = [b"{", b"[]", b"", b"\xff", b'{"events": {}}', b'{"events": [], "x": 1}']


@st.composite
def items(draw: st.DrawFn, stream: str) -> tuple[Any, bool]:
    """(a batch item, whether it is valid)."""
    choice = draw(st.integers(0, 9))
    n = draw(st.integers(0, 10 ** 6))
    type_ = draw(st.sampled_from([t for s, t in ALL_TYPES if s == stream]))
    if choice == 0:
        return draw(st.none() | st.integers(-5, 5) | st.text(max_size=5)
                    | st.lists(st.integers(-9, 9), max_size=2)), False
    if choice <= 3:  # every change makes any event type invalid (or adds an unknown field)
        return valid_event(stream, type_, n=n, **draw(st.sampled_from(BAD_CHANGES))), False
    ev = valid_event(stream, type_, n=n, full=draw(st.booleans()))
    if stream == "lifeline" and draw(st.booleans()):
        ev["kind"] = draw(st.sampled_from(["gas_concentration", "gas_pressure", "pm25"]))
        ev["unit"] = {"gas_concentration": "%LEL", "gas_pressure": "kPa", "pm25": "µg/m³"}[
            ev["kind"]]
        ev["value"] = draw(st.sampled_from({"gas_concentration": [0.0, 5.0, 15.0, 25.0, 100.0],
                                            "gas_pressure": [0.0, 100.0, 300.0, 500.0],
                                            "pm25": [0.0, 100.0, 260.0]}[ev["kind"]]))
    return ev, True


# (message, validity of each item or None for a message that cannot be decoded, batched?)
Mix = list[tuple[RawMessage, "list[bool] | None", bool]]


@st.composite
def message_mixes(draw: st.DrawFn) -> tuple[str, Mix]:
    stream = draw(st.sampled_from(["lifeline", "ems", "hazmat"]))
    out: Mix = []
    for offset in range(draw(st.integers(0, 6))):
        partition = draw(st.integers(0, 2))
        shape = draw(st.sampled_from(["batch", "single", "garbage"]))
        if shape == "garbage":
            raw = draw(st.sampled_from(GARBAGE))
            out.append((RawMessage(stream, partition, offset, raw), None, False))
        elif shape == "batch":
            drawn = draw(st.lists(items(stream), max_size=8))
            out.append((RawMessage(stream, partition, offset,
                                   encode_batch([i for i, _ in drawn])),
                        [ok for _, ok in drawn], True))
        else:
            item, ok = draw(items(stream))
            if not isinstance(item, dict):  # a bare non-object cannot be a single event
                item = {"not": "an event"}
            out.append((RawMessage(stream, partition, offset, encode_event(item)), [ok], False))
    return stream, out


@settings(max_examples=150, deadline=None)
@given(mix=message_mixes())
def test_every_input_event_ends_in_events_or_dead(mix: tuple[str, Mix]) -> None:
    stream, messages = mix
    r: StepResult = step(stream).process([m for m, _, _ in messages], NOW_MS)
    good, bad = [], []
    for m, oks, batched in messages:
        if oks is None:
            bad.append((m.partition, m.offset, -1))
            continue
        for i, ok in enumerate(oks):
            (good if ok else bad).append((m.partition, m.offset, i if batched else -1))
    got_events = [(o.partition, o.offset, o.index) for _, _, o in r.events]
    got_dead = [(d["source_partition"], d["source_offset"], d["batch_index"]) for d in r.dead]
    assert sorted(got_events) == sorted(good)
    assert sorted(got_dead) == sorted(bad)
    n_items = sum(1 if oks is None else len(oks) for _, oks, _ in messages)
    assert len(r.events) + len(r.dead) == n_items
    assert len({d["dl_id"] for d in r.dead}) == len(r.dead)
    assert all(isinstance(d["raw"], bytes) for d in r.dead)
    event_ids = {e["event_id"] for e, _, _ in r.events}
    assert all(a["evidence"][0] in event_ids for a in r.alerts)
    assert all(e["district"] in PROFILE.district_codes or e["district"] == ""
               for e, _, _ in r.events)


def test_a_bug_in_processing_dead_letters_the_batch_with_original_bytes() -> None:
    from streams.pipeline import INTERNAL_ERROR, RawMessage, StreamStep
    from schemas.validate import Policy
    from unit_helpers import NOW_MS, PROFILE
    step = StreamStep("lifeline", PROFILE, Policy.for_city(PROFILE))

    def broken(obj, now_ms):  # stands in for a bug in validation code
        raise RuntimeError("boom")

    step.validator.validate = broken  # type: ignore[method-assign]
    msgs = [RawMessage("citycc.lifeline", 3, 10 + i, b'{"x": %d}' % i) for i in range(3)]
    result = step.process_safely(msgs, NOW_MS)
    assert result.events == [] and result.alerts == []
    assert [(d["code"], d["source_offset"], d["raw"]) for d in result.dead] == [
        (INTERNAL_ERROR, 10 + i, b'{"x": %d}' % i) for i in range(3)]
    assert all("RuntimeError: boom" in d["reason"] for d in result.dead)


# --- property: messages of any size end in events or dead letters that fit the topic --------
SMALL = Limits(max_message_bytes=4096, max_event_bytes=1024, max_batch_events=12)
PREFIX = 256


@st.composite
def sized_messages(draw: st.DrawFn) -> list[tuple[RawMessage, int | None]]:
    """Messages from 0 bytes to three times the limit: (message, the number of valid events
    it carries when it fits the limits, else None)."""
    out: list[tuple[RawMessage, int | None]] = []
    for offset in range(draw(st.integers(1, 8))):
        shape = draw(st.sampled_from(["batch", "filler", "cut", "tombstone"]))
        valid: int | None = None
        if shape == "tombstone":
            raw: bytes | None = None
        elif shape == "filler":
            size = draw(st.integers(0, 3 * SMALL.max_message_bytes))
            raw = draw(st.sampled_from([b"x", b"{", b"\xff", b" ", "长".encode()])) * size
        else:
            k = draw(st.integers(0, 30))
            raw = encode_batch([valid_event("lifeline", "reading", n=offset * 100 + i)
                                for i in range(k)])
            if shape == "cut":
                raw = raw[:draw(st.integers(0, len(raw) - 1))]
            elif len(raw) <= SMALL.max_message_bytes and k <= SMALL.max_batch_events:
                valid = k
        out.append((RawMessage(TOPIC, 0, offset, raw), valid))
    return out


@settings(max_examples=200, deadline=None)
@given(messages=sized_messages())
def test_messages_of_every_size_are_stored_or_dead_lettered_and_letters_fit(
        messages: list[tuple[RawMessage, int | None]]) -> None:
    from schemas.records import fit_dead_letter
    import hashlib
    r = step(limits=SMALL).process_safely([m for m, _ in messages], NOW_MS)
    for m, valid in messages:
        events = [o for _, _, o in r.events if o.offset == m.offset]
        dead = [d for d in r.dead if d["source_offset"] == m.offset]
        size = len(m.value or b"")
        if size > SMALL.max_message_bytes:
            assert events == [] and [(d["code"], d["batch_index"]) for d in dead] == [
                (E.TOO_LARGE, -1)]
        elif valid is not None:
            assert len(events) == valid and dead == []
        else:
            assert dead, f"message at {m.offset} ({size} bytes) left nothing behind"
        indices = sorted(o.index for o in events) + sorted(d["batch_index"] for d in dead)
        assert len(indices) == len(set(indices))              # no item twice
        assert indices == [-1] or sorted(indices) == list(range(len(indices))) or not indices
        for d in dead:
            fitted = fit_dead_letter(d, SMALL.max_message_bytes, PREFIX)
            assert len(fitted["raw"]) <= SMALL.max_message_bytes
            if d["batch_index"] == -1:
                assert fitted["raw_size"] == size
                assert fitted["raw_sha256"] == hashlib.sha256(m.value or b"").hexdigest()
                assert fitted["raw"] == (m.value or b"")[:len(fitted["raw"])]
            if size > SMALL.max_message_bytes:
                assert len(fitted["raw"]) == PREFIX and fitted["code"] == E.TOO_LARGE
