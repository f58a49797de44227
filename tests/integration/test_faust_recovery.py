"""A worker restarting with a table to recover loses no input record.

On the real broker: a worker on the project's Faust App writes its table (a changelog
to recover) on its first input record and stops; a record is produced to its input; it
starts again and, while its table's recovery ends (in the table's recover callback), a
record is produced to another of its topics. That record woke the fetch waiting in the
consumer thread while Faust's set of active partitions was empty (changelogs paused,
inputs not resumed yet): aiokafka took the records of every partition and Faust dropped
them, the worker never saw the record (see streams/faust_app.py). Fails without the fix.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from citycc.settings import Settings
from deploy import procs

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
APP = Path(__file__).with_name("faust_recovery_app.py")


def start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, str(APP)], env=env, cwd=ROOT,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


async def create_topics(bootstrap: str, names: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, 1, 1) for n in names])
    finally:
        await admin.close()


async def produce(bootstrap: str, topic: str, value: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value)
    finally:
        await producer.stop()


def test_records_arriving_while_the_table_recovery_ends_reach_their_agents(
        prepared: Settings, tmp_path: Path) -> None:
    prefix = f"rec{uuid.uuid4().hex[:8]}"
    out, log = tmp_path / "out.txt", tmp_path / "worker.log"
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "BOOT": prepared.bootstrap, "PREFIX": prefix, "OUT": str(out)}
    asyncio.run(create_topics(prepared.bootstrap, [f"{prefix}.in", f"{prefix}.wake"]))
    asyncio.run(produce(prepared.bootstrap, f"{prefix}.in", b"seed"))
    first = start(env, log)
    try:
        procs.wait_until(lambda: "in:seed" in lines(out), 60, "the table written",
                         logs=[log], pid=first.pid)
    finally:
        stop(first)
    asyncio.run(produce(prepared.bootstrap, f"{prefix}.in", b"command"))
    second = start({**env, "WAKE": "1"}, log)
    try:
        procs.wait_until(lambda: "wake:wake" in lines(out), 30, "the record produced "
                         "while the recovery ended",
                         logs=[log], pid=second.pid)
        procs.wait_until(lambda: "in:command" in lines(out), 15, "the input record",
                         logs=[log], pid=second.pid)
    finally:
        stop(second)
