"""Session tokens (PyJWT, HS256), the signing secret's file, password hashing (argon2id)."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import jwt
import pytest

from cockpit_api.auth.passwords import check_password, hash_password, verify_password
from cockpit_api.auth.roles import Principal
from cockpit_api.auth.testing import FAST
from cockpit_api.auth.tokens import (TokenError, TokenExpired, claims_match, issue_token,
                                     load_secret, verify_token)

SECRET = b"k" * 64
NOW = 1_800_000_000.0
ZHANG = Principal("张伟", "dispatcher", "120", ("furong",), "张伟")


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_a_token_round_trips_and_names_its_user() -> None:
    issued = issue_token(ZHANG, SECRET, NOW, 3600)
    claims = verify_token(issued.token, SECRET, NOW + 10)
    assert (claims["sub"], claims["role"], claims["agency"], claims["districts"]) == \
        ("张伟", "dispatcher", "120", ["furong"])
    assert claims["iat"] == int(NOW) and claims["exp"] == issued.expires_s == int(NOW) + 3600
    assert claims_match(claims, ZHANG)
    assert not claims_match(claims, Principal("张伟", "supervisor"))
    assert not claims_match(claims, Principal("张伟", "dispatcher", "119", ("furong",)))


def forged(claims: dict, header: dict | None = None, key: bytes = SECRET) -> str:
    return jwt.encode(claims, key, algorithm="HS256", headers=header)


GOOD = {"iss": "citycc", "aud": "citycc-cockpit", "sub": "张伟", "role": "admin",
        "iat": int(NOW), "exp": int(NOW) + 60}
REFUSED = [
    ("expired", issue_token(ZHANG, SECRET, NOW - 7200, 3600).token),
    ("exactly at its end", issue_token(ZHANG, SECRET, NOW - 60, 60).token),
    ("wrong signature", issue_token(ZHANG, b"x" * 64, NOW, 3600).token),
    ("alg none", jwt.encode(GOOD, None, algorithm="none")),
    ("alg HS512", jwt.encode(GOOD, SECRET, algorithm="HS512")),
    ("tampered role", ".".join([(t := forged(GOOD)).split(".")[0],
                                b64({**GOOD, "role": "admin", "sub": "李娜"}),
                                t.split(".")[2]])),
    ("wrong audience", forged({**GOOD, "aud": "other-app"})),
    ("wrong issuer", forged({**GOOD, "iss": "someone"})),
    ("no exp", forged({k: v for k, v in GOOD.items() if k != "exp"})),
    ("no role", forged({k: v for k, v in GOOD.items() if k != "role"})),
    ("exp not a number", forged({**GOOD, "exp": "never"})),
    ("issued in the future", forged({**GOOD, "iat": int(NOW) + 3600, "exp": int(NOW) + 7200})),
    ("garbage", "not.a.token"),
    ("empty", ""),
    ("huge", "a" * 5000),
]


@pytest.mark.parametrize("name,token", REFUSED, ids=[r[0] for r in REFUSED])
def test_a_bad_token_signs_nobody_in(name: str, token: str) -> None:
    with pytest.raises(TokenError) as err:
        verify_token(token, SECRET, NOW)
    assert token not in str(err.value) or not token  # the token itself is never echoed
    assert isinstance(err.value, TokenExpired) == name.startswith(("expired", "exactly"))


def test_a_non_string_token_is_refused() -> None:
    for value in (None, 42, ["x"], {"token": "x"}):
        with pytest.raises(TokenError):
            verify_token(value, SECRET, NOW)


def test_the_secret_file_is_made_once_private_and_reused(tmp_path: Path) -> None:
    first = load_secret("", tmp_path / "run")
    path = tmp_path / "run" / "auth-secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) == 64 and load_secret("", tmp_path / "run") == first
    assert [p.name for p in path.parent.iterdir()] == ["auth-secret"]  # no temporary left
    assert load_secret("s" * 40, tmp_path / "run") == b"s" * 40      # the setting wins


def test_a_secret_others_can_read_or_too_short_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "auth-secret"
    path.write_text("a" * 64)
    os.chmod(path, 0o644)
    with pytest.raises(TokenError, match="chmod 600"):
        load_secret("", tmp_path)
    os.chmod(path, 0o600)
    path.write_text("short")
    with pytest.raises(TokenError, match="too short"):
        load_secret("", tmp_path)


def test_passwords_are_stored_as_argon2id_and_verified() -> None:
    stored = hash_password("correct horse battery")
    assert stored.startswith("$argon2id$") and "correct horse" not in stored
    assert stored != hash_password("correct horse battery")   # salted
    assert verify_password(stored, "correct horse battery")
    assert not verify_password(stored, "correct horse batterY")
    assert not verify_password(None, "correct horse battery")     # an unknown user
    assert not verify_password("$argon2id$garbage", "x" * 10)     # a broken hash
    assert not verify_password(stored, "x" * 5000)                # absurd input
    fast = hash_password("correct horse battery", FAST)           # cheaper parameters verify too
    assert verify_password(fast, "correct horse battery")


@pytest.mark.parametrize("password", ["short", "", "x" * 1025])
def test_a_password_too_short_or_long_is_not_taken(password: str) -> None:
    with pytest.raises(ValueError):
        check_password(password)
