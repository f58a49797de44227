"""The local Apache Kafka broker: time from start to a metadata answer, and resident memory.

Starts the project's broker (deploy.broker) in a temporary run directory on a free port:
once on empty storage (formatted first), then ``--restarts`` times on the data it left.
After each start it produces and reads back 10,000 small messages, so the memory figure is
that of a broker that has done some work. Prints each figure and min/median/max.

    python bench/broker.py [--restarts 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # noqa: E402

from citycc.settings import load_settings  # noqa: E402
from deploy import broker, procs  # noqa: E402


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def exercise(bootstrap: str, n: int = 10_000) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        for i in range(n):
            await producer.send("bench.broker", b"x" * 200, key=str(i % 16).encode())
        await producer.flush()
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer("bench.broker", bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        seen = 0
        while seen < n:
            batch = await consumer.getmany(timeout_ms=5000)
            if not batch:
                break
            seen += sum(len(v) for v in batch.values())
    finally:
        await consumer.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--restarts", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="citycc-bench-broker-") as tmp:
        settings = load_settings({}, run_dir=Path(tmp), broker_port=procs.free_port())
        starts: list[float] = []
        rss: list[float] = []
        try:
            for i in range(args.restarts + 1):
                began = time.monotonic()
                pid = broker.start(settings)
                starts.append(time.monotonic() - began)
                asyncio.run(exercise(settings.bootstrap))
                rss.append(rss_mb(pid))
                what = "first start (formats storage)" if i == 0 else f"restart {i} on its data"
                print(f"{what:32s} healthy after {starts[-1]:5.2f} s, RSS {rss[-1]:6.1f} MB",
                      flush=True)
                broker.stop(settings)
        finally:
            broker.stop(settings)
    again = starts[1:] or starts
    print(f"restart to healthy: min {min(again):.2f} s, median {statistics.median(again):.2f} s,"
          f" max {max(again):.2f} s; RSS after 10,000 messages: median "
          f"{statistics.median(rss):.0f} MB (max {max(rss):.0f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
