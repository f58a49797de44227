"""``citycc user add|passwd|remove|list`` and ``citycc token``: the cockpit's users file and
kiosk tokens, and the demo users ``citycc run`` makes when there is no users file."""

from __future__ import annotations

import argparse
import getpass
import os
import re
import secrets
import sys
import time
from collections.abc import Callable
from pathlib import Path

from citycc.settings import Settings
from cockpit_api.auth.passwords import check_password, hash_password
from cockpit_api.auth.roles import AGENCIES, ROLES
from cockpit_api.auth.tokens import issue_token, load_secret
from cockpit_api.auth.users import User, UserError, make_user, read_users, write_users

DEMO_LOGINS = "demo-logins.txt"
# name, role, agency, display: one user of each role, a dispatcher of each agency
_DISPATCH = {"120": "120 调度员", "119": "119 调度员", "traffic_police": "交警调度员",
             "hazmat": "危化品调度员", "utilities": "生命线调度员"}
DEMO_USERS = (("supervisor", "supervisor", "", "值班长"), ("viewer", "viewer", "", "大屏"),
              ("admin", "admin", "", "系统管理员"),
              *((f"dispatcher-{a}", "dispatcher", a, _DISPATCH.get(a, a)) for a in AGENCIES))
_TTL = re.compile(r"^(\d+(?:\.\d+)?)([smhd]?)$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_ttl(text: str) -> float:
    """``3600``, ``90m``, ``12h``, ``30d`` -> seconds (ValueError otherwise)."""
    m = _TTL.match(text.strip())
    if not m or float(m.group(1)) <= 0:
        raise ValueError(f"{text!r}: a duration is a positive number with s, m, h or d")
    return float(m.group(1)) * _UNITS[m.group(2)]


def _users(settings: Settings) -> dict[str, User]:
    try:
        return read_users(settings.users_path)
    except FileNotFoundError:
        return {}


def _password(args: argparse.Namespace) -> str:
    """From stdin when it is not a terminal (one line), else asked twice."""
    if not sys.stdin.isatty():
        return check_password(sys.stdin.readline().rstrip("\r\n"))
    first = getpass.getpass(f"password for {args.name}: ")
    if getpass.getpass("again: ") != first:
        raise ValueError("the two passwords differ")
    return check_password(first)


def _districts(settings: Settings, codes: list[str]) -> tuple[str, ...]:
    from city.profile import load_profile
    known = {d.code for d in load_profile(settings.city).districts}
    unknown = [c for c in codes if c not in known]
    if unknown:
        raise ValueError(f"unknown districts {unknown}; {settings.city}'s are {sorted(known)}")
    return tuple(codes)


def user_cmd(settings: Settings, args: argparse.Namespace) -> int:
    try:
        return _user(settings, args)
    except (UserError, ValueError) as exc:
        print(f"citycc: {exc}", file=sys.stderr)
        return 2


def _user(settings: Settings, args: argparse.Namespace) -> int:
    path, users = settings.users_path, _users(settings)
    if args.action == "list":
        for u in users.values():
            where = ",".join(u.districts) or "whole city"
            print(f"{u.name}\t{u.role}\t{u.agency or '-'}\t{where}\t{u.display}")
        return 0
    if not args.name:
        raise ValueError(f"citycc user {args.action} needs a NAME")
    if args.action == "remove":
        if users.pop(args.name, None) is None:
            raise ValueError(f"no user {args.name!r} in {path}")
        write_users(path, users)
        print(f"removed {args.name}; its tokens no longer sign in")
        return 0
    old = users.get(args.name)
    if args.action == "add":
        if old is not None:
            raise ValueError(f"user {args.name!r} exists; `citycc user passwd` sets its "
                             f"password, `remove` then `add` changes its role")
        if not args.role:
            raise ValueError(f"--role is required: one of {list(ROLES)}")
        # checked before the password is asked (its hash is made below)
        user = make_user(args.name, args.role, "$argon2-pending", args.agency or "",
                         _districts(settings, args.district or []), args.display or "")
    elif old is None:
        raise ValueError(f"no user {args.name!r} in {path}")
    else:
        user = old
    user = make_user(user.name, user.role, hash_password(_password(args)), user.agency,
                     user.districts, user.display)
    users[user.name] = user
    write_users(path, users)
    print(f"{'added' if args.action == 'add' else 'password set for'} {user.name} "
          f"({user.role}{' ' + user.agency if user.agency else ''}) in {path}")
    return 0


def token_cmd(settings: Settings, args: argparse.Namespace) -> int:
    """Print a signed token for ``NAME`` (e.g. a big screen's kiosk URL)."""
    try:
        ttl = parse_ttl(args.ttl) if args.ttl else settings.token_ttl_s
        user = _users(settings).get(args.name)
        if user is None:
            raise ValueError(f"no user {args.name!r} in {settings.users_path}")
    except (UserError, ValueError) as exc:
        print(f"citycc: {exc}", file=sys.stderr)
        return 2
    issued = issue_token(user.principal, load_secret(settings.auth_secret, settings.run_dir),
                         time.time(), ttl)
    print(issued.token)
    return 0


Command = Callable[[Settings, argparse.Namespace], int]


def add_parsers(add: Callable[[str, Command, str], argparse.ArgumentParser]) -> None:
    """The ``user`` and ``token`` subcommands (``add(name, fn, help)`` from citycc.cli)."""
    sp = add("user", user_cmd, "the cockpit's users: add, passwd, remove, list "
             "(passwords are read from stdin or asked; only argon2 hashes are stored)")
    sp.add_argument("action", choices=["add", "passwd", "remove", "list"])
    sp.add_argument("name", nargs="?")
    sp.add_argument("--role", choices=ROLES)
    sp.add_argument("--agency", choices=list(AGENCIES), help="a dispatcher's agency")
    sp.add_argument("--district", action="append", metavar="CODE",
                    help="limit the user to a district (repeat; none: the whole city)")
    sp.add_argument("--display", help="the name the page shows (default: NAME)")
    sp = add("token", token_cmd, "print a signed token for a user (a kiosk big screen)")
    sp.add_argument("name")
    sp.add_argument("--ttl", help="how long it holds: 3600, 90m, 12h, 30d "
                                  "(default CITYCC_TOKEN_TTL_S)")


def ensure_demo_users(settings: Settings) -> str:
    """For ``citycc run``: without a users file, make one with a user per role (random
    passwords, hashed; the passwords written once to ``<run_dir>/demo-logins.txt``, 0600).
    Returns the line telling how to sign in."""
    path, logins = settings.users_path, Path(settings.run_dir) / DEMO_LOGINS
    if not path.exists():
        users, lines = {}, []
        for name, role, agency, display in DEMO_USERS:
            password = secrets.token_urlsafe(12)
            users[name] = make_user(name, role, hash_password(password), agency, (), display)
            lines.append(f"{name}\t{password}\t{role}{' ' + agency if agency else ''}\n")
        write_users(path, users)
        logins.parent.mkdir(parents=True, exist_ok=True)
        logins.unlink(missing_ok=True)   # (made anew: 0600 whatever the old one was)
        fd = os.open(logins, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("# citycc demo logins (user, password, role): made once with "
                    f"{path.name}; delete both to get new ones\n" + "".join(lines))
    try:
        first = next(line.split("\t") for line in logins.read_text().splitlines()
                     if line and not line.startswith("#"))
        if first[0] in read_users(path):   # (not a stale file of an earlier users file)
            return f"{first[0]} / {first[1]}   (every demo login: {logins})"
    except (OSError, StopIteration, IndexError, UserError):
        pass
    return f"a user of {path} (add one: citycc user add NAME --role supervisor)"
