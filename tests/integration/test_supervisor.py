"""``citycc run`` supervises its processes (issue 12, item 2): kill -9 of the worker and of the
cockpit under a detached ``citycc run`` on the session's broker and ClickHouse. The city keeps
flowing: each is started again, the broker is not stopped, every event produced meanwhile is
in ClickHouse exactly once, and the restarts show in the cockpit's system panel data."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from websockets.sync.client import connect as ws_connect

from citycc import apps
from citycc.settings import Settings
from cockpit_api.auth.testing import login_frame, origin
from deploy import procs
from schemas.validate import format_event_time
from warehouse.client import query

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
ROOT = Path(__file__).resolve().parents[2]
BATCHES, PER_BATCH, PACE_S = 60, 50, 0.4       # 3,000 marked events over ~24 s


def citycc(s: Settings, *args: str, timeout: float = 200) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "citycc.cli", *args], cwd=ROOT, text=True,
                          env={**os.environ, **s.to_environ()}, capture_output=True,
                          timeout=timeout)


def status(s: Settings) -> dict[str, Any]:
    out = citycc(s, "status", timeout=60)
    assert out.returncode == 0, out.stderr
    return dict(json.loads(out.stdout))


def pid_of(s: Settings, name: str) -> int | None:
    return apps.running(s, name)   # the PID file, as `citycc status` reads it


def wait(predicate: Callable[[], Any], deadline: float, what: str, s: Settings) -> Any:
    app = Path(s.run_dir) / "app"
    return procs.wait_until(predicate, deadline, what, interval=0.5,
                            logs=[app / f"{n}.log" for n in ("supervisor", "worker", "cockpit")])


def marked(i: int, now_ms: int, tag: str) -> dict[str, Any]:
    return {"event_id": f"{tag}-{i}", "type": "reading",
            "event_time": format_event_time(now_ms - 30_000 + i), "source": "sup-test",
            "entity_id": f"WTR-SUP-{i % 40:03d}", "lat": 28.19 + (i % 7) * 0.001, "lon": 112.99,
            "kind": "water_pressure", "value": 0.3, "unit": "MPa"}


def produce_paced(s: Settings, tag: str) -> None:
    async def main() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=s.bootstrap, acks="all")
        await producer.start()
        try:
            for b in range(BATCHES):
                now = int(time.time() * 1000)
                events = [marked(b * PER_BATCH + i, now, tag) for i in range(PER_BATCH)]
                await producer.send_and_wait(s.topic("lifeline"),
                                             orjson.dumps({"events": events}))
                await asyncio.sleep(PACE_S)
        finally:
            await producer.stop()
    asyncio.run(main())


def scalar(s: Settings, sql: str) -> Any:
    return query(s, sql)[0][0]


def processing(s: Settings, pid: int) -> bool:
    from streams.progress import processing_since, progress_path
    return processing_since(progress_path(s.run_dir, s.worker_id), pid) is not None


def restarted(s: Settings, name: str, old: int) -> int:
    pid = pid_of(s, name)
    return pid if pid is not None and pid != old else 0


def panel_processes(s: Settings) -> dict[str, Any]:
    """The ``processes`` of the cockpit's ``stats`` messages, as its page receives them."""
    with ws_connect(f"ws://127.0.0.1:{s.cockpit_port}/ws", open_timeout=5,
                    origin=origin(s.cockpit_port)) as ws:  # type: ignore[arg-type]
        ws.send(login_frame("大屏"))
        while True:
            msg = json.loads(ws.recv(timeout=10))
            if msg["type"] == "stats":
                return dict(msg.get("processes", {}))


def test_kill9_worker_and_cockpit_under_run(prepared: Settings, own_topics: Any,
                                            fresh_database: Any) -> None:
    with fresh_database("sup") as db:
        s = own_topics(db, "sup").with_overrides(worker_id=f"sup-{uuid.uuid4().hex[:6]}")
        tag = f"sup{uuid.uuid4().hex[:6]}"
        broker_pid = status(s)["broker"]["pid"]
        started = citycc(s, "run", "--detach", "--scale", "0.01")
        try:
            assert started.returncode == 0, started.stdout + started.stderr
            assert s.cockpit_url in started.stdout
            worker = pid_of(s, "worker")
            assert worker is not None and processing(s, worker), \
                "the URL was printed before the worker processed input"
            producer = threading.Thread(target=produce_paced, args=(s, tag))
            producer.start()
            try:
                wait(lambda: scalar(s, f"SELECT count() FROM {s.clickhouse.database}."
                                       f"events_lifeline WHERE startsWith(event_id, '{tag}-')"),
                     60, "the first marked events in ClickHouse", s)
                os.kill(worker, signal.SIGKILL)
                killed_at = time.monotonic()
                new_worker = wait(lambda: restarted(s, "worker", worker), 60,
                                  "the supervisor to restart the worker", s)
                wait(lambda: processing(s, new_worker), 90, "the new worker to process", s)
                print(f"worker processing again {time.monotonic() - killed_at:.1f} s "
                      "after kill -9")
                cockpit = pid_of(s, "cockpit")
                assert cockpit is not None
                os.kill(cockpit, signal.SIGKILL)
                wait(lambda: restarted(s, "cockpit", cockpit), 60,
                     "the supervisor to restart the cockpit", s)
            finally:
                producer.join()
            total = BATCHES * PER_BATCH
            table, where = f"{s.clickhouse.database}.events_lifeline", \
                f"WHERE startsWith(event_id, '{tag}-')"
            wait(lambda: scalar(s, f"SELECT count() FROM {table} FINAL {where}") == total,
                 90, f"all {total} marked events in ClickHouse", s)
            assert scalar(s, f"SELECT uniqExact(event_id) FROM {table} {where}") == total
            assert scalar(s, f"SELECT count() FROM {table} FINAL {where}") == total
            assert status(s)["broker"]["pid"] == broker_pid, "the broker was restarted"

            def both_restarts_shown() -> dict[str, Any]:
                shown = panel_processes(s)
                ok = all(shown.get(n, {}).get("restarts") == 1 for n in ("worker", "cockpit"))
                return shown if ok else {}
            shown = wait(both_restarts_shown, 30, "the restarts on the cockpit's panel", s)
            for name in ("worker", "cockpit"):
                assert shown[name]["last_reason"] == {"kind": "signal", "code": None,
                                                      "signal": "SIGKILL"}
            assert shown["simulator"]["restarts"] == 0

            # an operator's restart: by the supervisor, immediately, never a second copy
            before = pid_of(s, "cockpit")
            out = citycc(s, "restart", "cockpit", timeout=90)
            assert out.returncode == 0, out.stdout + out.stderr
            after = pid_of(s, "cockpit")
            assert after not in (None, before) and f"pid {after}" in out.stdout
            cockpits = [p for p in os.listdir("/proc") if p.isdigit() and
                        _subcommand(_cmdline(int(p))) == "cockpit" and
                        f"CITYCC_COCKPIT_PORT={s.cockpit_port}\0" in _environ(int(p))]
            assert cockpits == [str(after)]
            record = json.loads((Path(s.run_dir) / "app" / "supervisor.json").read_text())
            assert record["processes"]["cockpit"]["restarts"] == 2
            assert record["processes"]["cockpit"]["last_reason"]["kind"] == "operator"
        finally:
            stopped = citycc(s, "stop", "--keep-infra", timeout=150)
            assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        after_stop = status(s)
        for name in ("supervisor", "worker", "cockpit", "simulator"):
            assert after_stop[name]["pid"] is None, f"{name} still running"
        assert after_stop["broker"]["pid"] == broker_pid and after_stop["broker"]["healthy"]


def _subcommand(cmdline: list[str]) -> str | None:
    """``cockpit`` of ``python -m citycc.cli cockpit --dispatch-scale 0.1``."""
    if "citycc.cli" not in cmdline[:-1]:
        return None
    return cmdline[cmdline.index("citycc.cli") + 1]


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
    except OSError:
        return []


def _environ(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def test_foreground_run_restarts_a_dead_worker_and_stops_apps_on_sigterm(
        prepared: Settings, own_topics: Any, fresh_database: Any) -> None:
    """``make run`` (foreground): the URL is printed once the worker processes; a worker
    killed by -9 is restarted while ``citycc run`` keeps running; SIGTERM (what ``citycc
    stop`` sends it) stops the app processes and leaves the broker and ClickHouse to
    ``citycc stop``."""
    with fresh_database("supfg") as db:
        s = own_topics(db, "supfg").with_overrides(worker_id=f"fg-{uuid.uuid4().hex[:6]}")
        broker_pid = status(s)["broker"]["pid"]
        log = Path(s.run_dir) / "test-logs" / f"run-{s.worker_id}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "wb") as out:
            run = subprocess.Popen([sys.executable, "-m", "citycc.cli", "run", "--scale", "0.01"],
                                   cwd=ROOT, env={**os.environ, **s.to_environ()}, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait(lambda: s.cockpit_url in log.read_text(), 120, "the cockpit URL", s)
            worker = pid_of(s, "worker")
            assert worker is not None and processing(s, worker)
            assert pid_of(s, "supervisor") == run.pid
            os.kill(worker, signal.SIGKILL)
            new = wait(lambda: restarted(s, "worker", worker), 60, "the worker restarted", s)
            wait(lambda: processing(s, new), 90, "the new worker to process", s)
            assert run.poll() is None, "citycc run exited when its worker died"
            assert "killed by SIGKILL" in log.read_text()
            run.send_signal(signal.SIGTERM)
            assert run.wait(120) == 0
        finally:
            if run.poll() is None:
                run.kill()
                run.wait(10)
                citycc(s, "stop", "--keep-infra", timeout=150)
        after = status(s)
        for name in ("supervisor", "worker", "cockpit", "simulator"):
            assert after[name]["pid"] is None, f"{name} still running"
        assert after["broker"]["pid"] == broker_pid and after["broker"]["healthy"]
