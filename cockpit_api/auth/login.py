"""Signing in over the websocket: the client's first frame is its credentials.

``{"type": "login", "user": NAME, "password": PASSWORD}`` or ``{"type": "auth", "token":
TOKEN}`` (a token from an earlier sign-in, or from ``citycc token`` for a kiosk). The answer
is a :class:`Session` (its message carries a fresh token after a password) or an
:class:`AuthRefused` with code ``unauthenticated`` or ``rate_limited``. A connection gets one
attempt (it is closed after a refusal); failed passwords count per user name
(:class:`~cockpit_api.auth.limits.LoginThrottle`: a lockout, doubling). Not per address: behind
a TLS proxy every operator has the proxy's, and one guesser would lock out the whole hall. A
password is checked on a worker thread, at most ``concurrency`` at a time; a token needs no
throttle (its signature cannot be guessed).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cockpit_api.errors import CockpitError
from schemas.errors import ValidationError
from schemas.jsonin import decode
from schemas.validate import format_event_time

from .limits import LoginThrottle
from .passwords import verify_password
from .roles import Principal
from .tokens import TokenError, TokenExpired, claims_match, issue_token, verify_token
from .users import User, UserError, UserStore, check_name

log = logging.getLogger(__name__)

MAX_LOGIN_BYTES = 4096
DETAILS = ("no_sign_in", "no_users", "users_file", "bad_credentials", "locked", "bad_token",
           "expired", "user_changed", "too_many_connections")
NO_USERS = ("no users are configured on this cockpit: an administrator adds them with "
            "`citycc user add NAME --role ...`")


class AuthRefused(CockpitError):
    """A sign-in refused: ``code`` (unauthenticated, rate_limited), ``detail`` (which case,
    stable: the page says it in its language; :data:`DETAILS`), ``reason`` (in English;
    never the password or token)."""

    def __init__(self, code: str, detail: str, reason: str, user: str = "",
                 method: str = "") -> None:
        super().__init__(f"{reason} [{code}/{detail}]")
        self.code, self.detail, self.reason = code, detail, reason
        self.user, self.method = user, method

    def to_message(self) -> dict[str, Any]:
        return {"type": "auth_error", "code": self.code, "detail": self.detail,
                "reason": self.reason}


@dataclass(frozen=True)
class Session:
    principal: Principal
    token: str
    expires_s: int
    method: str          # "password" or "token"

    def to_message(self) -> dict[str, Any]:
        p = self.principal
        return {"type": "session", "token": self.token, "user": p.user,
                "display": p.display or p.user, "role": p.role, "agency": p.agency,
                "districts": list(p.districts), "actions": p.actions,
                "expires_at": format_event_time(self.expires_s * 1000)}


def parse_credentials(raw: str | bytes) -> dict[str, Any]:
    """The first frame as ``{"type": "login"|"auth", ...}``, else AuthRefused."""
    size = len(raw.encode("utf-8", "surrogatepass")) if isinstance(raw, str) else len(raw)
    if size > MAX_LOGIN_BYTES:
        raise AuthRefused("unauthenticated", "no_sign_in", f"a sign-in message has at most "
                                             f"{MAX_LOGIN_BYTES} bytes")
    try:
        msg = decode(raw, field="sign-in")   # the one door: depth, duplicate keys
    except ValidationError:
        msg = None
    kind = msg.get("type") if isinstance(msg, dict) else None
    if kind == "login" and isinstance(msg.get("user"), str) and \
            isinstance(msg.get("password"), str):
        return msg   # type: ignore[no-any-return]
    if kind == "auth" and isinstance(msg.get("token"), str):
        return msg   # type: ignore[no-any-return]
    raise AuthRefused("unauthenticated", "no_sign_in", 'sign in first: the first message is {"type": '
                      '"login", "user", "password"} or {"type": "auth", "token"}')


def _shown(name: str) -> str:
    """A tried user name as the audit trail records it: escaped unless it could be a user's
    (no control or bidi characters to mislead whoever reads the trail)."""
    try:
        return check_name(name)
    except UserError:
        return ascii(name)[:140]


class Authenticator:
    """Checks credentials against the users file and issues tokens."""

    def __init__(self, store: UserStore, secret: bytes, *, ttl_s: float,
                 throttle: LoginThrottle, clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic,
                 verify: Callable[[str | None, str], bool] = verify_password,
                 concurrency: int = 2) -> None:
        self.store, self.secret, self.ttl_s, self.throttle = store, secret, ttl_s, throttle
        self.clock, self.monotonic, self.verify = clock, monotonic, verify
        self._slots = asyncio.Semaphore(concurrency)

    def users(self) -> dict[str, User]:
        try:
            return self.store.users()
        except UserError as exc:
            log.error("cannot read the users file: %s", exc)
            raise AuthRefused("unauthenticated", "users_file",
                              "the cockpit's users file cannot be read; "
                                                 "see the cockpit log") from None

    async def sign_in(self, raw: str | bytes) -> Session:
        msg = parse_credentials(raw)
        if msg["type"] == "login":
            return await self._password(msg["user"], msg["password"])
        return self._token(msg["token"])

    def current(self, principal: Principal) -> bool:
        """The user still exists with the role, agency and districts it signed in with."""
        try:
            user = self.store.get(principal.user)
        except UserError:
            return False
        return user is not None and user.principal == principal

    def _check_locked(self, keys: list[str], user: str, method: str) -> None:
        now = self.monotonic()
        wait = max(self.throttle.locked_for(k, now) for k in keys)
        if wait > 0:
            raise AuthRefused("rate_limited", "locked", f"too many failed sign-ins: try "
                              f"again in {math.ceil(wait)} s", user, method)

    def _failed(self, keys: list[str], detail: str, reason: str, user: str, method: str
                ) -> AuthRefused:
        now = self.monotonic()
        for k in keys:
            self.throttle.fail(k, now)
        return AuthRefused("unauthenticated", detail, reason, user, method)

    async def _password(self, name: str, password: str) -> Session:
        name = name.strip()[:128]
        keys, shown = [f"user:{name}"], _shown(name)
        self._check_locked(keys, shown, "password")
        users = self.users()
        if not users:
            raise AuthRefused("unauthenticated", "no_users", NO_USERS, shown, "password")
        user = users.get(name)
        async with self._slots:
            ok = await asyncio.to_thread(self.verify, user.password_hash if user else None,
                                         password)
        if not ok or user is None:
            raise self._failed(keys, "bad_credentials", "unknown user or wrong password",
                               shown, "password")
        for k in keys:
            self.throttle.succeed(k)
        issued = issue_token(user.principal, self.secret, self.clock(), self.ttl_s)
        return Session(user.principal, issued.token, issued.expires_s, "password")

    def _token(self, token: str) -> Session:
        try:
            claims = verify_token(token, self.secret, self.clock())
        except TokenExpired as exc:
            raise AuthRefused("unauthenticated", "expired", str(exc), "", "token") from None
        except TokenError as exc:
            raise AuthRefused("unauthenticated", "bad_token", str(exc), "", "token") from None
        name = str(claims["sub"])
        user = self.users().get(name)
        if user is None or not claims_match(claims, user.principal):
            raise AuthRefused("unauthenticated", "user_changed", "the token's user was "
                              "removed or changed since it was issued: sign in again", name,
                              "token")
        return Session(user.principal, token, int(claims["exp"]), "token")
