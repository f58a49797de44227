"""alerting.notify: backoff, the outbox's bookkeeping (dedup, retries, dead notifications,
attempt timeouts, checkpoints), the never-loses property, webhook payloads and signatures."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerting.escalation import Escalator, parse_escalation
from alerting.lifecycle import AlertBook
from alerting.notify import (OK, PERMANENT, RETRYABLE, Notification, Outbox, PermanentError,
                             RetryableError, drain, for_event, for_group, for_page,
                             sign_webhook, verify_webhook, webhook_payload)
from schemas.records import make_alert
from schemas.validate import format_event_time

T0 = 1_748_764_800_000


def note(key: str = "k1", **kw: Any) -> Notification:
    args: dict[str, Any] = dict(key=key, receiver="duty-dispatch", fingerprint="fp-1",
                                status="firing", severity="critical", summary="燃气浓度超限",
                                at_ms=T0, occurrence=1, labels=(("district", "yuelu"),),
                                details={"event_id": "e-1"})
    args.update(kw)
    return Notification(**args)


def box(**kw: Any) -> Outbox:
    args: dict[str, Any] = dict(base_ms=1000, cap_ms=8000, jitter=0.0, attempt_timeout_ms=30_000)
    args.update(kw)
    return Outbox(**args)


# --- backoff ------------------------------------------------------------------------------
def test_backoff_is_capped_exponential() -> None:
    assert [box().backoff_ms("k", n) for n in range(1, 7)] == \
        [1000, 2000, 4000, 8000, 8000, 8000]
    assert box().backoff_ms("k", 10_000) == 8000


def test_jitter_is_bounded_deterministic_and_decorrelated() -> None:
    a, b = box(jitter=0.5, seed=1), box(jitter=0.5, seed=1)
    for n in range(1, 8):
        full = min(8000, 1000 * 2 ** (n - 1))
        assert full // 2 <= a.backoff_ms("k", n) <= full
        assert a.backoff_ms("k", n) == b.backoff_ms("k", n)
    spread = {a.backoff_ms(f"k{i}", 4) for i in range(50)}
    assert len(spread) > 40  # different keys retry at different times
    assert [box(jitter=0.5, seed=2).backoff_ms("k", n) for n in range(1, 8)] != \
        [a.backoff_ms("k", n) for n in range(1, 8)]


# --- the outbox ---------------------------------------------------------------------------
def test_deliver_once_and_dedup_a_reoffer() -> None:
    o = box()
    assert o.offer(note(), T0) is True and o.status("k1") == "pending"
    [att] = o.due(T0)
    assert (att.key, att.number, att.notification) == ("k1", 1, note())
    assert o.status("k1") == "in_flight" and o.due(T0 + 1) == []  # not handed out twice
    assert o.result(att, OK, T0 + 5) is True
    assert o.status("k1") == "delivered" and len(o) == 0
    assert o.offer(note(), T0 + 10) is False  # a restarted worker offers it again
    assert o.due(T0 + 10**6) == []


def test_retry_after_backoff_then_deliver() -> None:
    o = box()
    o.offer(note(), T0)
    [a1] = o.due(T0)
    o.result(a1, RETRYABLE, T0 + 100, "HTTP 503")
    assert o.due(T0 + 1099) == [] and o.next_due_ms() == T0 + 1100
    [a2] = o.due(T0 + 1100)
    o.result(a2, RETRYABLE, T0 + 1200, "timeout")
    assert o.next_due_ms() == T0 + 1200 + 2000
    [a3] = o.due(T0 + 3200)
    assert a3.number == 3 and o.result(a3, OK, T0 + 3300)


def test_retry_after_from_the_receiver_wins_when_longer() -> None:
    o = box()
    o.offer(note(), T0)
    [a] = o.due(T0)
    o.result(a, RETRYABLE, T0, "429", retry_after_ms=60_000)
    assert o.next_due_ms() == T0 + 60_000


def test_a_permanent_failure_is_kept_dead_with_its_reason() -> None:
    o = box()
    o.offer(note(), T0)
    [a] = o.due(T0)
    o.result(a, PERMANENT, T0 + 1, "HTTP 410 gone")
    [d] = o.dead()
    assert (d.notification.key, d.reason, d.attempts, d.at_ms) == ("k1", "HTTP 410 gone", 1,
                                                                   T0 + 1)
    assert o.status("k1") == "dead" and o.offer(note(), T0 + 2) is False
    assert [x.reason for x in o.take_dead(T0 + 3)] == ["HTTP 410 gone"]
    assert o.dead() == [] and o.status("k1") == "dead" and o.offer(note(), T0 + 4) is False


@pytest.mark.parametrize("limits,fail_at,reason", [
    ({"max_attempts": 3}, [0, 1000, 3000], "gave up after 3 attempts (limit): HTTP 500"),
    ({"max_age_ms": 2500}, [0, 1000, 3000], "gave up after 3 attempts (too old): HTTP 500"),
])
def test_giving_up_makes_it_dead(limits: dict[str, int], fail_at: list[int],
                                 reason: str) -> None:
    o = box(**limits)
    o.offer(note(), T0)
    for t in fail_at:
        [a] = o.due(T0 + t)
        o.result(a, RETRYABLE, T0 + t, "HTTP 500")
    assert [d.reason for d in o.dead()] == [reason] and len(o) == 0


def test_an_attempt_without_a_result_is_tried_again_and_its_late_result_ignored() -> None:
    o = box()
    o.offer(note(), T0)
    [a1] = o.due(T0)
    assert o.due(T0 + 29_999) == []
    [a2] = o.due(T0 + 30_000)
    assert a2.number == 2
    assert o.result(a1, OK, T0 + 30_001) is False and o.status("k1") == "in_flight"
    assert o.result(a2, OK, T0 + 30_002) is True and o.status("k1") == "delivered"
    assert o.result(a2, OK, T0 + 30_003) is False


def test_a_result_needs_a_known_outcome() -> None:
    o = box()
    o.offer(note(), T0)
    [a] = o.due(T0)
    with pytest.raises(ValueError):
        o.result(a, "maybe", T0)


def test_settle_classifies_what_the_notifier_raised() -> None:
    o = box()
    for k in ("ok", "perm", "retry", "bug"):
        o.offer(note(k), T0)
    by_key = {a.key: a for a in o.due(T0)}
    o.settle(by_key["ok"], None, T0)
    o.settle(by_key["perm"], PermanentError("HTTP 400 bad payload"), T0)
    o.settle(by_key["retry"], RetryableError("HTTP 429", retry_after_s=30), T0)
    o.settle(by_key["bug"], KeyError("oops"), T0)
    assert [o.status(k) for k in ("ok", "perm", "retry", "bug")] == \
        ["delivered", "dead", "pending", "pending"]
    assert o.dead()[0].reason == "HTTP 400 bad payload"
    assert [a.key for a in o.due(T0 + 1000)] == ["bug"]  # the bug is retried on backoff
    assert [a.key for a in o.due(T0 + 30_000)] == ["retry"]


class Flaky:
    """A notifier that fails the first ``n`` calls of each key."""

    def __init__(self, n: int) -> None:
        self.n, self.calls, self.sent = n, {}, []

    def notify(self, notification: Notification) -> None:
        c = self.calls[notification.key] = self.calls.get(notification.key, 0) + 1
        if c <= self.n:
            raise RetryableError(f"try {c} failed")
        self.sent.append(notification.key)


def test_drain_sends_what_is_due_through_a_notifier() -> None:
    o, n = box(), Flaky(1)
    for k in ("a", "b"):
        o.offer(note(k), T0)
    assert drain(o, n, T0) == 0 and len(o) == 2
    assert drain(o, n, T0 + 1000) == 2 and n.sent == ["a", "b"] and len(o) == 0


def test_delivered_keys_are_remembered_for_a_bounded_window() -> None:
    o = box(remember_ms=60_000, max_remembered=2)
    for i, k in enumerate(("a", "b", "c")):
        o.offer(note(k), T0 + i)
        [a] = o.due(T0 + i)
        o.result(a, OK, T0 + i)
    assert [o.status(k) for k in ("a", "b", "c")] == [None, "delivered", "delivered"]
    o.offer(note("d"), T0 + 70_000)
    [a] = o.due(T0 + 70_000)
    o.result(a, OK, T0 + 70_000)
    assert o.status("b") is None and o.offer(note("b"), T0 + 70_001) is True


def test_snapshot_restore_keeps_everything_and_resends_in_flight_at_once() -> None:
    o = box(jitter=0.3, seed=7)
    for k in ("wait", "fly", "done", "dead"):
        o.offer(note(k), T0)
    att = {a.key: a for a in o.due(T0)}
    o.result(att["wait"], RETRYABLE, T0, "503")
    o.result(att["done"], OK, T0)
    o.result(att["dead"], PERMANENT, T0, "410")
    snap = json.loads(json.dumps(o.snapshot()))
    r = box(jitter=0.3, seed=7)
    r.restore(snap)
    assert [r.status(k) for k in ("wait", "fly", "done", "dead")] == \
        ["pending", "pending", "delivered", "dead"]
    assert r.dead()[0].reason == "410" and r.offer(note("done"), T0 + 1) is False
    [again] = r.due(T0 + 1)              # in flight at the checkpoint: due at once
    assert (again.key, again.number) == ("fly", 2)
    assert r.next_due_ms() == T0 + o.backoff_ms("wait", 1)  # the same schedule as before
    assert [a.key for a in r.due(T0 + o.backoff_ms("wait", 1))] == ["wait"]
    with pytest.raises(ValueError):
        r.restore({"version": 3})


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_the_outbox_never_loses_a_notification(data: st.DataObject) -> None:
    """Random offers (with repeats), failures, lost results, clock jumps and restarts: every
    offered key is always accounted for, is delivered at most once, and ends delivered or
    dead."""
    o = Outbox(base_ms=100, cap_ms=2000, jitter=0.5, seed=3, attempt_timeout_ms=5000,
               max_attempts=data.draw(st.sampled_from([None, 4])))
    now, offered, delivered = T0, set(), []
    outcome = st.sampled_from([OK, RETRYABLE, PERMANENT, "lost"])
    for _ in range(data.draw(st.integers(1, 40))):
        step = data.draw(st.sampled_from(["offer", "send", "wait", "restart"]))
        if step == "offer":
            k = f"k{data.draw(st.integers(0, 7))}"
            o.offer(note(k), now)
            offered.add(k)
        elif step == "send":
            for a in o.due(now):
                res = data.draw(outcome)
                if res != "lost" and o.result(a, res, now, "x") and res == OK:
                    delivered.append(a.key)
        elif step == "wait":
            now += data.draw(st.integers(0, 6000))
        else:
            snap = json.loads(json.dumps(o.snapshot()))
            o = Outbox(base_ms=100, cap_ms=2000, jitter=0.5, seed=3, attempt_timeout_ms=5000,
                       max_attempts=o.max_attempts)
            o.restore(snap)
        assert all(o.status(k) is not None for k in offered)
    for _ in range(200):  # then the receiver recovers
        nxt = o.next_due_ms()
        if nxt is None:
            break
        now = max(now, nxt)
        for a in o.due(now):
            assert o.result(a, OK, now)
            delivered.append(a.key)
    assert {k: o.status(k) for k in offered if o.status(k) not in ("delivered", "dead")} == {}
    assert len(delivered) == len(set(delivered)) and len(o) == 0


# --- payloads, builders, signatures -------------------------------------------------------
def test_the_webhook_payload_is_stable_sorted_json() -> None:
    body = webhook_payload(note(details={"z": 1, "a": {"y": 2, "b": 3}}))
    assert body == webhook_payload(note(details={"a": {"b": 3, "y": 2}, "z": 1}))
    d = orjson.loads(body)
    assert list(d) == sorted(d) and list(d["details"]["a"]) == ["b", "y"]
    assert (d["version"], d["key"], d["labels"], d["summary"]) == \
        (1, "k1", {"district": "yuelu"}, "燃气浓度超限")
    assert Notification.from_dict({k: v for k, v in d.items() if k != "version"}) == \
        note(details={"z": 1, "a": {"y": 2, "b": 3}})


def test_a_payload_that_cannot_be_json_is_a_permanent_error() -> None:
    with pytest.raises(PermanentError) as exc:
        webhook_payload(note(details={"when": object()}))
    assert "k1" in exc.value.reason


def test_builders_make_keys_from_the_event_or_page_and_the_receiver() -> None:
    alert = make_alert(detector="limit", kind="gas_concentration_high", status="firing",
                       severity="critical", stream="lifeline", entity_id="G-1",
                       district="yuelu", district_zh="岳麓区", district_en="Yuelu", lat=None,
                       lon=None, event_time=format_event_time(T0), value=1.0, threshold=1.0,
                       unit="%LEL", title_zh="燃气", title_en="Gas", evidence=["e"],
                       detected_at=format_event_time(T0))
    [ev] = AlertBook().apply(alert, T0)
    a, b = for_event(ev, "dispatch"), for_event(ev, "shift-leader")
    assert a.key == for_event(ev, "dispatch").key != b.key
    assert (a.status, a.severity, a.details["event_id"], a.at_ms) == \
        ("firing", "critical", ev.event_id, T0)
    esc = Escalator(parse_escalation({"policies": [{"name": "p", "levels": [
        {"after_s": 60, "notify": ["dispatch", "leader"]}]}]}))
    [page] = esc.observe(ev)
    pa, pb = (for_page(page, t) for t in page.targets)
    assert pa.key != pb.key != a.key and (pa.level, pa.status, pa.severity) == \
        (1, "escalation", "critical")
    assert pa.summary == "escalation level 1: gas_concentration_high G-1 (yuelu)"


def test_a_group_flush_becomes_one_notification() -> None:
    class Flush:  # the shape of alerting.grouping's record
        receiver, group_key, route, reason, at_ms = "fire119", "g1", "route.routes[1]", \
            "initial", T0
        group_labels = {"district": "yuelu", "severity": "major"}
        firing, resolved = ("fp1", "fp2"), ("fp3",)
    n = for_group(Flush())
    assert (n.receiver, n.fingerprint, n.status, n.severity, n.summary) == \
        ("fire119", "g1", "firing", "major", "2 firing, 1 resolved")
    assert n.details["firing"] == ["fp1", "fp2"] and n.key == for_group(Flush()).key
    Flush.resolved, Flush.firing = ("fp1",), ("fp2", "fp3")
    assert for_group(Flush()).key != n.key   # other content, other key


SECRET = b"s3cret"
BODY = b'{"key":"k1"}'


def test_sign_webhook_is_hmac_sha256_over_timestamp_and_body() -> None:
    want = hmac.new(SECRET, b"1748764800." + BODY, hashlib.sha256).hexdigest()
    assert sign_webhook(BODY, SECRET, 1748764800) == f"t=1748764800,v1={want}"
    with pytest.raises(ValueError):
        sign_webhook(BODY, b"", 1)


@pytest.mark.parametrize("header,body,secrets,now,ok", [
    (sign_webhook(BODY, SECRET, 1000), BODY, SECRET, 1000, True),
    (sign_webhook(BODY, SECRET, 1000), BODY, SECRET, 1300, True),
    (sign_webhook(BODY, SECRET, 1000), BODY, SECRET, 1301, False),      # too old: replay
    (sign_webhook(BODY, SECRET, 1000), BODY + b" ", SECRET, 1000, False),  # body changed
    (sign_webhook(BODY, SECRET, 1000), BODY, b"other", 1000, False),
    (sign_webhook(BODY, SECRET, 1000), BODY, [b"new", SECRET], 1000, True),  # rotation
    (sign_webhook(BODY, SECRET, 1000) + ",v1=00", BODY, SECRET, 1000, True),
    (sign_webhook(BODY, SECRET, 1000).replace("t=1000", "t=1001"), BODY, SECRET, 1001, False),
    ("", BODY, SECRET, 1000, False),
    ("t=abc,v1=00", BODY, SECRET, 1000, False),
    ("v1=00", BODY, SECRET, 1000, False),
    ("t=1000", BODY, SECRET, 1000, False),
    ("t=1000,t=1000,v1=00", BODY, SECRET, 1000, False),
    ("t=１０００,v1=00", BODY, SECRET, 1000, False),
    ("t=1000,v1=é", BODY, SECRET, 1000, False),
    (None, BODY, SECRET, 1000, False),
    (sign_webhook(BODY, SECRET, 1000), "text", SECRET, 1000, False),
])
def test_verify_webhook(header: Any, body: Any, secrets: Any, now: int, ok: bool) -> None:
    assert verify_webhook(header, body, secrets, now) is ok
