"""bench/cockpit.py's client processes: each runs many signed-in websocket clients on one
event loop and answers its parent's commands over a pipe.

A client follows the sequence the way the page does (cockpit_api/protocol.py): a snapshot
or ``resumed`` sets the seq it holds, every delta's ``prev`` must equal it (else a *break*:
a loss). It keeps the bench alerts it received (``bench_i``) and, while measuring, the
latency of each from the producer's ``bench_ns`` to its receipt.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect

from alerting.labels import labels_of
from cockpit_api.auth.roles import Principal, View

STREAMS = ("ems", "fire", "lifeline", "traffic", "hazmat")


def bench_alert(i: int, districts: list[str], sent_ns: int = 0, pad: int = 0
                ) -> dict[str, Any]:
    """The bench's ``i``-th alert (deterministic but for its send time and padding)."""
    alert = {"fingerprint": f"bench-{i}", "alert_id": f"bench-{i}", "status": "firing",
             "stream": STREAMS[(i // len(districts)) % len(STREAMS)],
             "district": districts[i % len(districts)], "kind": "bench",
             "entity_id": f"BENCH-{i}", "detector": "limit", "severity": "minor",
             "bench_i": i, "bench_ns": sent_ns}
    if pad:   # random: the websocket's permessage-deflate would shrink "xxx..." to nothing
        alert["pad"] = secrets.token_urlsafe(pad * 3 // 4)
    return alert


@dataclass
class Client:
    user: str
    password: str
    ws: ClientConnection | None = None
    token: str = ""
    view: View = field(default_factory=View)
    epoch: str = ""
    seq: int | None = None
    snapshots: int = 0
    resumed: int = 0
    why: list[str] = field(default_factory=list)
    breaks: int = 0
    deltas: int = 0
    alerts: set[int] = field(default_factory=set)
    lat_ms: list[float] = field(default_factory=list)
    task: asyncio.Task[None] | None = None
    closed_by_server: int = 0


class Crowd:
    """The clients of one process."""

    def __init__(self, url: str, origin: str, users: list[tuple[str, str]],
                 compression: str | None = "deflate") -> None:
        self.url, self.origin, self.compression = url, origin, compression
        self.clients = [Client(u, p) for u, p in users]
        self.measuring = False
        self.ready = asyncio.Event()

    async def _open(self, c: Client, first: dict[str, Any]) -> None:
        c.ws = await connect(self.url, origin=self.origin, max_size=None,  # type: ignore[arg-type]
                             open_timeout=60, ping_interval=None,
                             compression=self.compression)
        await c.ws.send(orjson.dumps(first).decode())
        session = orjson.loads(await c.ws.recv())
        if session.get("type") != "session":
            raise RuntimeError(f"sign-in of {c.user} refused: {session}")
        c.token = session["token"]
        c.view = Principal(session["user"], session["role"], session["agency"],
                           tuple(session["districts"])).view
        c.task = asyncio.create_task(self._read(c))

    async def sign_in(self) -> None:
        await asyncio.gather(*(self._open(c, {"type": "login", "user": c.user,
                                               "password": c.password})
                               for c in self.clients))

    async def _read(self, c: Client) -> None:
        assert c.ws is not None
        try:
            async for raw in c.ws:
                now = time.time_ns()
                msg = orjson.loads(raw)
                kind = msg.get("type")
                if kind == "snapshot":
                    c.snapshots += 1
                    c.seq, c.epoch = msg["seq"], msg["epoch"]
                    if "why" in msg:
                        c.why.append(msg["why"])
                    continue
                if kind == "resumed":
                    c.resumed += 1
                    if msg["from"] != c.seq:
                        c.breaks += 1
                    continue
                if "seq" not in msg or "prev" not in msg:
                    continue
                if msg["prev"] != c.seq:
                    c.breaks += 1
                c.seq = msg["seq"]
                c.deltas += 1
                alert = msg.get("alert") if kind == "alert" else None
                if alert is not None and "bench_i" in alert:
                    c.alerts.add(alert["bench_i"])
                    if self.measuring:
                        c.lat_ms.append((now - alert["bench_ns"]) / 1e6)
        except Exception:   # noqa: BLE001 - a closed socket ends the reader
            pass
        if c.ws is not None and c.ws.close_code not in (None, 1000):
            c.closed_by_server += 1

    async def close_all(self) -> None:
        async def close(c: Client) -> None:
            if c.ws is not None:
                await c.ws.close()
            if c.task is not None:
                await c.task
        await asyncio.gather(*(close(c) for c in self.clients))

    async def resume_all(self) -> float:
        """Reconnect every client at once with its seq; seconds until all are resumed."""
        t0 = time.monotonic()
        await asyncio.gather(*(self._open(c, {"type": "auth", "token": c.token,
                                               "resume": c.seq, "epoch": c.epoch})
                               for c in self.clients))
        end = time.monotonic() + 60
        while any(c.resumed + len(c.why) == 0 for c in self.clients) and time.monotonic() < end:
            await asyncio.sleep(0.01)
        return time.monotonic() - t0

    def take(self, produced: int, districts: list[str]) -> dict[str, Any]:
        lat = [x for c in self.clients for x in c.lat_ms]
        missing = 0
        for c in self.clients:
            seen = c.view.sees_labels
            want = {i for i in range(produced)
                    if seen(labels_of(bench_alert(i, districts)))}
            missing += len(want - c.alerts)
        return {"lat": lat, "deltas": sum(c.deltas for c in self.clients),
                "breaks": sum(c.breaks for c in self.clients), "missing": missing,
                "snapshots": sum(c.snapshots for c in self.clients),
                "resumed": sum(c.resumed for c in self.clients),
                "why": [w for c in self.clients for w in c.why],
                "closed_by_server": sum(c.closed_by_server for c in self.clients)}


async def _serve(conn: Any, url: str, origin: str, users: list[tuple[str, str]],
                 compression: str | None) -> None:
    crowd = Crowd(url, origin, users, compression)
    loop = asyncio.get_running_loop()
    while True:
        cmd, arg = await loop.run_in_executor(None, conn.recv)
        if cmd == "sign_in":
            await crowd.sign_in()
            conn.send(True)
        elif cmd == "measure":
            crowd.measuring = bool(arg)
            for c in crowd.clients:
                c.deltas = 0 if arg else c.deltas
            conn.send(True)
        elif cmd == "close":
            await crowd.close_all()
            conn.send(True)
        elif cmd == "resume":
            conn.send(await crowd.resume_all())
        elif cmd == "take":
            conn.send(crowd.take(*arg))
        elif cmd == "quit":
            await crowd.close_all()
            conn.send(True)
            return


def run_clients(conn: Any, url: str, origin: str, users: list[tuple[str, str]],
                compression: str | None = "deflate") -> None:
    """A client process's main (multiprocessing target); ``compression`` None: the clients
    do not offer permessage-deflate (so the cockpit does not compress for them)."""
    asyncio.run(_serve(conn, url, origin, users, compression))


async def _hold(conn: Any, url: str, origin: str, users: list[tuple[str, str]]) -> None:
    """Slow clients: sign in, then never read again (the websockets client stops reading
    its socket once ``max_queue`` frames wait: TCP backpressure reaches the cockpit)."""
    sockets = []
    for user, password in users:
        # a small receive buffer (no autotuning to 32 MB on loopback): the cockpit, not the
        # kernel, is what holds the backlog of a client that stops reading
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 128 * 1024)
        sock.connect(("127.0.0.1", int(url.split(":")[2].split("/")[0])))
        ws = await connect(url, origin=origin, max_size=None, max_queue=1,  # type: ignore[arg-type]
                           ping_interval=None, sock=sock)
        await ws.send(orjson.dumps({"type": "login", "user": user,
                                    "password": password}).decode())
        sockets.append(ws)
    conn.send(True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, conn.recv)
    for ws in sockets:
        ws.transport.abort()
    conn.send(True)


def hold_clients(conn: Any, url: str, origin: str, users: list[tuple[str, str]]) -> None:
    asyncio.run(_hold(conn, url, origin, users))
