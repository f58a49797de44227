"""Websocket frames from cockpit clients (``cockpit_api.command_sink.submit``: what the server
answers each frame with): valid commands built from the cockpit's declaration of its
actions (``cockpit_api.commands.ACTIONS``), one mutation of a valid frame, arbitrary frames.

The oracle: a valid command is queued (sent once, and what was sent validates again); any
other frame is answered ``command_error`` with the expected code and nothing is sent.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson
from hypothesis import strategies as st

from alerting.incident_model import CALL_STREAMS
from cockpit_api.command_sink import submit
from cockpit_api.commands import ACTIONS, MAX_MESSAGE_BYTES, validate_command

from ..strategies import (DAY_MS, Deep, NOW_MS, Pairs, YEAR_MS, blanks, corrupt, deep, free_text,
                          future_times, ids, json_non_objects, json_values, names, old_times,
                          tainted, times, write)
from ..verdict import BROKEN, Expect, Tally, either, ok, refuse
from .events import BAD_CHARACTERS, DUPLICATE_KEY, TOO_DEEP
from .alerts import OUT_OF_WINDOW
from .records import MATCHES_EVERYTHING

IDENTS = ("fingerprint", "silence_id", "target", "source", "incident_id", "call_id")
LABELS = ("entity_id", "kind", "district", "severity", "stream")
BAD_REGEX = "bad_regex"


@st.composite
def _matcher(draw: st.DrawFn) -> str:
    label, a, b = draw(st.sampled_from(LABELS)), draw(ids(20)), draw(ids(20))
    return draw(st.sampled_from((f'{label}="{a}"', f'{label}=~"{a}|{b}"', f"{label}={a}")))


def _arg(name: str, action: str) -> st.SearchStrategy[Any]:
    if name in IDENTS:
        return ids(60).map(lambda s: f"{s}-{name}")   # (merge: target != source)
    if name == "occurrence":
        return st.integers(0, 10 ** 6)
    if name == "matchers":
        return st.lists(_matcher(), min_size=1, max_size=3)
    if name in ("reason", "text") or (name == "comment" and action == "comment"):
        return free_text(60, 1)
    if name == "comment":
        return free_text(60)
    if name == "ends_at":   # (an end more than a year ahead is refused: see "past")
        return times(NOW_MS + 60_000, NOW_MS + 365 * DAY_MS) | st.none()
    if name == "until_resolved":
        return st.booleans()
    if name == "fingerprints":
        return st.lists(ids(40), min_size=1, max_size=5)
    if name == "stream":
        return st.sampled_from(CALL_STREAMS)
    raise AssertionError(f"no strategy for the argument {name!r}: add one")


def _wrong_type(name: str) -> st.SearchStrategy[Any]:
    """Values of the wrong JSON type for the argument ``name`` (never null: that is absent)."""
    lists = st.lists(st.text(max_size=3), max_size=2)
    if name in ("matchers", "fingerprints"):
        return st.integers() | st.booleans() | st.text(max_size=5)
    if name == "occurrence":
        return st.text(max_size=5) | st.booleans() | lists | st.floats(allow_nan=False)
    if name == "until_resolved":
        return st.integers() | st.text(max_size=5) | lists
    return st.integers() | st.booleans() | lists


@st.composite
def _command(draw: st.DrawFn) -> dict[str, Any]:
    action = draw(st.sampled_from(sorted(ACTIONS)))
    cmd: dict[str, Any] = {"command_id": draw(ids(64)), "actor": draw(names()),
                           "action": action}
    for arg in ACTIONS[action]:
        if arg.required or draw(st.booleans()):
            cmd[arg.name] = draw(_arg(arg.name, action))
    return cmd


@lru_cache(maxsize=None)
def commands() -> st.SearchStrategy[dict[str, Any]]:
    return _command()


@dataclass(frozen=True)
class Frame:
    raw: str | bytes
    expect: Expect


def frame(command: Any, text: bool = True) -> bytes | str:
    raw = write({"type": "command", "command": command})
    return raw.decode() if text else raw


def _pick(draw: st.DrawFn, cmd: dict[str, Any], names_: tuple[str, ...]) -> str | None:
    present = [k for k in names_ if k in cmd]
    return draw(st.sampled_from(present)) if present else None


# the mutations of a frame by class of mistake (see events.MUTATIONS)
HOWS = {"schema": ("unknown_field", "missing", "wrong_type", "too_long", "action",
                   "too_large", "malformed", "not_object", "type", "past", "everything"),
        "characters": ("empty", "taint"), "decode": ("deep", "duplicate")}
HOWS["all"] = tuple(h for hs in HOWS.values() for h in hs)


@st.composite
def _mutated(draw: st.DrawFn, group: str) -> Frame:
    cmd = draw(commands())
    args = tuple(a.name for a in ACTIONS[cmd["action"]])
    how = draw(st.sampled_from(HOWS[group]))
    spoil: dict[str, Any] = {}
    expect = refuse(why=how)
    if how == "unknown_field":
        key = draw(st.text(min_size=1, max_size=10).filter(
            lambda k: k not in args + ("command_id", "actor", "action", "at")))
        spoil, expect = {key: 1}, refuse("unknown_field", why=f"unknown field {key!r}")
    elif how == "missing":
        name = draw(st.sampled_from(("command_id", "actor", "action") + tuple(
            a.name for a in ACTIONS[cmd["action"]] if a.required)))
        cmd = {k: v for k, v in cmd.items() if k != name}
        spoil, expect = ({name: None} if draw(st.booleans()) else {}), \
            refuse("missing_field", why=f"missing {name}")
    elif how == "wrong_type":
        name = draw(st.sampled_from(("command_id", "actor", "action") + args))
        value = draw(_wrong_type(name))
        spoil, expect = {name: value}, refuse("wrong_type", why=f"wrong type of {name}")
    elif how in ("empty", "taint"):
        name = _pick(draw, cmd, ("command_id", "actor") + IDENTS) or "actor"
        if how == "empty":
            value = draw(blanks()) if name == "actor" else ""
            spoil, expect = {name: value}, refuse("empty", why=f"blank {name}")
        else:
            value = draw(tainted(names() if name == "actor" else ids(30)))
            spoil, expect = {name: value}, refuse(BAD_CHARACTERS, why=f"bad character in {name}")
    elif how == "too_long":
        name = _pick(draw, cmd, ("command_id", "actor") + IDENTS) or "actor"
        spoil, expect = {name: "x" * draw(st.integers(129, 1000))}, \
            refuse("too_long", why=f"{name} too long")
    elif how == "action":
        spoil = {"action": draw(st.text(max_size=12).filter(lambda a: a not in ACTIONS))}
        expect = refuse("unknown_action", why=f"action {spoil['action']!r}")
    elif how == "deep":
        name = draw(st.sampled_from(("command_id", "actor", "extra") + args))
        d: Deep = draw(deep(1000))
        spoil, expect = {name: d}, refuse(TOO_DEEP, why=f"{d} in {name}")
    elif how == "duplicate":
        k = draw(st.sampled_from(sorted(cmd)))
        pairs = tuple(cmd.items()) + ((k, cmd[k]),)
        return Frame(frame(Pairs(pairs)), refuse(DUPLICATE_KEY, why=f"{k} twice"))
    elif how == "too_large":
        raw = write({"type": "command", "command": {**cmd, "comment": "x" * MAX_MESSAGE_BYTES}})
        return Frame(raw, refuse("too_large", why=f"frame of {len(raw)} bytes"))
    elif how == "malformed":
        raw, why = draw(corrupt(write({"type": "command", "command": cmd})))
        return Frame(raw, refuse("malformed_json", why=why))
    elif how == "not_object":
        value = draw(json_non_objects())
        where = draw(st.booleans())
        return Frame(frame(value) if where else write(value).decode(),
                     refuse("not_object", why="command not an object" if where else
                            "frame not an object"))
    elif how == "type":
        t = draw(st.text(max_size=8).filter(lambda t: t != "command") | st.integers())
        return Frame(write({"type": t, "command": cmd}).decode(),
                     refuse("unknown_type", why=f"type {t!r}"))
    elif how == "past" and "ends_at" in args:   # past, unreadable, or years ahead
        when = draw(old_times(1000) | future_times(2 * YEAR_MS) | st.sampled_from(
            ("soon", "2025-06-01")))
        spoil = {"ends_at": when}
        expect = refuse("bad_value", "bad_time", OUT_OF_WINDOW, why=f"ends_at {when}")
    elif how == "everything" and "matchers" in args:
        spoil = {"matchers": [draw(st.sampled_from(('entity_id=~".*"', 'kind!="fire_alarm"',
                                                    'district=""')))]}
        expect = refuse(MATCHES_EVERYTHING, why=f"silence {spoil['matchers'][0]}")
    else:
        spoil, expect = {"extra": 1}, refuse("unknown_field", why="unknown field 'extra'")
    return Frame(frame({**cmd, **spoil}, draw(st.booleans())), expect)


@lru_cache(maxsize=None)
def frames(group: str = "all") -> st.SearchStrategy[Frame]:
    """Valid frames, and spoilt (or arbitrary) ones as ``group`` says."""
    valid = st.builds(lambda c, text: Frame(frame(c, text), ok()), commands(), st.booleans())
    arbitrary = st.builds(lambda raw: Frame(raw, either("arbitrary frame")),
                          st.binary(max_size=200) | st.text(max_size=200)
                          | json_values(10).map(lambda v: write(v).decode()))
    choices = [valid]
    if group in HOWS:
        choices.append(_mutated(group))
    if group in ("arbitrary", "all"):
        choices.append(arbitrary)
    return st.one_of(choices)


@lru_cache(maxsize=None)
def frame_cases(group: str = "all") -> st.SearchStrategy[tuple[Frame, ...]]:
    """What one client sends, frame after frame."""
    return st.lists(frames(group), min_size=1, max_size=6).map(tuple)


class _Sender:
    """The commands topic, as the server sees it (always up)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    async def send(self, key: str, value: bytes) -> None:
        self.sent.append((key, value))


async def _answer(frames_: tuple[Frame, ...], sender: _Sender) -> list[dict[str, Any]]:
    return [await submit(f.raw, sender, NOW_MS) for f in frames_]


def check_frames(case: tuple[Frame, ...]) -> Tally:
    tally, sender = Tally(), _Sender()
    replies: list[dict[str, Any]] = []
    for k, f in enumerate(case):
        where = f"frame {k}"
        before = len(sender.sent)
        got = tally.attempt(2, where, lambda: asyncio.run(_answer((f,), sender)))
        if not got.ran:
            continue
        (reply,) = got.value
        replies.append(reply)
        queued = reply.get("type") == "command_queued"
        sent = sender.sent[before:]
        if len(sent) != (1 if queued else 0):
            tally.add(BROKEN, where, f"answered {reply.get('type')}, sent {len(sent)}")
        elif queued:
            _resent_is_valid(tally, where, sent[0], reply)
        tally.judge(f.expect, where, accepted=queued, code=str(reply.get("code", "")),
                    note=str(reply.get("reason", "")))
    return tally


def _resent_is_valid(tally: Tally, where: str, sent: tuple[str, bytes],
                     reply: dict[str, Any]) -> None:
    """What went to the topic is a command the cockpit would take again, the same one."""
    key, value = sent
    try:
        cmd = orjson.loads(value)
        again = validate_command(cmd, NOW_MS)
    except Exception as exc:
        tally.add(BROKEN, where, f"the queued command does not validate again: {exc}")
        return
    if not key or again.command != cmd or cmd.get("command_id") != reply.get("command_id"):
        tally.add(BROKEN, where, f"queued {cmd!r:.200} under key {key!r}, "
                                 f"answered {reply!r:.200}")
