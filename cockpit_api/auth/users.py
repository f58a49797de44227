"""The users file: who may sign in to the cockpit, with which role, agency and districts.

A YAML file (``Settings.users_path``) written by ``citycc user add`` and read by the cockpit
at every sign-in (re-read when it changed, so a user added or removed counts at once)::

    users:
      张伟:
        role: supervisor
        display: 张伟
        agency: ""
        districts: []
        password: $argon2id$v=19$m=65536,t=3,p=4$...

Only argon2 hashes are stored (:mod:`cockpit_api.auth.passwords`); the file is written
0600, atomically. A name is the actor of its user's commands: never one the engine or a
detector acts under (``system``, ``detector:...``), no control or bidi characters.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from alerting.alert_model import DETECTOR_ACTOR, MAX_ACTOR, SYSTEM
from cockpit_api.errors import CockpitError
from schemas.chars import bad_character

from .roles import ADMIN, Principal, check_role

# C0/C1 controls, and the bidi marks, embeddings, overrides and isolates that make a name
# read differently from what it is (U+061C, U+200E/F, U+202A-E, U+2066-9)
MAX_DISPLAY = 64


class UserError(CockpitError, ValueError):
    """A user or users file that cannot be used; ``code`` is stable, ``str`` says why."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{reason} [{code}]")
        self.code, self.reason = code, reason


@dataclass(frozen=True)
class User:
    name: str
    role: str
    password_hash: str
    agency: str = ""
    districts: tuple[str, ...] = ()
    display: str = ""

    @property
    def principal(self) -> Principal:
        return Principal(self.name, self.role, self.agency, self.districts,
                         self.display or self.name)

    def to_yaml(self) -> dict[str, Any]:
        return {"role": self.role, "display": self.display, "agency": self.agency,
                "districts": list(self.districts), "password": self.password_hash}


def check_name(name: object, what: str = "user name") -> str:
    """A user name as the actor of commands: refused when reserved or unreadable."""
    if not isinstance(name, str):
        raise UserError("wrong_type", f"a {what} is text, not {type(name).__name__}")
    if not name.strip():
        raise UserError("empty", f"a {what} must not be blank")
    if len(name) > MAX_ACTOR:
        raise UserError("too_long", f"a {what} has at most {MAX_ACTOR} characters")
    if bad_character(name) is not None or name != name.strip():   # (schemas.chars)
        raise UserError("bad_characters", f"{what} {name!r} holds control or bidi "
                                          f"characters or surrounding spaces")
    if name == SYSTEM or name.startswith(DETECTOR_ACTOR):
        raise UserError("reserved_actor", f"{name!r} is a name the engine or a detector acts "
                                          f"under, not a user's")
    return name


def make_user(name: str, role: str, password_hash: str, agency: str = "",
              districts: tuple[str, ...] | list[str] = (), display: str = "") -> User:
    """A checked :class:`User` (UserError names what is wrong)."""
    check_name(name)
    try:
        check_role(role, agency)
    except ValueError as exc:
        raise UserError("bad_role", str(exc)) from None
    if not isinstance(password_hash, str) or not password_hash.startswith("$argon2"):
        raise UserError("bad_password", f"user {name!r}: the password is stored as an argon2 "
                                        f"hash only")
    if display:
        check_name(display, "display name")
        if len(display) > MAX_DISPLAY:
            raise UserError("too_long", f"a display name has at most {MAX_DISPLAY} characters")
    if isinstance(districts, str) or not all(isinstance(d, str) and d for d in districts):
        raise UserError("bad_districts", f"user {name!r}: districts are a list of codes")
    if role == ADMIN and districts:
        raise UserError("bad_districts", "an admin is not limited to districts")
    return User(name, role, password_hash, agency, tuple(dict.fromkeys(districts)), display)


def parse_users(data: object, where: str) -> dict[str, User]:
    """The ``users`` mapping of a loaded file -> users by name (UserError on anything odd)."""
    if data is None:
        return {}
    if not isinstance(data, Mapping) or not isinstance(data.get("users", {}), Mapping):
        raise UserError("bad_file", f"{where}: expected a mapping 'users: {{name: {{...}}}}'")
    out: dict[str, User] = {}
    for name, entry in (data.get("users") or {}).items():
        if not isinstance(entry, Mapping):
            raise UserError("bad_file", f"{where}: user {name!r} is not a mapping")
        unknown = set(entry) - {"role", "display", "agency", "districts", "password"}
        if unknown:
            raise UserError("bad_file", f"{where}: user {name!r}: unknown keys {sorted(unknown)}")
        try:
            out[str(name)] = make_user(name, entry.get("role", ""), entry.get("password", ""),
                                       entry.get("agency") or "", entry.get("districts") or [],
                                       entry.get("display") or "")
        except UserError as exc:
            raise UserError(exc.code, f"{where}: {exc.reason}") from None
    return out


def read_users(path: Path) -> dict[str, User]:
    """The users of ``path``; FileNotFoundError when there is none."""
    text = path.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UserError("bad_file", f"{path}: not YAML: {exc}") from None
    return parse_users(data, str(path))


def write_users(path: Path, users: Mapping[str, User]) -> None:
    """Write ``users`` to ``path`` (0600; a temporary file renamed over it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"users": {u.name: u.to_yaml() for u in users.values()}}
    text = ("# citycc cockpit users (`citycc user add|remove|list`); passwords are argon2 "
            "hashes\n" + yaml.safe_dump(body, allow_unicode=True, sort_keys=False))
    fd, tmp = tempfile.mkstemp(prefix=".users.", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class UserStore:
    """The users file as the cockpit reads it: re-read when its mtime or size changed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._users: dict[str, User] = {}

    def users(self) -> dict[str, User]:
        """Current users ({} without a file); UserError for a file that cannot be used."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            self._stamp, self._users = None, {}
            return {}
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp != self._stamp:
            self._users = read_users(self.path)
            self._stamp = stamp
        return self._users

    def get(self, name: str) -> User | None:
        return self.users().get(name)

