"""Signed, expiring session tokens: JWTs (PyJWT), HS256 only, with the user's role.

A token names its user (``sub``), role, agency and districts, when it was issued (``iat``)
and until when it holds (``exp``), for this cockpit (``iss``/``aud``). The cockpit issues one
at every sign-in and ``citycc token NAME`` prints one for a kiosk screen; both sign with the
secret of :func:`load_secret`. Verifying pins the algorithm (a token saying ``none`` or
RS256 is refused), checks the signature, then the times against an injected ``now``
(PyJWT would read the clock itself). The claims are checked against the users file by the
caller: a user removed, or given another role since, has no valid token.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from cockpit_api.errors import CockpitError

from .roles import Principal

ALGORITHM = "HS256"
ISSUER = "citycc"
AUDIENCE = "citycc-cockpit"
SECRET_FILE = "auth-secret"
CLOCK_SKEW_S = 30     # an iat this far ahead of our clock is still taken (another host)
REQUIRED = ("sub", "role", "iat", "exp", "iss", "aud")


class TokenError(CockpitError):
    """A token that does not sign anyone in; ``str`` says why (never the token)."""


class TokenExpired(TokenError):
    """A token that was valid, until its ``exp``."""


@dataclass(frozen=True)
class Issued:
    token: str
    expires_s: int


def issue_token(principal: Principal, secret: bytes, now_s: float, ttl_s: float) -> Issued:
    """A token for ``principal`` valid from ``now_s`` for ``ttl_s`` seconds."""
    iat = int(now_s)
    exp = iat + max(1, int(ttl_s))
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": principal.user, "role": principal.role,
              "agency": principal.agency, "districts": list(principal.districts),
              "iat": iat, "exp": exp, "jti": secrets.token_hex(8)}
    return Issued(jwt.encode(claims, secret, algorithm=ALGORITHM), exp)


def verify_token(token: object, secret: bytes, now_s: float) -> dict[str, Any]:
    """The claims of a valid token, else :class:`TokenError`."""
    if not isinstance(token, str) or not token or len(token) > 4096:
        raise TokenError("a token is a non-empty string of at most 4096 characters")
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], audience=AUDIENCE,
                            issuer=ISSUER, options={"verify_exp": False, "verify_iat": False,
                                                    "verify_nbf": False,
                                                    "require": list(REQUIRED)})
    except jwt.PyJWTError as exc:
        raise TokenError(f"invalid token: {exc}") from None
    for k in ("iat", "exp"):
        if isinstance(claims[k], bool) or not isinstance(claims[k], (int, float)):
            raise TokenError(f"invalid token: {k!r} is not a time")
    if claims["exp"] <= now_s:
        raise TokenExpired("the token has expired: sign in again")
    if claims["iat"] > now_s + CLOCK_SKEW_S:
        raise TokenError("the token is issued in the future")
    return dict(claims)


def claims_match(claims: Mapping[str, Any], principal: Principal) -> bool:
    """The token says what the users file says now (else the user was changed since)."""
    return (claims.get("sub") == principal.user and claims.get("role") == principal.role
            and (claims.get("agency") or "") == principal.agency
            and list(claims.get("districts") or []) == list(principal.districts))


def load_secret(configured: str, run_dir: Path) -> bytes:
    """The signing secret: ``configured`` (CITYCC_AUTH_SECRET) if set, else the run
    directory's secret file, made on first use (32 random bytes, hex, mode 0600; two
    processes making it together agree on the one written first)."""
    if configured:
        return configured.encode()
    path = Path(run_dir) / SECRET_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
                f.flush()
                os.fsync(f.fileno())
            os.link(tmp, path)    # whole or not at all; the first one made wins
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    secret = path.read_text().strip()
    if len(secret) < 32:
        raise TokenError(f"{path}: the secret is too short (remove it to make a new one; "
                         f"every token signed with it stops working)")
    if path.stat().st_mode & 0o077:
        raise TokenError(f"{path}: others may read the signing secret; chmod 600 it")
    return secret.encode()
