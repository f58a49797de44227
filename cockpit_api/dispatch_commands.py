"""The dispatch board's actions at the cockpit's door (pure): declared once in
:mod:`dispatch.actions` (names, arguments, which are required), checked here with this
door's checks of each kind of argument, then by the board's own
:func:`~dispatch.actions.check_args` (the same codes the board answers with)."""

from __future__ import annotations

from typing import Any

from dispatch.actions import ACTIONS as BOARD_ACTIONS
from dispatch.actions import MAX_REASON, MAX_UNITS, ActionError, check_args
from dispatch.status import BASE_STATUSES

from .command_args import Arg, choice, ident, list_of, text
from .errors import CommandRejected


def unit_ids(v: Any, now_ms: int = 0) -> list[str]:
    """Unit ids, each once (an empty list is fine: an edit may only add or only remove)."""
    if v == []:
        return []
    return list(dict.fromkeys(list_of(v, MAX_UNITS, ident, now_ms)))


def dispatch_actions() -> dict[str, tuple[Arg, ...]]:
    """The dispatch board's actions, as declared once in :data:`dispatch.actions.ACTIONS`
    (names, arguments, which are required), with this door's checks of each kind of
    argument (and a unit status one of the APCO statuses); the board's own
    :func:`~dispatch.actions.check_args` runs after them (:func:`board_check`)."""
    out: dict[str, tuple[Arg, ...]] = {}
    for action in BOARD_ACTIONS.values():
        args = []
        for a in action.args:
            if a.kind == "ids":
                args.append(Arg(a.name, unit_ids, a.required, [], not a.required))
            elif a.kind == "text":
                args.append(Arg(a.name, text(MAX_REASON, a.required), a.required))
            else:
                args.append(Arg(a.name, choice(*BASE_STATUSES) if a.name == "status" else ident,
                                a.required))
        out[action.name] = tuple(args)
    return out


def board_check(command: dict[str, Any], echo: str | None) -> None:
    """The board's own check of a dispatch command's arguments, after this door's: a
    safety net (the door's checks are at least as strict; a refusal here keeps the board's
    code)."""
    try:
        check_args(command)
    except ActionError as exc:
        raise CommandRejected(exc.code, exc.field, exc.reason, echo) from None


def check_edit(command: dict[str, Any], echo: str | None) -> None:
    """An edit adds or removes at least one unit, and never the same one both ways."""
    if not command["add"] and not command["remove"]:
        raise CommandRejected("empty", "add", "an edit adds or removes at least one unit",
                              echo)
    both = set(command["add"]) & set(command["remove"])
    if both:
        raise CommandRejected("bad_value", "remove", f"added and removed at once: "
                              f"{sorted(both)[:5]}", echo)
