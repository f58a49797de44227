"""Password hashing with argon2id (argon2-cffi; RFC 9106's parameters, its defaults).

A verification costs about a third of a second and 64 MiB on purpose: the cockpit runs it on
a worker thread, never on its event loop (:mod:`cockpit_api.auth.login`). An unknown user is
checked against a dummy hash, so the answer takes as long as for a known one.
"""

from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_PASSWORD = 8
MAX_PASSWORD = 1024
HASHER = PasswordHasher()


def check_password(password: str) -> str:
    """ValueError for a password too short or too long to be taken."""
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise ValueError(f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    return password


def hash_password(password: str, hasher: PasswordHasher = HASHER) -> str:
    """The argon2id hash (with its salt and parameters) to store instead of ``password``."""
    return hasher.hash(check_password(password))


@lru_cache(maxsize=1)
def dummy_hash() -> str:
    return HASHER.hash("citycc: no such user, no such password")


def verify_password(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches the ``stored`` hash (None: an unknown user, always
    False after the same work). Blocking: call it off the event loop."""
    if not isinstance(password, str) or len(password) > MAX_PASSWORD:
        return False
    try:
        return HASHER.verify(stored if stored else dummy_hash(), password) and bool(stored)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
