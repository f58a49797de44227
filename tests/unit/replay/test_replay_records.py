"""What the worker's alerting stage publishes, byte for byte, pinned before its publishing
became one shared pure function (``streams.outputs``) that replay uses too: the same inputs
must give the same records, ids included, in the same order."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from worker_fake import run_worker, simulated_inputs

# recorded from the worker's publish() before the refactor (commit 02487d7)
GOLDEN_COUNT = 132
GOLDEN_SHA256 = "831e8fe1a20c0f3c23998f1500de7b83f41f2cd715acbc0d7dc068b85009b7c2"


@pytest.fixture(scope="module")
def inputs() -> list:
    return simulated_inputs()


def digest(sent: list) -> str:
    h = hashlib.sha256()
    for topic, key, value in sent:
        h.update(topic.encode() + b"\0" + key + b"\0" + value + b"\n")
    return h.hexdigest()


def test_the_worker_publishes_what_it_published_before(tmp_path: Path, inputs: list) -> None:
    sent = run_worker(tmp_path, inputs, command_at=120)
    topics = {t for t, _, _ in sent}
    # the inputs exercise every kind of output the stage makes
    assert {"alert_events", "incident_events", "command_results", "silence_events",
            "notifications", "dispatch", "deadletter"} <= topics, topics
    assert (len(sent), digest(sent)) == (GOLDEN_COUNT, GOLDEN_SHA256)
