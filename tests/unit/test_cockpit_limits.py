"""Command rate (token bucket), failed sign-ins (lockouts), connection caps, the Origin
allow-list and the page's security headers (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from cockpit_api.auth.limits import ConnectionCap, LoginThrottle, TokenBucket
from cockpit_api.auth.origins import (allowed_origins, normalize_origin, origin_allowed,
                                      page_headers)


def test_a_burst_passes_then_the_rate_holds() -> None:
    bucket = TokenBucket(rate=10, burst=30)
    assert sum(bucket.take(0.0) for _ in range(100)) == 30          # the burst, at once
    assert not bucket.take(0.05)                                      # half a token
    assert bucket.take(0.1) and not bucket.take(0.1)                  # one per 0.1 s
    assert sum(bucket.take(10.0) for _ in range(100)) == 30          # refilled, capped
    assert bucket.retry_after() == pytest.approx(0.1)


def test_a_clock_going_back_gives_nothing() -> None:
    bucket = TokenBucket(rate=1, burst=1)
    assert bucket.take(100.0) and not bucket.take(50.0) and not bucket.take(100.5)
    assert bucket.take(101.0)


@hsettings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=5, allow_nan=False), min_size=1,
                max_size=200),
       st.floats(min_value=0.5, max_value=50), st.integers(min_value=1, max_value=40))
def test_never_more_than_burst_plus_rate_times_time(gaps: list[float], rate: float,
                                                    burst: int) -> None:
    bucket, now, taken = TokenBucket(rate, burst), 0.0, 0
    for gap in gaps:
        now += gap
        taken += bucket.take(now)
    assert taken <= burst + rate * now + 1e-6


def test_a_client_within_the_rate_is_never_refused() -> None:
    bucket = TokenBucket(rate=10, burst=1)
    assert all(bucket.take(i * 0.1) for i in range(1000))


def test_failed_sign_ins_lock_a_key_out_for_longer_each_time() -> None:
    t = LoginThrottle(max_failures=3, lockout_s=60)
    for _ in range(2):
        t.fail("user:张伟", 0)
    assert t.locked_for("user:张伟", 0) == 0
    t.fail("user:张伟", 0)
    assert t.locked_for("user:张伟", 0) == 60 and t.locked_for("user:李娜", 0) == 0
    t.fail("user:张伟", 61)                                           # tried again: doubled
    assert t.locked_for("user:张伟", 61) == 120
    t.succeed("user:张伟")
    assert t.locked_for("user:张伟", 61) == 0


def test_the_throttle_remembers_a_bounded_number_of_keys() -> None:
    t = LoginThrottle(max_failures=1, lockout_s=60, max_keys=100)
    for i in range(1000):
        t.fail(f"user:{i}", 0)
    assert t.locked_for("user:999", 0) == 60 and t.locked_for("user:0", 0) == 0
    assert len(t._keys) == 100


def test_connection_caps() -> None:
    cap = ConnectionCap(max_total=2, max_per_user=1)
    cap.open()
    assert not cap.full()
    cap.open()
    assert cap.full()
    assert cap.add_user("a") and not cap.add_user("a") and cap.add_user("b")
    cap.remove_user("a")
    assert cap.add_user("a") and cap.per_user == {"a": 1, "b": 1}
    cap.close(), cap.close(), cap.close()
    assert cap.total == 0


ORIGINS = [   # (Origin headers, allowed?)
    (["http://127.0.0.1:8765"], True), (["http://localhost:8765"], True),
    (["HTTP://LOCALHOST:8765"], True), (["http://[::1]:8765"], True),
    (["https://cockpit.example.gov.cn"], True), (["https://cockpit.example.gov.cn:443"], True),
    (["http://evil.example"], False), (["http://127.0.0.1:8766"], False),
    (["https://127.0.0.1:8765"], False), (["http://127.0.0.1.evil.example:8765"], False),
    (["null"], False), (["NULL"], False), ([], False), ([""], False),
    (["http://127.0.0.1:8765", "http://evil.example"], False),
    (["http://127.0.0.1:8765/path"], False), (["file://"], False),
    (["http://user@127.0.0.1:8765"], False), (["http://127.0.0.1:99999"], False),
]


@pytest.mark.parametrize("values,ok", ORIGINS, ids=[str(v) for v, _ in ORIGINS])
def test_the_origin_allow_list(values: list[str], ok: bool) -> None:
    allowed = allowed_origins("127.0.0.1", 8765, "https://cockpit.example.gov.cn")
    assert origin_allowed(values, allowed) is ok


def test_the_cockpits_own_origins() -> None:
    assert allowed_origins("127.0.0.1", 8765) == {
        "http://127.0.0.1:8765", "http://localhost:8765", "http://[::1]:8765"}
    assert allowed_origins("0.0.0.0", 80) == {
        "http://127.0.0.1", "http://localhost", "http://[::1]"}
    assert allowed_origins("cockpit.lan", 8765) == {"http://cockpit.lan:8765"}
    with pytest.raises(ValueError):
        allowed_origins("127.0.0.1", 8765, "not an origin")
    assert normalize_origin("HTTPS://X.Example:443/") == "https://x.example"


def test_the_page_headers() -> None:
    headers = dict(page_headers(allowed_origins("127.0.0.1", 8765,
                                                "https://cockpit.example.gov.cn")))
    csp = headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self';" in csp
    assert "'unsafe-inline'" not in csp and "frame-ancestors 'none'" in csp
    assert "ws://127.0.0.1:8765" in csp and "wss://cockpit.example.gov.cn" in csp
    assert "[::1]" not in csp   # not a CSP source: Chromium warns and ignores it
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"


def test_a_sign_in_frame_goes_through_the_one_json_door() -> None:
    """A repeated key (which user is signing in?) or a deep frame is no sign-in."""
    import pytest

    from cockpit_api.auth.login import AuthRefused, parse_credentials
    good = '{"type": "login", "user": "张伟", "password": "pw"}'
    assert parse_credentials(good)["user"] == "张伟"
    for bad in ('{"type": "login", "user": "张伟", "user": "admin", "password": "pw"}',
                '{"type": "login", "user": "a", "password": "pw", "x": ' + "[" * 40
                + "]" * 40 + "}"):
        with pytest.raises(AuthRefused):
            parse_credentials(bad)
