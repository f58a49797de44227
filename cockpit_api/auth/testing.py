"""For tests: users files made fast, and a websocket client signed in as the page is.

The hashes here are argon2id with the cheapest parameters (a millisecond, not a third of a
second): the cockpit verifies whatever parameters a hash names. ``citycc user add`` always
writes RFC 9106's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
from argon2 import PasswordHasher
from websockets.asyncio.client import ClientConnection, connect

from .passwords import hash_password
from .users import make_user, write_users

PASSWORD = "correct horse battery"
FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)

# name -> (role, agency, districts): one user of each kind
STAFF: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "张伟": ("supervisor", "", ()),
    "大屏": ("viewer", "", ()),
    "急救调度": ("dispatcher", "120", ()),
    "消防调度": ("dispatcher", "119", ()),
    "芙蓉值班长": ("supervisor", "", ("furong",)),
    "管理员": ("admin", "", ()),
}


def write_test_users(path: Path, users: dict[str, tuple[str, str, tuple[str, ...]]] | None
                     = None, password: str = PASSWORD) -> Path:
    """A users file at ``path`` holding ``users`` (default :data:`STAFF`), all with
    ``password``."""
    hashed = hash_password(password, FAST)
    write_users(path, {name: make_user(name, role, hashed, agency, districts)
                       for name, (role, agency, districts) in (users or STAFF).items()})
    return path


def origin(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def login_frame(user: str = "张伟", password: str = PASSWORD) -> str:
    return orjson.dumps({"type": "login", "user": user, "password": password}).decode()


async def sign_in(ws: ClientConnection, user: str, password: str = PASSWORD
                  ) -> dict[str, Any]:
    """Send the login frame; the server's answer (``session`` or ``auth_error``)."""
    await ws.send(login_frame(user, password))
    answer: dict[str, Any] = orjson.loads(await ws.recv())
    return answer


@asynccontextmanager
async def signed_in(port: int, user: str = "张伟", password: str = PASSWORD,
                    headers: Iterable[tuple[str, str]] = ()) -> AsyncIterator[ClientConnection]:
    """A websocket to the cockpit on ``port`` (from its own origin), signed in as ``user``."""
    async with connect(f"ws://127.0.0.1:{port}/ws", origin=origin(port),  # type: ignore[arg-type]
                       additional_headers=list(headers)) as ws:
        answer = await sign_in(ws, user, password)
        if answer.get("type") != "session":
            raise AssertionError(f"sign-in as {user!r} refused: {answer}")
        yield ws
