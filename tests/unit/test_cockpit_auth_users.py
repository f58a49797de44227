"""The users file: names that can be actors, roles and agencies, only hashes stored, re-read
when changed; the citycc user/token commands and citycc run's demo users."""

from __future__ import annotations

import io
import os
import stat
import time
from pathlib import Path

import pytest
import yaml

from citycc import accounts
from citycc.cli import main
from cockpit_api.auth.passwords import verify_password
from cockpit_api.auth.testing import FAST
from cockpit_api.auth.tokens import load_secret, verify_token
from cockpit_api.auth.users import (UserError, UserStore, check_name, make_user, read_users,
                                    write_users)

HASH = FAST.hash("correct horse battery")

NAMES = [
    ("张伟", None), ("dispatcher-120", None), ("O'Brien", None),
    ("system", "reserved_actor"), ("detector:limit", "reserved_actor"),
    ("", "empty"), ("   ", "empty"), (" 张伟", "bad_characters"), ("张伟 ", "bad_characters"),
    ("a\x00b", "bad_characters"), ("a\nb", "bad_characters"), ("a\x85b", "bad_characters"),
    ("admin\u202egnp.exe", "bad_characters"), ("\u2066x\u2069", "bad_characters"),
    ("x\u200fy", "bad_characters"), ("a" * 129, "too_long"), (42, "wrong_type"),
]


@pytest.mark.parametrize("name,code", NAMES, ids=[repr(n)[:20] for n, _ in NAMES])
def test_a_user_name_must_be_a_readable_operator_name(name: object, code: str | None) -> None:
    if code is None:
        assert check_name(name) == name
        return
    with pytest.raises(UserError) as err:
        check_name(name)
    assert err.value.code == code


ROLE_CASES = [
    ("viewer", "", (), None), ("supervisor", "", ("furong",), None),
    ("dispatcher", "120", (), None), ("dispatcher", "utilities", ("kaifu", "yuelu"), None),
    ("dispatcher", "", (), "bad_role"), ("dispatcher", "110", (), "bad_role"),
    ("viewer", "120", (), "bad_role"), ("root", "", (), "bad_role"),
    ("admin", "", ("furong",), "bad_districts"),
]


@pytest.mark.parametrize("role,agency,districts,code", ROLE_CASES)
def test_roles_agencies_and_districts(role: str, agency: str, districts: tuple[str, ...],
                                      code: str | None) -> None:
    if code is None:
        user = make_user("u", role, HASH, agency, districts)
        assert (user.principal.role, user.principal.agency, user.principal.districts) == \
            (role, agency, districts)
        return
    with pytest.raises(UserError) as err:
        make_user("u", role, HASH, agency, districts)
    assert err.value.code == code


def test_only_an_argon2_hash_is_a_password() -> None:
    with pytest.raises(UserError) as err:
        make_user("u", "viewer", "plain-text-password")
    assert err.value.code == "bad_password"


def test_the_file_round_trips_private_and_is_reread_when_changed(tmp_path: Path) -> None:
    path = tmp_path / "users.yaml"
    store = UserStore(path)
    assert store.users() == {}                                 # no file: nobody
    write_users(path, {"张伟": make_user("张伟", "supervisor", HASH, display="张伟")})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert list(store.users()) == ["张伟"]
    users = read_users(path)
    users["李娜"] = make_user("李娜", "dispatcher", HASH, "119")
    write_users(path, users)
    os.utime(path, ns=(time.time_ns() + 10**9,) * 2)        # (a later mtime, whatever the fs)
    assert store.get("李娜") is not None and store.get("李娜").agency == "119"
    path.unlink()
    assert store.get("张伟") is None


@pytest.mark.parametrize("text,code", [
    ("users: [1, 2]", "bad_file"), ("users:\n  system: {role: viewer, password: x}",
                                    "reserved_actor"),
    ("users:\n  a: {role: viewer, password: '$argon2id$x', shell: /bin/sh}", "bad_file"),
    ("users: {a: {role: viewer, password: '$argon2id$x'", "bad_file"),
])
def test_a_bad_users_file_is_refused_by_name(tmp_path: Path, text: str, code: str) -> None:
    path = tmp_path / "users.yaml"
    path.write_text(text)
    with pytest.raises(UserError) as err:
        read_users(path)
    assert err.value.code == code and str(path) in str(err.value)


def citycc(monkeypatch: pytest.MonkeyPatch, run_dir: Path, *args: str, stdin: str = "") -> int:
    monkeypatch.setenv("CITYCC_RUN_DIR", str(run_dir))
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return main(list(args))


def test_citycc_user_and_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    monkeypatch.setattr(accounts, "hash_password", lambda pw: FAST.hash(accounts.check_password(pw)))
    assert citycc(monkeypatch, run, "user", "add", "张伟", "--role", "dispatcher", "--agency",
                  "120", "--district", "furong", stdin="s3cret-pass\n") == 0
    stored = yaml.safe_load((run / "users.yaml").read_text())["users"]["张伟"]
    assert stored["role"] == "dispatcher" and stored["districts"] == ["furong"]
    assert "s3cret-pass" not in (run / "users.yaml").read_text()
    assert verify_password(stored["password"], "s3cret-pass")
    assert citycc(monkeypatch, run, "user", "add", "张伟", "--role", "viewer",
                  stdin="other-pass\n") == 2                         # exists
    assert citycc(monkeypatch, run, "user", "add", "system", "--role", "viewer",
                  stdin="s3cret-pass\n") == 2                        # reserved
    assert citycc(monkeypatch, run, "user", "add", "x", "--role", "viewer",
                  "--district", "atlantis", stdin="s3cret-pass\n") == 2
    assert citycc(monkeypatch, run, "user", "add", "y", "--role", "viewer",
                  stdin="short\n") == 2                              # too short
    err = capsys.readouterr().err
    assert "exists" in err and "reserved_actor" in err and "atlantis" in err
    assert citycc(monkeypatch, run, "user", "passwd", "张伟", stdin="new-pass-123\n") == 0
    assert verify_password(read_users(run / "users.yaml")["张伟"].password_hash, "new-pass-123")
    capsys.readouterr()
    assert citycc(monkeypatch, run, "token", "张伟", "--ttl", "30d") == 0
    token = capsys.readouterr().out.strip()
    claims = verify_token(token, load_secret("", run), time.time())
    assert claims["sub"] == "张伟" and 29 * 86400 < claims["exp"] - claims["iat"] <= 30 * 86400
    assert citycc(monkeypatch, run, "user", "list") == 0
    assert "张伟\tdispatcher\t120\tfurong" in capsys.readouterr().out
    assert citycc(monkeypatch, run, "user", "remove", "张伟") == 0
    assert citycc(monkeypatch, run, "token", "张伟") == 2


def test_citycc_run_makes_demo_users_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    from citycc.settings import load_settings
    monkeypatch.setattr(accounts, "hash_password", lambda pw: FAST.hash(pw))
    settings = load_settings({"CITYCC_RUN_DIR": str(tmp_path / "run")})
    line = accounts.ensure_demo_users(settings)
    logins = tmp_path / "run" / "demo-logins.txt"
    assert stat.S_IMODE(logins.stat().st_mode) == 0o600
    rows = [r.split("\t") for r in logins.read_text().splitlines() if not r.startswith("#")]
    users = read_users(settings.users_path)
    assert {u.role for u in users.values()} == {"viewer", "dispatcher", "supervisor", "admin"}
    assert {u.agency for u in users.values() if u.role == "dispatcher"} == \
        {"120", "119", "traffic_police", "hazmat", "utilities"}
    for name, password, *_ in rows:              # every printed login works
        assert verify_password(users[name].password_hash, password)
        assert password not in settings.users_path.read_text()
    assert line.startswith(f"{rows[0][0]} / {rows[0][1]}")
    assert accounts.ensure_demo_users(settings) == line   # kept, not made again
    assert read_users(settings.users_path) == users


@pytest.mark.parametrize("text,seconds", [("3600", 3600), ("90m", 5400), ("12h", 43200),
                                          ("30d", 2592000), ("1.5h", 5400)])
def test_token_ttls(text: str, seconds: float) -> None:
    assert accounts.parse_ttl(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "-5m", "1w", "h"])
def test_bad_token_ttls(text: str) -> None:
    with pytest.raises(ValueError):
        accounts.parse_ttl(text)
