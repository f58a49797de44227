"""The cockpit's Kafka input (``cockpit_api.feed.KafkaFeed._handle`` into ``AlertHub``): the
messages the worker publishes (made by a real engine from valid alerts and commands), the
same with a deep value put in, and arbitrary bytes, on every topic the cockpit follows.

The oracle: each message is taken or counted malformed (exactly one), never an exception;
valid ones are taken, deep ones refused; whatever was taken, a client connecting afterwards
gets a snapshot that encodes, and every message fanned out is JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from aiokafka import TopicPartition
from hypothesis import strategies as st

from citycc.settings import load_settings
from cockpit_api.feed import KafkaFeed, sources_for
from cockpit_api.hub import AlertHub

from ..strategies import NOW_MS, Deep, deep, json_values, write
from ..verdict import CRASH, Expect, LOST, Tally, either, ok, refuse
from .alerts import AlertSpec, alert, alert_specs
from .engine import CONFIG, Engine, PROFILE
from .records import silences

SETTINGS = load_settings({})
TOPICS = tuple(s.topic for s in sources_for(AlertHub()))   # what the cockpit follows


@dataclass(frozen=True)
class Spoil:
    """A message to add: the ``base``-th produced message of ``topic`` (modulo) with a
    deep value at ``field`` (``raw`` None), or ``raw`` bytes as they are."""

    topic: str
    base: int = 0
    field: str = ""
    value: Any = None
    raw: bytes | None = None


@dataclass(frozen=True)
class HubCase:
    alerts: tuple[AlertSpec, ...]
    silence_commands: tuple[dict[str, Any], ...]
    spoils: tuple[Spoil, ...]


@st.composite
def _spoil(draw: st.DrawFn) -> Spoil:
    topic = draw(st.sampled_from(TOPICS))
    if draw(st.integers(0, 2)):   # two in three put a deep value into a real message
        d: Deep = draw(deep(1020))
        field = draw(st.sampled_from(("extra", "labels", "explanation", "evidence",
                                      "payload_json", "matchers")))
        return Spoil(topic, draw(st.integers(0, 5)), field, d)
    raw = draw(st.binary(max_size=100) | json_values(10).map(write) | st.none())
    return Spoil(topic, raw=raw)


@st.composite
def hub_cases(draw: st.DrawFn) -> HubCase:
    specs = tuple(draw(st.lists(alert_specs(), min_size=1, max_size=4)))
    cmds = tuple({**c, "command_id": f"s-{i}", "actor": "张伟"}
                 for i, c in enumerate(draw(st.lists(silences(), max_size=2))))
    return HubCase(specs, cmds, tuple(draw(st.lists(_spoil(), min_size=1, max_size=5))))


def produce(case: HubCase) -> list[tuple[str, dict[str, Any]]]:
    """What the worker would publish for the case's alerts and commands, in order."""
    engine, out = Engine(CONFIG, PROFILE), []
    for i, spec in enumerate(case.alerts):
        msg = alert(spec, i)
        out.append(("alerts", msg))
        res = engine.alerts([msg], NOW_MS)
        out += [("alert_events", e.to_dict()) for e in res.alert_events]
        out += [("incident_events", e.to_row()) for e in res.incident_events]
        if i == 0:
            ack = {"command_id": "ack-0", "action": "ack", "actor": "张伟",
                   "fingerprint": msg["fingerprint"]}
            done = engine.command(ack, NOW_MS)
            out += [("alert_events", e.to_dict()) for e in done.alert_events]
            out.append(("command_results", {"command_id": "ack-0", "ok": True, "code": "",
                                            "field": "", "reason": "", "events": [], "at": ""}))
    for cmd in case.silence_commands:
        out += [("silence_events", e) for e in engine.command(cmd, NOW_MS).silence_events]
    out.append(("notifications", {"key": "n-1", "receiver": "city_duty", "outcome": "sent"}))
    return out


def _messages(case: HubCase) -> list[tuple[str, bytes | None, Expect]]:
    produced = produce(case)
    msgs: list[tuple[str, bytes | None, Expect]] = [
        (t, orjson.dumps(m), ok(f"a {t} message")) for t, m in produced]
    for s in case.spoils:
        if s.field:
            mine = [m for t, m in produced if t == s.topic] or [m for _, m in produced]
            base = dict(mine[s.base % len(mine)])
            d, field = s.value, s.field
            if field == "payload_json" and s.topic != "incident_events":
                field = "extra"   # (only an incident event's payload_json is JSON text)
            base[field] = write(d).decode() if field == "payload_json" else d
            msgs.append((s.topic, write(base), refuse(why=f"{d} in {field}")))
        else:
            msgs.append((s.topic, s.raw, either(f"arbitrary {s.topic} message")))
    return msgs


def check_hub(case: HubCase) -> Tally:
    tally, hub = Tally(), AlertHub(queue_size=10_000)
    try:
        msgs = _messages(case)
    except Exception as exc:   # the producing engine itself failed: the engine target's
        tally.crash("producing the worker's messages", exc)
        return tally
    feed = KafkaFeed(SETTINGS, hub)
    sources = {s.topic: s for s in feed.sources.values()}
    early = hub.subscribe()
    for k, (topic, raw, expect) in enumerate(msgs):
        where, source = f"{topic} message {k}", sources[topic]
        before = (hub.counters.malformed, dict(hub.counters.received))
        if not tally.attempt(2, where, lambda: feed._handle(
                source, TopicPartition(SETTINGS.topic(topic), 0), k, raw)).ran:
            continue
        taken = sum(hub.counters.received.values()) - sum(before[1].values())
        refused = hub.counters.malformed - before[0]
        if taken + refused != 1:
            tally.add(LOST, where, f"taken {taken} times, counted malformed {refused} times")
        tally.judge(expect, where, accepted=taken > 0, code="" if taken else "malformed")
    _clients_still_served(tally, hub, early)
    return tally


def _clients_still_served(tally: Tally, hub: AlertHub, early: Any) -> None:
    try:
        while not early.queue.empty():
            orjson.loads(early.queue.get_nowait())
    except Exception as exc:
        tally.add(CRASH, "fan-out", f"a message sent to clients is not JSON: {exc}")
    try:
        late = hub.subscribe()
        snapshot = orjson.loads(late.queue.get_nowait())
        assert snapshot["type"] == "snapshot"
    except Exception as exc:
        tally.add(CRASH, "subscribe", f"a client connecting now gets no snapshot: "
                                      f"{type(exc).__name__}: {exc}")

