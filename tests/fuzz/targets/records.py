"""Operator commands (the ``commands`` topic's wire form) and dispatch records (the
``dispatch_events`` topic's ``{"stream", "event"}``) for the engine target: valid ones, and
mutations with the code the engine must refuse them with."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from hypothesis import strategies as st

from ..strategies import (BAD_TIMES, Deep, blanks, deep, free_text, ids, json_non_objects,
                          json_objects, names, old_times, tainted)
from ..verdict import Expect, either, refuse
from .alerts import OLD_MS, OUT_OF_WINDOW
from .events import BAD_CHARACTERS, EMPTY, TOO_DEEP, valid_events

MATCHES_EVERYTHING = "matches_everything"
BAD_DISPATCH = "bad_dispatch"
CALLS = (("ems", "call"), ("fire", "call"), ("fire", "incident"))
UNITS = (("ems", "unit_status"), ("fire", "engine_status"))


# -- commands ------------------------------------------------------------------------------
@st.composite
def _silence(draw: st.DrawFn) -> dict[str, Any]:
    entity = draw(ids(30))
    return {"action": "silence", "matchers": [f'entity_id="{entity}"'],
            "reason": draw(free_text(40, 1)), "ends_at": None,
            "until_resolved": draw(st.booleans())}


@lru_cache(maxsize=None)
def silences() -> st.SearchStrategy[dict[str, Any]]:
    return _silence()


COMMAND_HOWS = {"schema": ("reserved_actor", "action", "everything", "not_object"),
                "characters": ("taint_actor", "blank_actor"), "decode": ("deep",),
                "arbitrary": ("arbitrary",)}
COMMAND_HOWS["all"] = tuple(h for hs in COMMAND_HOWS.values() for h in hs)
DISPATCH_HOWS = {"schema": ("stream", "event", "time"), "characters": ("taint",),
                 "window": ("old",), "decode": ("deep",), "arbitrary": ("arbitrary",)}
DISPATCH_HOWS["all"] = tuple(h for hs in DISPATCH_HOWS.values() for h in hs)


@st.composite
def _command_mutation(draw: st.DrawFn, group: str) -> tuple[str, Any, Expect]:
    """(field, value, expect): the field of a valid command to spoil ("": replace it)."""
    how = draw(st.sampled_from(COMMAND_HOWS[group]))
    if how == "taint_actor":
        return "actor", draw(tainted(names())), refuse(BAD_CHARACTERS,
                                                       why="control/bidi character in actor")
    if how == "blank_actor":
        return "actor", draw(blanks()), refuse("missing_actor", EMPTY, why="blank actor")
    if how == "reserved_actor":
        actor = draw(st.sampled_from(("system", " system ")) | ids(10).map("detector:".__add__))
        return "actor", actor, refuse("reserved_actor", why=f"actor {actor!r}")
    if how == "action":
        action = draw(st.text(max_size=12) | st.integers() | st.none())
        return "action", action, refuse("unknown_action", why=f"action {action!r}")
    if how == "deep":
        d: Deep = draw(deep(1020))   # (see the note above alerts.OLD_MS)
        return draw(st.sampled_from(("comment", "reason", "extra", "matchers"))), d, \
            either(f"{d} in a command", TOO_DEEP, "bad_command", "silence_refused")
    if how == "everything":
        m = draw(st.sampled_from(('entity_id=~".*"', 'kind!="fire_alarm"', 'district=""',
                                  'severity!~"critical|major"')))
        return "matchers", [m], refuse(MATCHES_EVERYTHING, why=f"silence {m}")
    if how == "not_object":
        return "", draw(json_non_objects()), \
            refuse(why="command not an object")
    return "", draw(json_objects(6)), either()


@lru_cache(maxsize=None)
def command_mutations(group: str = "all") -> st.SearchStrategy[tuple[str, Any, Expect]]:
    return _command_mutation(group)


def spoil_command(cmd: dict[str, Any], field: str, value: Any) -> Any:
    if not field:
        return value
    if field in ("matchers", "reason") and cmd.get("action") != "silence":
        cmd = {"command_id": cmd["command_id"], "actor": cmd["actor"], "action": "silence",
               "matchers": ['kind="gas_leak"'], "reason": "drill"}   # (silences have these)
    return {**cmd, field: value}


# -- dispatch records ----------------------------------------------------------------------
@st.composite
def _dispatch_event(draw: st.DrawFn) -> tuple[str, dict[str, Any], bool]:
    """(stream, a valid call or unit event, whether it is a call)."""
    stream, type_ = draw(st.sampled_from(CALLS + UNITS))
    return stream, draw(valid_events(stream, type_)), (stream, type_) in CALLS


@lru_cache(maxsize=None)
def dispatch_events() -> st.SearchStrategy[tuple[str, dict[str, Any], bool]]:
    return _dispatch_event()


def dispatch_record(stream: str, event: dict[str, Any], serial: int) -> dict[str, Any]:
    """The record the worker forwards, with ids unique in the case."""
    return {"stream": stream, "event": {**event, "event_id": f"{event['event_id']}-{serial}",
                                        "entity_id": f"{event['entity_id']}-{serial}"}}


@st.composite
def _dispatch_mutation(draw: st.DrawFn, group: str) -> tuple[str, Any, Expect, bool]:
    """(where, value, expect, calls only): ``where`` is ``stream``/``event`` (the record's
    key), ``event.<name>`` (a field of the event), ``extra`` or "" (replace the record)."""
    how = draw(st.sampled_from(DISPATCH_HOWS[group]))
    if how == "stream":
        value = draw(st.sampled_from(("<drop>", None)) | st.integers() | st.lists(st.none()))
        return "stream", value, refuse(BAD_DISPATCH, why="stream not a string"), False
    if how == "event":
        value = draw(st.sampled_from(("<drop>", None)) | st.text(max_size=5) | st.integers())
        return "event", value, refuse(BAD_DISPATCH, why="event not an object"), False
    if how == "taint":
        f = draw(st.sampled_from(("event_id", "entity_id")))
        return f"event.{f}", draw(tainted()), refuse(BAD_CHARACTERS,
                                                     why=f"control/bidi character in {f}"), True
    if how == "time":
        return "event.event_time", draw(st.sampled_from(BAD_TIMES)), \
            refuse(BAD_DISPATCH, why="bad event_time of a call"), True
    if how == "old":
        t = draw(old_times(OLD_MS))
        return "event.event_time", t, refuse(OUT_OF_WINDOW, why=f"call of {t}"), True
    if how == "deep":
        d: Deep = draw(deep(1020))
        where = draw(st.sampled_from(("extra", "event.complaint", "event.extra")))
        return where, d, either(f"{d} in {where}", TOO_DEEP, BAD_DISPATCH), False
    return "", draw(json_objects(6)), either(), False


@lru_cache(maxsize=None)
def dispatch_mutations(group: str = "all") -> st.SearchStrategy[tuple[str, Any, Expect, bool]]:
    return _dispatch_mutation(group)


def spoil_record(rec: dict[str, Any], where: str, value: Any) -> Any:
    if not where:
        return value
    if where.startswith("event."):
        return {**rec, "event": {**rec["event"], where[6:]: value}}
    out = {k: v for k, v in rec.items() if k != where}
    if value != "<drop>":
        out[where] = value
    return out

