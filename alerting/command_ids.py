"""Operator commands applied, by ``command_id``: a resend is answered, not applied again (pure).

Why: the cockpit tells a client to resend a command it answered ``unavailable`` (the send
may still have landed), and a worker that crashed after its checkpoint but before it acked
its inputs reads commands again. An alert command was a no-op the second time (its id is
among the alert's recent causes), but ``add_note`` added the note twice, ``silence`` made a
second silence (its id comes from the time it is applied) and ``extend_silence`` recorded a
second change. So every command needs a ``command_id`` (without one it is refused,
``missing_field``) and the engine remembers the ids it applied: one seen again changes
nothing and is answered ok, as a duplicate. The same id with a different command is a
client's mistake, refused (``reused_command_id``) rather than silently dropped.

How long: a resend comes seconds or minutes after the first send (a client retrying on
``unavailable``, a worker's replay of its last batch), so ids are kept :data:`REMEMBER_MS`
(a day: a client that was offline overnight still resends safely) and at most
:data:`MAX_REMEMBERED` of them (about 1 MB of checkpoint: the memory is part of the engine's
checkpointed state, and a worker restart must not forget it), oldest first.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Mapping

import orjson

from alerting.alert_model import MAX_ID, CommandError
from schemas.records import stable_id

MAX_REMEMBERED = 20_000
REMEMBER_MS = 24 * 3_600_000
MISSING_FIELD, REUSED = "missing_field", "reused_command_id"
_NOT_CONTENT = ("at", "command_id")   # the cockpit stamps ``at`` anew on every send


def command_id(cmd: Mapping[str, Any]) -> str:
    """The command's ``command_id``, checked: a non-blank string of at most MAX_ID."""
    cid = cmd.get("command_id")
    if cid is None or (isinstance(cid, str) and not cid.strip()):
        raise CommandError(MISSING_FIELD, "every command needs a command_id (a client-made "
                           "id, e.g. a uuid: a resend with the same id is a no-op)",
                           "command_id")
    if not isinstance(cid, str) or len(cid) > MAX_ID:
        raise CommandError("bad_command", f"must be a string of at most {MAX_ID} "
                           "characters", "command_id")
    return cid


def content_digest(cmd: Mapping[str, Any]) -> str:
    """What the command asks (its fields but ``at`` and the id), as a short digest."""
    body = {str(k): v for k, v in cmd.items() if k not in _NOT_CONTENT}
    try:
        text = orjson.dumps(body, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:   # (not JSON: a caller's object; its repr is as good a witness)
        text = repr(sorted(body.items(), key=lambda kv: kv[0]))
    return stable_id("command", text)


class CommandIds:
    """The ids of applied commands with when and what (a digest), oldest first."""

    def __init__(self, max_remembered: int = MAX_REMEMBERED,
                 remember_ms: int = REMEMBER_MS) -> None:
        if max_remembered < 1 or remember_ms < 1:
            raise ValueError("CommandIds: max_remembered and remember_ms must be >= 1")
        self.max_remembered, self.remember_ms = max_remembered, remember_ms
        self._ids: OrderedDict[str, tuple[int, str]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._ids)

    def seen(self, cid: str, cmd: Mapping[str, Any]) -> bool:
        """Whether ``cid`` was applied (the same command: True; another: refused)."""
        held = self._ids.get(cid)
        if held is None:
            return False
        if held[1] != content_digest(cmd):
            raise CommandError(REUSED, "this command_id was used by another command; "
                                       "make a new id for a new command", "command_id")
        return True

    def remember(self, cid: str, cmd: Mapping[str, Any], now_ms: int) -> None:
        self._ids[cid] = (now_ms, content_digest(cmd))
        self._ids.move_to_end(cid)
        self._forget(now_ms)

    def _forget(self, now_ms: int) -> None:
        ids, oldest = self._ids, now_ms - self.remember_ms
        while ids and (len(ids) > self.max_remembered or next(iter(ids.values()))[0] < oldest):
            ids.popitem(last=False)

    def snapshot(self) -> dict[str, Any]:
        return {"version": 1, "ids": [[k, at, d] for k, (at, d) in self._ids.items()]}

    def restore(self, state: Mapping[str, Any] | None) -> None:
        """Inverse of :meth:`snapshot`; None or {} (a checkpoint from before the memory was
        kept) is an empty memory."""
        self._ids = OrderedDict()
        if not state:
            return
        if not isinstance(state, Mapping) or state.get("version") != 1:
            raise ValueError("CommandIds.restore: expected a version 1 snapshot")
        for cid, at, digest in state["ids"]:
            self._ids[str(cid)] = (int(at), str(digest))
