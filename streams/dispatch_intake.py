"""The dispatch board's inputs in the worker, one record at a time, in the engine's order.

Pure (no Faust, no broker), like :mod:`streams.alerting_intake`, which it wraps:

* ``dispatch_events`` records (``{"stream", "event"}``): every one goes to the board
  (``Board.observe``: calls, unit status and GPS, traffic segments and accidents); only
  those of :data:`alerting.incident_calls.DISPATCH_TYPES` go to the alerting engine too,
  exactly as before the board read this topic (the engine never sees a GPS report);
* the incident events the engine makes, whichever input or tick made them, go to
  ``Board.observe_incident`` right after the engine call that made them, before anything
  is awaited: the board sees them in the engine's order (:func:`follow_incidents`);
* operator commands: the dispatch actions (:data:`dispatch.board.ACTIONS`) go to
  ``Board.command``, every other one to the engine. A dispatch command is applied once per
  ``command_id`` (the engine's memory of applied ids, :mod:`alerting.command_ids`, one
  memory for every command) and answered on ``command_results`` like the engine's.

A board that raises on a record (a bug) costs that record only: it is dead-lettered
``dispatch_internal`` with its bytes (kept for replay) and counted in the engine's
``dispatch_internal_errors``; a command is also answered ``internal``.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Protocol, Sequence

from alerting.alert_model import CommandError
from alerting.command_ids import CommandIds, command_id
from alerting.engine import Output
from alerting.incident_calls import DISPATCH_TYPES
from streams.alerting_intake import Apply, Refusal, apply_records, decode_record

log = logging.getLogger(__name__)
Record = dict[str, Any]
INTERNAL = "dispatch_internal"
# what the input agents forward to ``dispatch_events`` besides DISPATCH_TYPES: the units'
# positions and the traffic the board's drive times follow
POSITION_TYPES = frozenset({("ems", "unit_gps"), ("fire", "engine_gps")})
TRAFFIC_TYPES = frozenset({("traffic", "segment"), ("traffic", "accident")})
BOARD_TYPES = DISPATCH_TYPES | POSITION_TYPES | TRAFFIC_TYPES


class CommandResult(Protocol):
    records: list[Record]
    code: str
    field: str
    reason: str


class Board(Protocol):
    """What the worker asks of :class:`dispatch.board.Board`."""

    def observe(self, stream: str, event: Mapping[str, Any]) -> list[Record]: ...

    def observe_incident(self, row: Mapping[str, Any]) -> list[Record]: ...

    def command(self, cmd: Mapping[str, Any], now_ms: int) -> CommandResult: ...

    def tick(self, now_ms: int) -> list[Record]: ...


@dataclass
class BoardOut:
    """What the board made of a batch: its records in order, and the answers to the
    dispatch commands (``command_results`` records)."""

    records: list[Record] = field(default_factory=list)
    answers: list[Record] = field(default_factory=list)


def forwarded(stream: str, event_type: Any) -> bool:
    """Whether an input agent forwards a validated event to ``dispatch_events``."""
    return (stream, event_type) in BOARD_TYPES


def _count(counters: dict[str, int], name: str) -> None:
    counters[name] = counters.get(name, 0) + 1


def guarded(counters: dict[str, int], what: str, call: Callable[[], list[Record]]
            ) -> tuple[list[Record], str]:
    """``call()``'s records, or ([], why) when it raised (a bug: counted, logged)."""
    try:
        return list(call()), ""
    except Exception as bug:  # noqa: BLE001 - a bug in the board: this input only
        log.error("dispatch: the board failed on %s", what, exc_info=bug)
        _count(counters, "dispatch_internal_errors")
        return [], f"{type(bug).__name__}: {bug}"[:500]


def follow_incidents(board: Board, out: Output, counters: dict[str, int]) -> list[Record]:
    """The board's records for the incident events in ``out`` (in their order)."""
    records: list[Record] = []
    for iev in out.incident_events:
        row = iev.to_row()
        made, _ = guarded(counters, f"incident event {row.get('event_id')}",
                          lambda: board.observe_incident(row))
        records += made
    return records


def route_dispatch_events(apply: Apply, board: Board, values: Sequence[bytes | None],
                          now: int, counters: dict[str, int]
                          ) -> tuple[Output, BoardOut, list[Refusal]]:
    """``dispatch_events`` records: each to the board, the engine's kinds to ``apply``
    (``Engine.dispatch``) too, and the incident events that made to the board."""
    out, board_out, dead = Output(), BoardOut(), []
    for i, value in enumerate(values):
        obj, why = decode_record(value)
        if why is not None:
            dead.append(dataclasses.replace(why, index=i))
            continue
        stream, event = obj.get("stream"), obj.get("event")
        if isinstance(stream, str) and isinstance(event, Mapping):
            made, bug = guarded(counters, f"{stream} {event.get('type')} "
                                f"{event.get('event_id')}", lambda: board.observe(stream, event))
            board_out.records += made
            if bug:
                dead.append(Refusal(i, INTERNAL, "", bug, str(event.get("event_id") or "")))
            if (stream, event.get("type")) not in DISPATCH_TYPES:
                continue   # the board's alone: positions, traffic
        # (a record that is not {"stream", "event"}: the engine refuses it, as before)
        res, refused = apply_records(apply, [value], now, counters)
        dead += [dataclasses.replace(r, index=i) for r in refused]
        board_out.records += follow_incidents(board, res, counters)
        out.extend(res)
    return out, board_out, dead


def route_commands(command: Callable[[Any, int], Output], board: Board, actions: Iterable[str],
                   command_ids: CommandIds, values: Sequence[bytes | None], now: int,
                   at: str, counters: dict[str, int]
                   ) -> tuple[Output, BoardOut, list[Refusal]]:
    """Operator commands: dispatch ``actions`` to the board, the others to ``command``
    (``Engine.command``, through :func:`streams.alerting_intake.apply_commands`' rules)
    and the incident events they made to the board. ``at``: the answers' time."""
    from streams.alerting_intake import apply_commands
    wanted = frozenset(actions)
    out, board_out, dead = Output(), BoardOut(), []
    for i, value in enumerate(values):
        cmd, why = decode_record(value)
        if why is None and cmd.get("action") in wanted:
            answer, records, bug = _board_command(board, command_ids, cmd, now, at, counters)
            board_out.records += records
            if answer is not None:
                board_out.answers.append(answer)
            if bug:
                dead.append(Refusal(i, INTERNAL, "", bug, str(cmd.get("command_id") or "")))
            elif answer is None:
                dead.append(Refusal(i, "missing_field", "command_id", "a dispatch command "
                                    "needs a command_id; nobody can be answered"))
            continue
        res, refused = apply_commands(command, [value], now, counters)
        dead += [dataclasses.replace(r, index=i) for r in refused]
        board_out.records += follow_incidents(board, res, counters)
        out.extend(res)
    return out, board_out, dead


def answer(cid: str, code: str, field_: str, reason: str, at: str,
           records: Sequence[Record] = (), duplicate: bool = False) -> Record:
    """A ``command_results`` record (the engine's form; ``events``: the record ids)."""
    return {"command_id": cid, "ok": not code, "code": code, "field": field_,
            "reason": reason, "events": [str(r.get("record_id", "")) for r in records],
            "at": at, "duplicate": duplicate}


def _board_command(board: Board, command_ids: CommandIds, cmd: dict[str, Any], now: int,
                   at: str, counters: dict[str, int]
                   ) -> tuple[Record | None, list[Record], str]:
    """(the answer or None: nobody to answer, the records, a bug's reason or "")."""
    try:
        cid = command_id(cmd)
        if command_ids.seen(cid, cmd):   # a resend: answered, not applied again
            return answer(cid, "", "", "", at, duplicate=True), [], ""
    except CommandError as refused:
        raw = cmd.get("command_id")
        if not isinstance(raw, str) or not raw.strip():
            return None, [], ""
        return answer(raw, refused.code, refused.field, refused.reason, at), [], ""
    try:
        res = board.command(cmd, now)
    except Exception as bug:  # noqa: BLE001 - a bug in the board: this command only
        log.error("dispatch: the board failed on command %s", cid, exc_info=bug)
        _count(counters, "dispatch_internal_errors")
        why = f"{type(bug).__name__}: {bug}"[:500]
        return answer(cid, "internal", "", why, at), [], why
    records = list(res.records)
    if not res.code:
        command_ids.remember(cid, cmd, now)
    return answer(cid, res.code, res.field, res.reason, at, records), records, ""


class BoardInputs:
    """The board's share of the alerting stage's work, synchronous and pure: each call
    comes right after the engine call it follows, before anything is awaited (the
    worker's :class:`streams.dispatch_agent.DispatchStage` and :mod:`replay.engine`)."""

    def __init__(self, board: Board, engine: Any, actions: Sequence[str]) -> None:
        self.board, self.engine, self.actions = board, engine, tuple(actions)

    def after(self, out: Output) -> BoardOut:
        """The board's records for the incident events the engine just made."""
        return BoardOut(follow_incidents(self.board, out, self.engine.counters))

    def events(self, apply: Apply, values: Sequence[bytes | None], now: int
               ) -> tuple[Output, BoardOut, list[Refusal]]:
        return route_dispatch_events(apply, self.board, values, now, self.engine.counters)

    def commands(self, values: Sequence[bytes | None], now: int, at: str
                 ) -> tuple[Output, BoardOut, list[Refusal]]:
        return route_commands(self.engine.command, self.board, self.actions,
                              self.engine.command_ids, values, now, at, self.engine.counters)

    def tick(self, out: Output, now: int) -> BoardOut:
        """The engine's tick's incident events, then the board's own tick."""
        made = self.after(out)
        ticked, _ = guarded(self.engine.counters, "tick", lambda: self.board.tick(now))
        made.records += ticked
        return made
