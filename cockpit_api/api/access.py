"""Who asks, and how much: ``Authorization: Bearer <token>`` and a rate per user.

The token is the one the websocket sign-in returns (the page keeps it in
``sessionStorage["citycc.token"]``) or ``citycc token NAME`` prints: verified like a
token sign-in (:func:`~cockpit_api.auth.tokens.verify_token`: HS256 pinned, expiry against
the injected clock), then checked against the users file now (a user removed, or given
another role, agency or districts since, is refused). Each user has a token bucket at the
commands' rate (``CITYCC_COMMAND_RATE_PER_S``, ``CITYCC_COMMAND_BURST``): one query is one
command's worth.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from websockets.http11 import Request

from ..auth.limits import TokenBucket
from ..auth.login import AuthRefused, Authenticator
from ..auth.roles import Principal
from ..auth.tokens import TokenError, TokenExpired, claims_match, verify_token
from .errors import rate_limited, unauthenticated, unavailable

MAX_USERS = 10_000   # buckets remembered (the oldest go first)


def bearer(request: Request) -> str:
    """The token of the request's one ``Authorization: Bearer`` header (401 otherwise)."""
    values = request.headers.get_all("Authorization")
    if not values:
        raise unauthenticated("unauthenticated", "需要登录：请求头缺少 Authorization: Bearer "
                              "<令牌>", "sign in first: send Authorization: Bearer <token> "
                              "(the token of the cockpit's sign-in)")
    scheme, _, token = values[0].strip().partition(" ")
    if len(values) != 1 or scheme.lower() != "bearer" or not token.strip():
        raise unauthenticated("bad_token", "Authorization 须为唯一的 Bearer <令牌>",
                              "Authorization must be one header 'Bearer <token>'")
    return token.strip()


@dataclass
class Access:
    """Checks tokens against ``auth`` and counts each user's requests."""

    auth: Authenticator
    rate_per_s: float
    burst: int
    monotonic: Callable[[], float] = time.monotonic
    _buckets: OrderedDict[str, TokenBucket] = field(default_factory=OrderedDict, repr=False)

    def principal(self, request: Request) -> Principal:
        """The signed-in user the request's token names, as the users file says now."""
        token = bearer(request)
        try:
            claims = verify_token(token, self.auth.secret, self.auth.clock())
        except TokenExpired:
            raise unauthenticated("expired", "登录已过期，请重新登录",
                                  "the token has expired: sign in again") from None
        except TokenError:
            raise unauthenticated("bad_token", "令牌无效，请重新登录",
                                  "the token is not valid: sign in again") from None
        try:
            user = self.auth.users().get(str(claims["sub"]))
        except AuthRefused:
            raise unavailable("users_file", "用户文件无法读取，请联系管理员",
                              "the cockpit's users file cannot be read; see its log") from None
        if user is None or not claims_match(claims, user.principal) or \
                not self.auth.current(user.principal):
            raise unauthenticated("user_changed", "该用户已被删除或变更，请重新登录",
                                  "the token's user was removed or changed since: sign in "
                                  "again")
        return user.principal

    def take(self, principal: Principal) -> None:
        """One request of ``principal`` (429 with ``Retry-After`` over its rate)."""
        bucket = self._buckets.pop(principal.user, None) or TokenBucket(self.rate_per_s,
                                                                         self.burst)
        self._buckets[principal.user] = bucket
        while len(self._buckets) > MAX_USERS:
            self._buckets.popitem(last=False)
        if not bucket.take(self.monotonic()):
            raise rate_limited(bucket.retry_after())
