"""A Faust-free harness for the worker's alerting stage (``streams.alerting_agent.
install_alerting``): a recording app whose topics write down every send, and inputs made by
a small simulated city through the pipeline's own code. Used to pin down, byte for byte,
what the worker publishes, before and after its publishing moved to a shared function."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

import orjson

from city.profile import load_profile
from citycc.settings import load_settings
from detectors.plan import build_event_detectors, build_partition_detectors
from schemas.catalog import INPUT_STREAMS
from schemas.validate import Policy, format_event_time
from schemas.wire import encode_batch
from simulator.generate import Simulation
from streams.alerting_bridge import finding_alert
from streams.dispatch_intake import forwarded
from streams.pipeline import RawMessage, StreamStep

T0 = 1_795_600_800_000   # 2026-11-25T08:00:00Z
Sent = tuple[str, bytes, bytes]


class _Future:
    def __await__(self) -> Any:
        if False:  # pragma: no cover - a generator that is done at once
            yield
        return None


class _Topic:
    def __init__(self, name: str, log: list[Sent]) -> None:
        self.name, self.log = name, log

    async def send(self, key: bytes, value: bytes, headers: Any = None) -> _Future:
        self.log.append((self.name, key, value))
        return _Future()

    def get_topic_name(self) -> str:
        return self.name


class _Signal:
    def connect(self, fn: Any) -> Any:
        return fn


class FakeApp:
    """Records the agents, timers and tasks ``install_alerting`` declares."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []
        self.agents: dict[str, Callable[..., Any]] = {}
        self.timers: list[Callable[..., Any]] = []
        self.tasks: list[Callable[..., Any]] = []
        self.on_before_shutdown = _Signal()

    def topic(self, name: str, **_: Any) -> _Topic:
        return _Topic(name.split(".", 1)[-1], self.sent)

    def agent(self, topic: Any, name: str) -> Any:
        def deco(fn: Any) -> Any:
            self.agents[name] = fn
            return fn
        return deco

    def timer(self, interval: float) -> Any:
        def deco(fn: Any) -> Any:
            self.timers.append(fn)
            return fn
        return deco

    def task(self, fn: Any) -> Any:
        self.tasks.append(fn)
        return fn


class _Msg:
    def __init__(self, topic: str, offset: int) -> None:
        self.topic, self.partition, self.offset = topic, 0, offset


class _Event:
    def __init__(self, topic: str, offset: int, value: bytes) -> None:
        self.message, self.value = _Msg(topic, offset), value


class _Stream:
    def __init__(self, batches: list[list[_Event]]) -> None:
        self.batches = batches

    async def noack_take(self, n: int, within: float) -> Any:
        for b in self.batches:
            yield b


class _Buffer:
    """Sends at once (the order of sends is what is pinned down)."""

    pending = False

    async def send(self, start: Any) -> None:
        await (await start())

    def add_events(self, events: list[Any]) -> None:
        pass

    async def flush_if_due(self) -> None:
        pass

    async def flush(self) -> None:
        pass


def simulated_inputs(minutes: int = 4, scale: float = 0.05, seed: int = 3
                     ) -> list[tuple[int, list[bytes], list[bytes]]]:
    """Per simulated second: (now, alert records, dispatch_events records), made by the
    worker's own input stages over a small city with an incident of each kind."""
    profile = load_profile()
    sim = Simulation(profile, scale=scale, seed=seed, start_ms=T0, incidents=0)
    for i, kind in enumerate(("gas_leak", "structure_fire", "traffic_accident")):
        sim.inject(kind, T0 + 20_000 + 30_000 * i)
    policy = Policy.for_city(profile, max_lateness_s=24 * 3600)
    dets = build_event_detectors(profile)
    steps = {s: StreamStep(s, profile, policy, event_detectors=dets,
                           partition_detectors=build_partition_detectors(profile),
                           alert_ttl_ms=300_000) for s in INPUT_STREAMS}
    out, offsets = [], defaultdict(int)
    for t in range(T0 + 1000, T0 + minutes * 60_000 + 1, 1000):
        alerts: list[bytes] = []
        dispatch: list[bytes] = []
        for stream, events in sim.tick(t).items():
            if not events:
                continue
            msg = RawMessage(stream, 0, offsets[stream], encode_batch(events))
            offsets[stream] += 1
            res = steps[stream].process([msg], t)
            alerts += [orjson.dumps(a) for a in res.alerts]
            dispatch += [orjson.dumps({"stream": stream, "event": e})
                         for e, _, _ in res.events if forwarded(stream, e.get("type"))]
        found = [f for d in dets for f in d.tick(t)]
        found += [f for s in steps.values() for f in s.detection.tick(t)]
        alerts += [orjson.dumps(finding_alert(f, profile, t, 300_000)) for f in found]
        out.append((t, alerts, dispatch))
    return out


def commands_at(t: int, fingerprint: str) -> list[bytes]:
    """An ack, a silence, a comment on nothing, and a command nobody can be answered for."""
    return [orjson.dumps(c) for c in (
        {"command_id": "c-ack", "action": "ack", "actor": "值班长", "fingerprint": fingerprint},
        {"command_id": "c-sil", "action": "silence", "actor": "值班长", "reason": "检修",
         "matchers": ['kind="flatline"'], "ends_at": format_event_time(t + 3_600_000)},
        {"command_id": "c-bad", "action": "ack", "actor": "值班长", "fingerprint": "nope"},
        {"action": "ack"})] + [b"not json"]


def run_worker(tmp: Path, inputs: list[tuple[int, list[bytes], list[bytes]]],
               command_at: int) -> list[Sent]:
    """Drive the worker's alerting agents and timer over ``inputs`` (clock: each second's
    ``now``); the commands of :func:`commands_at` at second ``command_at``."""
    from streams import alerting_agent

    def no_rebuild(*a: Any, **k: Any) -> Any:
        raise RuntimeError("no warehouse in this test")
    settings = load_settings({}, run_dir=tmp)
    app = FakeApp()
    now = [T0]
    dead: list[Sent] = []

    async def publish_dead(buf: Any, records: list[dict[str, Any]]) -> None:
        dead.extend(("deadletter", r["source_topic"].encode(), r["raw"]) for r in records)
        app.sent.extend(("deadletter", r["source_topic"].encode(), r["raw"]) for r in records)

    real = alerting_agent.rebuild_from_warehouse
    alerting_agent.rebuild_from_warehouse = no_rebuild  # type: ignore[assignment]
    try:
        alerting_agent.install_alerting(app, settings, load_profile(), _Topic("alerts", []),
                                        _Topic("dispatch_events", []),
                                        lambda *a, **k: _Buffer(), publish_dead,
                                        lambda: now[0])
    finally:
        alerting_agent.rebuild_from_warehouse = real  # type: ignore[assignment]

    async def drive() -> None:
        for task in app.tasks:   # the republish of nothing: marks the stage ready
            await task()
        offset = 0
        for i, (t, alerts, dispatch) in enumerate(inputs):
            now[0] = t
            for name, values in (("citycc.alerting.alerts", alerts),
                                 ("citycc.alerting.dispatch", dispatch)):
                if values:
                    await app.agents[name](_Stream([[_Event(name, offset + k, v)
                                                     for k, v in enumerate(values)]]))
                    offset += len(values)
            if i == command_at:
                fp = next((orjson.loads(v)["fingerprint"] for _, a, _ in inputs[:i + 1]
                           for v in a), "none")
                await app.agents["citycc.alerting.commands"](_Stream([[
                    _Event("commands", k, v) for k, v in enumerate(commands_at(t, fp))]]))
            for timer in app.timers:
                await timer()
    asyncio.run(drive())
    return app.sent


def simulated_streams(minutes: float = 4, scale: float = 0.05, seed: int = 3
                      ) -> dict[str, list[tuple[int, tuple[()], dict[str, Any]]]]:
    """Per stream, ``(event_ms, (), event)`` in event-time order: what the warehouse
    reader gives :func:`replay.merge.merge_runs`, for a small city with three incidents."""
    from schemas.validate import parse_event_time
    sim = Simulation(load_profile(), scale=scale, seed=seed, start_ms=T0, incidents=0)
    for i, kind in enumerate(("gas_leak", "structure_fire", "traffic_accident")):
        sim.inject(kind, T0 + 20_000 + 30_000 * i)
    by: dict[str, list[tuple[int, tuple[()], dict[str, Any]]]] = defaultdict(list)
    for t in range(T0 + 1000, T0 + int(minutes * 60_000) + 1, 1000):
        for stream, events in sim.tick(t).items():
            by[stream] += [(parse_event_time(e["event_time"]), (), e) for e in events]
    for items in by.values():
        items.sort(key=lambda x: x[0])
    return dict(by)
