"""One websocket client, from its sign-in to its close.

1. Its first frame signs it in (:mod:`cockpit_api.auth.login`) within ``login_timeout_s``;
   until then it is sent nothing. Refused: an ``auth_error`` and a close (1008).
2. It is sent its ``session`` (token, user, role, agency, districts, actions, expiry), then
   the snapshot and the live messages its audience may see (:mod:`cockpit_api.visibility`).
   The sign-in may carry where the client left off (``resume``/``epoch``) and its
   subscription (``layers``/``districts``): :mod:`cockpit_api.protocol`.
3. A ``subscribe`` frame changes its subscription, a ``snapshot`` frame asks for a fresh
   snapshot (:mod:`cockpit_api.protocol`); not audited: they change only what it is sent.
   A ``replay`` frame plays, pauses, seeks or stops a replay cockpit's session
   (:mod:`cockpit_api.replay.controls`; any signed-in role); the live cockpit refuses it
   (``not_replay``).
   Every other frame is a command given by the signed-in user: limited to a rate (a token bucket;
   over it: ``rate_limited``, and closed after ``flood_refusals`` refusals in a row),
   refused ``unauthenticated`` once the user was removed or changed, checked
   (:mod:`cockpit_api.authorize`), forwarded to the commands topic.
4. It is closed when its session expires or its user is removed or changed.

Every sign-in and every command, forwarded or refused, is an audit record.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode

from schemas.errors import ValidationError
from schemas.jsonin import decode

from .audit import AuditTrail, audit_record
from .auth.limits import ConnectionCap, TokenBucket
from .auth.login import AuthRefused, Authenticator, Session, parse_credentials
from .authorize import HubBoard, authorize
from .command_sink import CommandSender, Outcome, forward
from .commands import KEY_FIELDS, MAX_MESSAGE_BYTES
from .errors import CommandRejected
from .hub import AlertHub, Subscription
from .protocol import Interest, parse_interest
from .replay.controls import TYPE as REPLAY, parse_control, refuse_live

log = logging.getLogger(__name__)

CLOSE_GRACE_S = 2.0


@dataclass(frozen=True)
class Limits:
    login_timeout_s: float = 5.0
    command_rate_per_s: float = 10.0
    command_burst: int = 30
    flood_refusals: int = 60


@dataclass
class Cockpit:
    """What every client handler shares."""

    hub: AlertHub
    sender: CommandSender
    auth: Authenticator
    audit: AuditTrail
    cap: ConnectionCap
    limits: Limits
    replay: Any = None   # a replay cockpit's session (cockpit_api.replay.channel); live: None


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def _peek(raw: str | bytes) -> dict[str, str]:
    """The action, id and target a frame names, for the audit record of a refused one."""
    try:
        msg = decode(raw) if len(raw) <= MAX_MESSAGE_BYTES else None
    except ValidationError:
        msg = None
    cmd = msg.get("command") if isinstance(msg, dict) else None
    if not isinstance(cmd, dict):
        return {"action": "", "command_id": "", "target": ""}
    text = {k: v[:128] for k, v in cmd.items() if isinstance(v, str)}
    return {"action": text.get("action", ""), "command_id": text.get("command_id", ""),
            "target": next((text[k] for k in KEY_FIELDS if k in text), "")}


def _target(command: dict[str, Any]) -> str:
    key = next((command[k] for k in KEY_FIELDS if k in command), None)
    if key is not None:
        return str(key)
    return ", ".join(command.get("matchers") or [])


class ClientSession:
    """The handler's state for one connection."""

    def __init__(self, cockpit: Cockpit, connection: ServerConnection) -> None:
        self.c, self.connection = cockpit, connection
        address = connection.remote_address
        self.remote = str(address[0]) if isinstance(address, tuple) and address else ""
        self.id = uuid.uuid4().hex[:12]
        self.session: Session | None = None
        self.first: dict[str, Any] = {}   # the sign-in message (resume, subscription)

    def audit(self, **fields: Any) -> None:
        p = self.session.principal if self.session is not None else None
        who = {"user": p.user, "role": p.role, "agency": p.agency, "districts": p.districts} \
            if p is not None else {"user": fields.pop("user", ""), "role": ""}
        self.c.audit.record(audit_record(at_ms=now_ms(), remote=self.remote, session=self.id,
                                         **who, **fields))

    async def close(self, code: CloseCode, reason: str) -> None:
        try:
            async with asyncio.timeout(CLOSE_GRACE_S):
                await self.connection.close(code, reason)
        except TimeoutError:
            self.connection.transport.abort()

    async def sign_in(self) -> Session | None:
        """The session of the client's first frame, or None (refused, told, closed)."""
        timed_out = False
        try:
            async with asyncio.timeout(self.c.limits.login_timeout_s):
                raw = await self.connection.recv()
        except TimeoutError:
            timed_out = True
            refused = AuthRefused("unauthenticated", "no_sign_in", f"no sign-in within "
                                  f"{self.c.limits.login_timeout_s:g} s")
        except ConnectionClosed:
            return None
        else:
            try:
                session = await self.c.auth.sign_in(raw)
            except AuthRefused as exc:
                refused = exc
            else:
                if self.c.cap.add_user(session.principal.user):
                    self.first = parse_credentials(raw)
                    return session
                refused = AuthRefused("rate_limited", "too_many_connections", "too many "
                                      "open connections for this user: close one first",
                                      session.principal.user, session.method)
        self.audit(user=refused.user, action="login", target=refused.method,
                   result="refused", code=refused.code, field=refused.detail,
                   reason=refused.reason)
        if not timed_out:   # (a client that said nothing is told nothing)
            with contextlib.suppress(ConnectionClosed):
                await self.connection.send(orjson.dumps(refused.to_message()).decode())
        await self.close(CloseCode.TRY_AGAIN_LATER if refused.code == "rate_limited"
                         else CloseCode.POLICY_VIOLATION, refused.code)
        return None

    async def commands(self, sub: Subscription) -> str:
        """Answer the client's commands until it goes; the reason to close it, if any."""
        assert self.session is not None
        principal, lim = self.session.principal, self.c.limits
        bucket = TokenBucket(lim.command_rate_per_s, lim.command_burst)
        board, in_row = HubBoard(self.c.hub), 0

        def check(command: dict[str, Any]) -> None:
            authorize(principal, command, board)
            self.c.hub.visibility.note_sender(command["command_id"], principal.user)

        async for raw in self.connection:
            if not self.c.auth.current(principal):
                self.c.hub.reply(sub, CommandRejected(
                    "unauthenticated", "", "your user was removed or changed: sign in again",
                    _peek(raw)["command_id"] or None).to_message())
                self._audit_refused(raw, "unauthenticated", "user removed or changed")
                return "unauthenticated"
            if not bucket.take(time.monotonic()):
                in_row += 1
                why = (f"more than {lim.command_rate_per_s:g} commands a second: slow down "
                       f"(next in {bucket.retry_after():.1f} s)")
                self.c.hub.reply(sub, CommandRejected("rate_limited", "", why,
                                                      _peek(raw)["command_id"] or None
                                                      ).to_message())
                self._audit_refused(raw, "rate_limited", why)
                if in_row >= lim.flood_refusals:
                    return "rate_limited"
                continue
            in_row = 0
            control = _control(raw)
            if control is not None:   # subscribe, snapshot, replay: not commands, not audited
                self._control(sub, control)
                continue
            outcome = await forward(raw, self.c.sender, now_ms(), actor=principal.user,
                                    check=check)
            self.c.hub.reply(sub, outcome.reply)
            self._audit_outcome(raw, outcome)
        return ""

    def interest(self, msg: dict[str, Any]) -> Interest:
        """The subscription ``msg`` asks for, or CommandRejected."""
        districts = self.c.hub.places.get("districts") or {}
        return parse_interest(msg, districts)

    def _control(self, sub: Subscription, msg: dict[str, Any]) -> None:
        if msg["type"] == REPLAY:
            try:
                if self.c.replay is None:
                    raise refuse_live(msg)
                self.c.replay.control(parse_control(msg))
            except CommandRejected as exc:
                self.c.hub.reply(sub, exc.to_message())
            return
        if msg["type"] == "snapshot":
            self.c.hub.resnapshot(sub)
            return
        try:
            interest = self.interest(msg)
        except CommandRejected as exc:
            self.c.hub.reply(sub, exc.to_message())
            return
        self.c.hub.resnapshot(sub, interest)

    def _audit_refused(self, raw: str | bytes, code: str, reason: str) -> None:
        seen = _peek(raw)
        self.audit(action=seen["action"], target=seen["target"],
                   command_id=seen["command_id"], result="refused", code=code, reason=reason,
                   command=raw if isinstance(raw, str) else raw.decode("utf-8", "replace"))

    def _audit_outcome(self, raw: str | bytes, outcome: Outcome) -> None:
        reply = outcome.reply
        refused = reply["type"] == "command_error"
        # unavailable: not confirmed by the broker (it may still land: the worker's answer,
        # if any, is in the table too)
        result = ("unconfirmed" if reply.get("code") == "unavailable" else "refused") \
            if refused else "forwarded"
        fields = {"result": result,
                  "code": reply.get("code", "") if refused else "",
                  "field": reply.get("field", "") if refused else "",
                  "reason": reply.get("reason", "") if refused else ""}
        if outcome.command is None:
            seen = _peek(raw)
            self.audit(action=seen["action"], target=seen["target"],
                       command_id=seen["command_id"], **fields,
                       command=raw if isinstance(raw, str) else raw.decode("utf-8", "replace"))
            return
        cmd = outcome.command.command
        self.audit(action=cmd["action"], target=_target(cmd), command_id=cmd["command_id"],
                   command=cmd, **fields)


def _control(raw: str | bytes) -> dict[str, Any] | None:
    """A ``subscribe``, ``snapshot`` or ``replay`` frame (:mod:`cockpit_api.protocol`), else
    None (a command, or something the command checks refuse)."""
    if len(raw) > MAX_MESSAGE_BYTES:
        return None
    try:
        msg = decode(raw)
    except ValidationError:
        return None
    if isinstance(msg, dict) and msg.get("type") in ("subscribe", "snapshot", REPLAY):
        return msg
    return None
