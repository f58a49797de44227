"""The alerting agents' records, one at a time: decoded through ``schemas.jsonin`` and
applied to the engine record by record, so a record that cannot be taken costs only itself.

Pure (no Faust, no broker): the agents in :mod:`streams.alerting_agent` hand over the raw
values of a batch and get back the engine's :class:`~alerting.engine.Output` and the
records to dead-letter, by position, with a code. A record the engine refuses is
dead-lettered ``alerting_<code>``; one whose application raised anyway (a bug the engine
did not catch) is refused ``internal``, counted in the engine's ``internal_errors`` and
dead-lettered with its bytes like any other, and the records after it go on.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from alerting.engine import Output, Rejected
from alerting.intake import text_of
from schemas.errors import ValidationError
from schemas.jsonin import decode

log = logging.getLogger(__name__)
Apply = Callable[[list[dict[str, Any]], int], Output]


@dataclass(frozen=True)
class Refusal:
    """A record to dead-letter: its position in the batch and why."""

    index: int
    code: str
    field: str
    reason: str
    ident: str = ""   # the command or event id it named, if any


def decode_record(value: bytes | None) -> tuple[Any, Refusal | None]:
    """A record's JSON object, or (None, why not) with the index left 0."""
    try:
        obj = decode(value or b"")
    except ValidationError as exc:
        return None, Refusal(0, exc.code, exc.field, exc.reason)
    if not isinstance(obj, dict):   # (code as before: dead letters are counted by it)
        return None, Refusal(0, "malformed_json", "", f"not a JSON object but "
                                                      f"{type(obj).__name__}")
    return obj, None


def apply_records(apply: Apply, values: Sequence[bytes | None], now: int,
                  counters: dict[str, int], keep_undecodable: bool = True
                  ) -> tuple[Output, list[Refusal]]:
    """Alerts or dispatch records through ``apply`` (``Engine.alerts``/``dispatch``) one
    at a time. ``keep_undecodable``: dead-letter what is not a JSON object (False: count it
    as ``undecodable_alerts``; the alerts topic's sink dead-letters those)."""
    out, dead = Output(), []
    for i, value in enumerate(values):
        obj, why = decode_record(value)
        if why is not None:
            if keep_undecodable:
                dead.append(dataclasses.replace(why, index=i))
            else:
                counters["undecodable_alerts"] = counters.get("undecodable_alerts", 0) + 1
            continue
        try:
            res = apply([obj], now)
        except Exception as bug:  # noqa: BLE001 - a bug: this record only
            res = Output(rejected=[_internal(counters, text_of(obj, "alert_id") or
                                             text_of(obj.get("event"), "event_id"), bug)])
        for r in res.rejected:
            dead.append(Refusal(i, f"alerting_{r.code}", r.field, r.reason, r.command_id))
        res.rejected = []
        out.extend(res)
    return out, dead


def apply_commands(command: Callable[[Any, int], Output], values: Sequence[bytes | None],
                   now: int, counters: dict[str, int]) -> tuple[Output, list[Refusal]]:
    """Operator commands through ``command`` (``Engine.command``), one at a time. A
    refusal with a ``command_id`` stays in the Output (its sender is answered); one without
    (nobody to answer) and every ``internal`` one (a bug: kept for replay) are
    dead-lettered too."""
    out, dead = Output(), []
    for i, value in enumerate(values):
        cmd, why = decode_record(value)
        if why is not None:
            dead.append(dataclasses.replace(why, index=i))
            continue
        try:
            res = command(cmd, now)
        except Exception as bug:  # noqa: BLE001 - a bug: this command only
            res = Output(rejected=[_internal(counters, text_of(cmd, "command_id"), bug)])
        out.extend(res)
        kept = [r for r in res.rejected if not r.command_id or r.code == "internal"]
        if kept:
            dead.append(Refusal(i, kept[0].code, kept[0].field, kept[0].reason,
                                kept[0].command_id))
    return out, dead


def _internal(counters: dict[str, int], ident: str, bug: Exception) -> Rejected:
    log.error("alerting: applying a record failed", exc_info=bug)
    counters["internal_errors"] = counters.get("internal_errors", 0) + 1
    try:
        why = f"{type(bug).__name__}: {bug}"[:500]
    except Exception:  # noqa: BLE001 - an exception that cannot say what it is
        why = type(bug).__name__
    return Rejected(ident, "internal", "", why, 0)
