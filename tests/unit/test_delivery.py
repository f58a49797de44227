"""Issue 13, item 6: a webhook that cannot work is refused at start, and no channel's error
escapes a delivery round.

A webhook URL with the default empty secret failed on every tick (``sign_webhook`` raised
out of ``Delivery.run``), stopping the delivery of every other notification, and nothing
checked it at start.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from alerting.notify import Notification, Outbox
from alerting.webhook import webhook_problem
from citycc.settings import SettingsError, load_settings
from streams.notifiers import COCKPIT, OK, PERMANENT, Delivery, WebhookChannel

NOW = 1_748_764_800_000


@pytest.mark.parametrize("env, words", [
    ({"CITYCC_WEBHOOK_URL": "http://127.0.0.1:9/hook"}, "needs a secret"),
    ({"CITYCC_WEBHOOK_URL": "http://127.0.0.1:9/hook", "CITYCC_WEBHOOK_SECRET": "  "},
     "needs a secret"),
    ({"CITYCC_WEBHOOK_URL": "ftp://127.0.0.1/hook", "CITYCC_WEBHOOK_SECRET": "s"}, "http"),
    ({"CITYCC_WEBHOOK_URL": "127.0.0.1:9/hook", "CITYCC_WEBHOOK_SECRET": "s"}, "http"),
    ({"CITYCC_WEBHOOK_URL": "http:///hook", "CITYCC_WEBHOOK_SECRET": "s"}, "host"),
    ({"CITYCC_WEBHOOK_URL": "http://127.0.0.1:99999/", "CITYCC_WEBHOOK_SECRET": "s"}, "port"),
])
def test_a_webhook_that_cannot_work_refuses_the_start(env: dict[str, str], words: str) -> None:
    with pytest.raises(SettingsError) as err:
        load_settings(env)
    assert "CITYCC_WEBHOOK_URL" in str(err.value) and words in str(err.value)
    with pytest.raises(ValueError):   # and the channel itself, however it is made
        WebhookChannel(env["CITYCC_WEBHOOK_URL"], env.get("CITYCC_WEBHOOK_SECRET", ""))


def test_a_usable_webhook_or_none_starts() -> None:
    assert load_settings({}).webhook_url == ""
    s = load_settings({"CITYCC_WEBHOOK_URL": "https://hooks.example/citycc",
                       "CITYCC_WEBHOOK_SECRET": "test-secret"})
    assert webhook_problem(s.webhook_url, s.webhook_secret) is None
    WebhookChannel(s.webhook_url, s.webhook_secret)


def note(key: str, receiver: str = "city_duty") -> Notification:
    return Notification(key, receiver, "fp", "firing", "major", "s", NOW)


class Flaky:
    """A webhook channel that raises (a bug, a library's surprise) for one receiver."""

    def __init__(self, bad: str, error: BaseException) -> None:
        self.bad, self.error = bad, error
        self.sent: list[str] = []

    async def send(self, n: Notification, now_ms: int) -> tuple[str, str, int | None]:
        if n.receiver == self.bad:
            raise self.error
        self.sent.append(n.key)
        return OK, "", None


def run(delivery: Delivery, now: int) -> int:
    return asyncio.run(delivery.run(now))


@pytest.mark.parametrize("error", [ValueError("sign_webhook: secret must be non-empty bytes"),
                                   RuntimeError("boom"), KeyError("x")])
def test_one_receivers_error_never_stops_the_others(error: BaseException) -> None:
    outbox, published = Outbox(), []

    async def publish(record: dict[str, Any]) -> None:
        published.append(record)

    for key, receiver in (("a", "city_duty"), ("b", "fire119"), ("c", "gas_utility")):
        outbox.offer(note(key, receiver), NOW)
    hook = Flaky("fire119", error)
    delivery = Delivery(outbox, publish, hook)  # type: ignore[arg-type]
    assert run(delivery, NOW) == 2                       # a and c, though b raised between
    assert sorted(hook.sent) == ["a", "c"]
    assert outbox.status("a") == outbox.status("c") == "delivered"
    assert outbox.status("b") == "pending" and delivery.counters["failed"] == 1
    assert delivery.done == {"b": [COCKPIT]}             # the cockpit has it: not re-sent
    hook.bad = ""
    assert run(delivery, NOW + outbox.cap_ms) == 1 and outbox.status("b") == "delivered"
    assert [r["outcome"] for r in published].count("sent") == 3


def test_a_permanent_error_kills_only_its_notification() -> None:
    from alerting.notify import PermanentError
    outbox, published = Outbox(), []

    async def publish(record: dict[str, Any]) -> None:
        published.append(record)

    outbox.offer(note("a", "x"), NOW)
    outbox.offer(note("b", "y"), NOW)
    delivery = Delivery(outbox, publish, Flaky("x", PermanentError("refused")))  # type: ignore[arg-type]
    assert run(delivery, NOW) == 1
    assert [(r["notification"]["key"], r["outcome"]) for r in published
            if r["outcome"] in ("dead", "delivered")] == [("b", "delivered"), ("a", "dead")]
    assert outbox.status("a") == "dead" and PERMANENT


def test_a_dead_letter_the_broker_cannot_take_now_is_kept_for_the_next_round() -> None:
    outbox, published, down = Outbox(max_attempts=1), [], [True]

    async def publish(record: dict[str, Any]) -> None:
        if record["outcome"] == "dead" and down[0]:
            raise ConnectionError("broker gone")
        published.append(record)

    outbox.offer(note("a", "x"), NOW)
    delivery = Delivery(outbox, publish, Flaky("x", RuntimeError("boom")))  # type: ignore[arg-type]
    run(delivery, NOW)                          # fails once: max_attempts=1, so dead
    run(delivery, NOW + 10_000)                 # the dead record cannot be published
    assert [r["outcome"] for r in published] == ["sent"]
    down[0] = False
    run(delivery, NOW + 20_000)
    assert [r["outcome"] for r in published] == ["sent", "dead"]
