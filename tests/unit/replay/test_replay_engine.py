"""The Replayer: the worker's stages in one process on an event-time watermark.
Deterministic (ids included), ticking on event time only, refusing input it cannot take,
and running the worker's alerting stage byte for byte."""

from __future__ import annotations

import pytest
import orjson

from citycc.settings import load_settings
from replay.engine import ReplayError, Replayer
from replay.merge import merge_runs
from replay.setup import ReplaySetup, setup_from_settings
from replay.timeline import OutRecord, digest
from detectors.quality import NODATA
from schemas.validate import parse_event_time

from worker_fake import T0, commands_at, run_worker, simulated_inputs, simulated_streams

MINUTES = 3


@pytest.fixture(scope="module")
def setup() -> ReplaySetup:
    return setup_from_settings(load_settings({}))


@pytest.fixture(scope="module")
def streams() -> dict:
    return simulated_streams(MINUTES)


def replay(setup: ReplaySetup, streams: dict, tail_ms: int = 0) -> tuple[Replayer,
                                                                         list[OutRecord]]:
    r = Replayer(setup, T0)
    out: list[OutRecord] = []
    for stream, events, times in merge_runs(streams):
        out += r.feed(stream, events, times)
    out += r.advance(T0 + MINUTES * 60_000 + tail_ms)
    return r, out


def test_the_same_events_twice_give_the_same_records_ids_included(setup, streams) -> None:
    r1, a = replay(setup, streams)
    r2, b = replay(setup, streams)
    assert r1.counters["events"] == sum(len(v) for v in streams.values())
    assert len(a) == len(b) and a == b and digest(a) == digest(b)
    topics = {r.topic for r in a}
    assert {"alerts", "alert_events", "incident_events", "dispatch", "notifications"} <= topics


def test_records_carry_the_watermark_and_never_go_back(setup, streams) -> None:
    r, out = replay(setup, streams)
    ats = [o.at_ms for o in out]
    assert ats == sorted(ats) and ats[0] >= T0
    # (the last events, at the end, are processed at the next boundary)
    assert r.watermark_ms == T0 + MINUTES * 60_000 + 1000


def test_silence_fires_nodata_by_watermark_advance_alone(setup, streams) -> None:
    """No input, only event time passing: the silent sensors' NoData alerts fire at tick
    boundaries (detected_at = the boundary), and the engine takes them."""
    r, out = replay(setup, streams)
    before = [o for o in out if o.topic == "alerts"
              and orjson.loads(o.value)["kind"] == NODATA]
    later = r.advance(r.watermark_ms + 10 * 60_000)
    nodata = [o for o in later if o.topic == "alerts"
              and orjson.loads(o.value)["kind"] == NODATA]
    assert nodata and not before
    for o in nodata:
        alert = orjson.loads(o.value)
        assert o.at_ms % 1000 == 0 and parse_event_time(alert["detected_at"]) == o.at_ms
    fps = {orjson.loads(o.value)["fingerprint"] for o in nodata}
    fired = {orjson.loads(o.value)["fingerprint"] for o in later if o.topic == "alert_events"
             and orjson.loads(o.value)["to_state"] == "firing"}
    assert fps <= fired


def test_input_before_the_watermark_or_of_no_stream_is_refused(setup, streams) -> None:
    r = Replayer(setup, T0)
    r.advance(T0 + 60_000)
    t, _, ev = streams["lifeline"][0]
    with pytest.raises(ReplayError) as exc:
        r.feed("lifeline", [ev], [t])
    assert exc.value.code == "out_of_order"
    with pytest.raises(ReplayError) as exc:
        r.feed("weather", [ev], [T0 + 70_000])
    assert exc.value.code == "unknown_stream"
    late = [(T0 + 70_000, ev), (T0 + 69_000, ev)]
    with pytest.raises(ReplayError) as exc:
        r.feed("lifeline", [e for _, e in late], [t for t, _ in late])
    assert exc.value.code == "out_of_order"


def test_its_alerting_stage_publishes_what_the_worker_publishes(tmp_path, setup) -> None:
    """The worker's alerting agents and timer (a recording app) and the Replayer's
    alerting stage, given the same alerts, dispatch records and commands at the same
    times, publish the same bytes in the same order (dead letters aside: their origin is
    the replay's own)."""
    inputs = simulated_inputs()
    worker = [(t, k, v) for t, k, v in run_worker(tmp_path, inputs, 120) if t != "deadletter"]
    r = Replayer(setup, T0)
    got = []
    for i, (t, alerts, dispatch) in enumerate(inputs):
        r._wm = t   # (the worker's clock; no input is fed, so no detector has a say)
        got += r._alerts(alerts, t)
        if dispatch:
            got += r._dispatch(dispatch, t)
        if i == 120:
            fp = next(orjson.loads(v)["fingerprint"] for _, a, _ in inputs[:i + 1] for v in a)
            got += [(o.topic, o.key, o.value, o.headers) for o in r.command(commands_at(t, fp))]
        got += r._alerting_tick(t)   # the worker's alerting timer, after its agents
    mine = [(t, k, v) for t, k, v, _ in got if t != "deadletter"]
    assert len(mine) > 50
    assert mine == worker or _diff(mine, worker)


def _diff(a: list, b: list) -> bool:
    for i, (x, y) in enumerate(zip(a, b)):
        assert x == y, f"record {i} differs"
    assert len(a) == len(b)
    return True


def test_a_restored_snapshot_goes_on_exactly_as_the_original(setup, streams) -> None:
    """A seek's building block: a snapshot taken halfway, restored, fed the rest, gives
    the records the uninterrupted replay gives."""
    runs = list(merge_runs(streams))
    half = len(runs) // 2
    r = Replayer(setup, T0)
    for stream, events, times in runs[:half]:
        r.feed(stream, events, times)
    blob = r.snapshot()
    copy = Replayer.restore(setup, blob)
    assert copy.watermark_ms == r.watermark_ms
    rest = [runs[i] for i in range(half, len(runs))]
    a = [o for s, e, t in rest for o in r.feed(s, e, t)] + r.advance(T0 + 300_000)
    b = [o for s, e, t in rest for o in copy.feed(s, e, t)] + copy.advance(T0 + 300_000)
    assert len(a) > 100 and a == b


def test_events_fed_as_their_stored_bodies_give_the_same_records(setup, streams) -> None:
    """The warehouse reader's raw path: each event's JSON body as stored is fed as bytes
    (joined, not decoded and encoded again); the records are byte for byte the same."""
    from schemas.wire import encode_batch, encode_event, join_batch
    some = [e for _, _, e in streams["lifeline"][:50]]
    assert join_batch([encode_event(e) for e in some]) == encode_batch(some)
    _, want = replay(setup, streams)
    raw = {s: [(t, k, encode_event(e)) for t, k, e in items] for s, items in streams.items()}
    r = Replayer(setup, T0)
    got: list[OutRecord] = []
    for stream, events, times in merge_runs(raw):
        got += r.feed(stream, events, times)
    got += r.advance(T0 + MINUTES * 60_000)
    assert got == want
    with pytest.raises(ReplayError) as err:
        Replayer(setup, T0).feed("lifeline", [encode_event(some[0])])
    assert err.value.code == "missing_times"
