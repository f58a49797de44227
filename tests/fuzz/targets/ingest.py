"""Ingest: Kafka messages of an input stream through the pipeline's offline function
(:meth:`streams.pipeline.StreamStep.process_safely`, what the Faust agents run), wired as
the worker wires it (every detector).

The oracle: each message ends as events or dead letters and nothing else -- one outcome per
batch item (or one for a message refused whole); valid items are accepted whatever their
neighbours are; refused ones carry the expected code and their original bytes.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson
from hypothesis import strategies as st

from detectors.plan import build_event_detectors, build_partition_detectors
from detectors.reassert import Reasserter
from schemas import errors as E
from schemas.catalog import STREAMS
from streams.pipeline import RawMessage, StreamStep

from ..strategies import (Deep, NOW_MS, POLICY, PROFILE, Pairs, corrupt, deep, json_non_objects,
                          json_objects, json_values, write)
from ..verdict import BROKEN, Expect, Hung, LOST, Tally, bounded, either, ok, refuse
from .events import (DUPLICATE_KEY, LIMITS, Item, deep_codes, mutated_events,
                     valid_events)


@dataclass(frozen=True)
class Message:
    """One Kafka message: its bytes, and either its items (judged one by one) or
    ``whole``, what must become of the message as one."""

    raw: bytes | None
    items: tuple[Item, ...] = ()
    whole: Expect | None = None


@dataclass(frozen=True)
class IngestCase:
    stream: str
    messages: tuple[Message, ...]


def _message(its: list[Item], batched: bool) -> Message:
    """The message carrying ``its``, with the expectation its size and decoding give."""
    raw = write({"events": [i.value for i in its]} if batched else its[0].value)
    size = len(raw)
    if size > LIMITS.max_message_bytes:
        return Message(raw, tuple(its), refuse(E.TOO_LARGE, why=f"message of {size} bytes"))
    broken = [i for i in its if i.scope == "message"]
    if broken:   # (a decoder may see a deep value or a repeated key in it first)
        codes = {c for i in its if i.scope in ("message", "decode") for c in i.expect.codes}
        return Message(raw, tuple(its), Expect(False, frozenset(codes), broken[0].expect.why))
    if not batched:
        item = its[0]
        if size > LIMITS.max_event_bytes:
            codes = {E.TOO_LARGE} | (set(item.expect.codes) if item.scope == "decode" else set())
            return Message(raw, tuple(its), refuse(*codes, why=f"event of {size} bytes"))
        return Message(raw, tuple(its), item.expect)
    if len(its) > LIMITS.max_batch_events:
        return Message(raw, tuple(its), refuse(E.BATCH_TOO_LARGE, why="too many events"))
    sized = []
    for i in its:
        n = len(write(i.value))
        if n > LIMITS.max_event_bytes and i.expect.accept is not None:
            extra = i.expect.codes if i.scope == "decode" else frozenset()
            i = Item(i.value, Expect(False, frozenset({E.TOO_LARGE}) | extra,
                                     f"{i.expect.why}; item of {n} bytes"), i.scope)
        sized.append(i)
    return Message(raw, tuple(sized))


NOT_OBJECTS = json_non_objects()
OBJECTS = json_objects(6)


@lru_cache(maxsize=None)
@st.composite
def items(draw: st.DrawFn, stream: str, batched: bool, group: str = "all") -> Item:
    """A batch item (or a single message's event): valid, or spoilt as ``group`` says."""
    type_ = draw(st.sampled_from(sorted(STREAMS[stream].types)))
    choice = draw(st.integers(0, 9))
    if choice < 4 or group == "valid":
        return Item(draw(valid_events(stream, type_)), ok())
    if group in ("schema", "decode", "all") and batched and choice == 8:
        value = draw(NOT_OBJECTS if group == "schema" else NOT_OBJECTS | deep())
        if isinstance(value, Deep):   # a batch item that is no object at all
            return Item(value, refuse(*deep_codes(value, 2), why=f"{value} as an item"),
                        "decode")
        return Item(value, refuse(E.NOT_OBJECT, why="item is no object"))
    if group in ("arbitrary", "all") and choice == 9:
        return Item(draw(OBJECTS), either())
    if group == "arbitrary":
        return Item(draw(valid_events(stream, type_)), ok())
    return draw(mutated_events(stream, type_, group))


@lru_cache(maxsize=None)
@st.composite
def whole_messages(draw: st.DrawFn, stream: str, group: str) -> Message:
    """A message refused (or taken) as a whole: its own shape is wrong, or arbitrary."""
    type_ = draw(st.sampled_from(sorted(STREAMS[stream].types)))
    good = [draw(valid_events(stream, type_)) for _ in range(draw(st.integers(1, 3)))]
    how = draw(st.sampled_from(WHOLE[group]))
    if how == "tombstone":
        return Message(None, whole=refuse(E.NOT_OBJECT, why="tombstone"))
    if how == "corrupt":
        raw, why = draw(corrupt(write({"events": good})))
        return Message(raw, whole=refuse(E.MALFORMED_JSON, why=why))
    if how == "not_object":
        return Message(write(draw(NOT_OBJECTS)), whole=refuse(E.NOT_OBJECT,
                                                              why="not an object"))
    if how == "extra_key":
        key = draw(st.text(min_size=1, max_size=8).filter(lambda k: k != "events"))
        return Message(write({"events": good, key: 1}),
                       whole=refuse(E.UNKNOWN_FIELD, why="batch with another key"))
    if how == "events_not_list":
        value = draw(json_values(3).filter(lambda v: not isinstance(v, list)))
        return Message(write({"events": value}),
                       whole=refuse(E.WRONG_TYPE, why="events is no list"))
    if how == "too_many":
        n = draw(st.integers(LIMITS.max_batch_events + 1, 2000))
        return Message(write({"events": [1] * n}), whole=refuse(E.BATCH_TOO_LARGE,
                                                                why=f"{n} events"))
    if how == "duplicate_events":
        return Message(write(Pairs((("events", good), ("events", good[:1])))),
                       whole=refuse(DUPLICATE_KEY, why="events twice"))
    if how == "deep":   # the nesting alone, at the top (issue 13's 255-deep message)
        d: Deep = draw(deep(5000))
        fair = deep_codes(d, 0) + ((E.NOT_OBJECT,) if d.shape != "object" else ())
        return Message(d.text(), whole=refuse(*fair, why=f"{d} as the message"))
    if how == "binary":
        return Message(draw(st.binary(max_size=300)), whole=either("arbitrary bytes"))
    return Message(write(draw(OBJECTS)), whole=either("arbitrary object"))


@lru_cache(maxsize=None)
@st.composite
def messages(draw: st.DrawFn, stream: str, group: str) -> Message:
    shape = draw(st.sampled_from(("batch", "batch", "single", "whole")))
    if shape == "whole" and WHOLE[group]:
        return draw(whole_messages(stream, group))
    batched = shape != "single"
    n = draw(st.integers(0, 8)) if batched else 1
    return _message([draw(items(stream, batched, group)) for _ in range(n)], batched)


# the shapes of a message judged as a whole, by class of mistake (see events.MUTATIONS)
WHOLE = {"valid": (), "characters": (),
         "schema": ("tombstone", "corrupt", "not_object", "extra_key", "events_not_list",
                    "too_many"),
         "decode": ("duplicate_events", "deep"), "arbitrary": ("binary", "object")}
WHOLE["all"] = tuple(h for hs in WHOLE.values() for h in hs)


@lru_cache(maxsize=None)
@st.composite
def ingest_cases(draw: st.DrawFn, group: str = "all") -> IngestCase:
    """Messages of one stream, processed as one batch (as the agent takes them)."""
    stream = draw(st.sampled_from(sorted(STREAMS)))
    return IngestCase(stream, tuple(draw(st.lists(messages(stream, group), min_size=1,
                                                  max_size=6))))


def new_step(stream: str) -> StreamStep:
    """The worker's wiring (streams.app.build_app), with the small limits."""
    return StreamStep(stream, PROFILE, POLICY, LIMITS, build_event_detectors(PROFILE),
                      partition_detectors=build_partition_detectors(PROFILE),
                      active=Reasserter(60_000), alert_ttl_ms=300_000)


def _shape(raw: bytes | None) -> int:
    """How many items a decoder finds in ``raw`` (0: it is judged as one message)."""
    try:
        doc = orjson.loads(raw or b"")
    except orjson.JSONDecodeError:
        return 0
    if isinstance(doc, dict) and list(doc) == ["events"] and isinstance(doc["events"], list) \
            and len(doc["events"]) <= LIMITS.max_batch_events:
        return len(doc["events"])
    return 0


def check_ingest(case: IngestCase) -> Tally:
    tally = Tally()
    topic = f"citycc.{case.stream}"
    msgs = [RawMessage(topic, 0, k, m.raw) for k, m in enumerate(case.messages)]
    try:
        with bounded(10, "ingest"):
            result = new_step(case.stream).process_safely(msgs, NOW_MS)
    except (Exception, Hung) as exc:
        tally.inputs += len(msgs)
        tally.crash(f"{case.stream} batch of {len(msgs)}", exc)
        return tally
    events: dict[int, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
    dead: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for ev, _, origin in result.events:
        events[origin.offset].append((origin.index, ev))
    for d in result.dead:
        dead[d["source_offset"]].append(d)
    for k, m in enumerate(case.messages):
        _judge_message(tally, f"{case.stream} message {k}", m, events[k], dead[k])
    return tally


def _judge_message(tally: Tally, where: str, m: Message,
                   evs: list[tuple[int, dict[str, Any]]], dls: list[dict[str, Any]]) -> None:
    whole = [d for d in dls if d["batch_index"] == -1]
    if whole:
        if len(dls) != 1 or evs:
            tally.add(LOST, where, f"refused whole, yet {len(evs)} events and {len(dls)} "
                                   f"dead letters")
        d = whole[0]
        if d["raw"] != (m.raw or b""):
            tally.add(BROKEN, where, f"dead letter ({d['code']}) does not keep the original "
                                     f"bytes")
        expect = m.whole or _whole_refusal(m.items)
        tally.judge(expect, where, accepted=False, code=d["code"], note=d["reason"])
        return
    n = _shape(m.raw)
    if m.whole is not None and not (m.whole.accept is None and n):
        if not n and (len(evs) + len(dls) != 1 or (evs and evs[0][0] != -1)):
            tally.add(LOST, where, f"{len(evs)} events and {len(dls)} dead letters for one "
                                   f"message")
        tally.judge(m.whole, where, accepted=bool(evs), code=dls[0]["code"] if dls else "",
                    note=dls[0]["reason"] if dls else "")
        return
    its = m.items or tuple(Item(None, m.whole or either()) for _ in range(n))
    for i, item in enumerate(its):
        got = [ev for j, ev in evs if j == i]
        gone = [d for d in dls if d["batch_index"] == i]
        if len(got) + len(gone) != 1:
            tally.add(LOST, f"{where} item {i}", f"{len(got)} events, {len(gone)} dead letters")
            continue
        if gone and (not isinstance(gone[0]["raw"], bytes) or not gone[0]["raw"]):
            tally.add(BROKEN, f"{where} item {i}", "dead letter without the item's bytes")
        if got and item.expect.accept and got[0].get("event_id") != item.value["event_id"]:
            tally.add(BROKEN, f"{where} item {i}", f"accepted as {got[0].get('event_id')!r}")
        tally.judge(item.expect, f"{where} item {i}", accepted=bool(got),
                    code=gone[0]["code"] if gone else "", note=gone[0]["reason"] if gone else "")
    extra = {j for j, _ in evs} | {d["batch_index"] for d in dls}
    if extra - set(range(len(its))):
        tally.add(LOST, where, f"outcomes for items that do not exist: {sorted(extra)}")


def _whole_refusal(its: tuple[Item, ...]) -> Expect:
    """A batch refused as one: fair only for what is refused when decoding."""
    codes = frozenset(c for i in its if i.scope == "decode" and i.expect.accept is False
                      for c in i.expect.codes)
    return Expect(False, codes, "batch with an item refused at decode") if codes else \
        Expect(True if any(i.expect.accept for i in its) else None, frozenset(),
               "batch refused as a whole though no item is bad at decode")
