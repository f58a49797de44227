"""A tiny Grafana stand-in on 127.0.0.1 that replays a recorded HTTP exchange.

A real socket and a real HTTP server (``http.server``): grafana-client and its HTTP library
run unchanged. Each request is checked against the next recorded one (method, path, query,
the headers listed, the body's shape; see tests/fixtures/grafana/README.md) and answered
with the recorded response. Every request is kept (``received``) with what did not match
(``mismatches``), so a test asserts both what was sent and that nothing unexpected was.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "grafana"
TYPES: dict[str, type | tuple[type, ...]] = {
    "<string>": str, "<number>": (int, float), "<bool>": bool, "<object>": dict,
    "<array>": list, "<null>": type(None)}


def load(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return doc


def shape_errors(want: Any, got: Any, where: str = "body") -> list[str]:
    """Where ``got`` does not have the shape ``want`` (empty: it does)."""
    if isinstance(want, str) and want in TYPES:
        ok = isinstance(got, TYPES[want]) and not (want == "<number>" and isinstance(got, bool))
        return [] if ok else [f"{where}: want {want}, got {got!r:.80}"]
    if isinstance(want, dict):
        if not isinstance(got, dict):
            return [f"{where}: want an object, got {got!r:.80}"]
        out = []
        for k, v in want.items():
            out += [f"{where}.{k}: missing"] if k not in got else \
                shape_errors(v, got[k], f"{where}.{k}")
        return out
    return [] if want == got else [f"{where}: want {want!r:.80}, got {got!r:.80}"]


class Replay:
    def __init__(self, exchanges: Sequence[dict[str, Any]]) -> None:
        self.exchanges = list(exchanges)
        self.received: list[dict[str, Any]] = []
        self.mismatches: list[str] = []
        self.lock = threading.Lock()

    def answer(self, method: str, target: str, headers: dict[str, str], raw: bytes
               ) -> tuple[int, Any]:
        url = urlsplit(target)
        body = json.loads(raw) if raw else None
        with self.lock:
            n = len(self.received)
            self.received.append({"method": method, "path": url.path,
                                  "query": parse_qs(url.query), "headers": headers,
                                  "body": body})
            if n >= len(self.exchanges):
                self.mismatches.append(f"#{n} {method} {target}: no request expected")
                return 500, {"message": "unexpected request"}
            want, reply = self.exchanges[n]["request"], self.exchanges[n]["response"]
        errors = []
        if (method, url.path) != (want["method"], want["path"]):
            errors.append(f"want {want['method']} {want['path']}")
        if parse_qs(url.query) != want.get("query", {}):
            errors.append(f"query {parse_qs(url.query)} != {want.get('query')}")
        for h, v in want.get("headers", {}).items():
            got = headers.get(h.lower(), "")
            if got.split(";")[0].strip() != v:
                errors.append(f"header {h}: {got!r} != {v!r}")
        if "body" in want:
            errors += shape_errors(want["body"], body)
        elif body is not None:
            errors.append("a body where none is expected")
        if errors:
            with self.lock:
                self.mismatches.append(f"#{n} {method} {target}: " + "; ".join(errors))
        return int(reply["status"]), reply["body"]


def _handler(replay: Replay) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, body = replay.answer(self.command, self.path, headers, raw)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def serving(exchanges: Sequence[dict[str, Any]]) -> Iterator[tuple[str, Replay]]:
    """``(url, replay)`` of a server on a free port of 127.0.0.1, stopped afterwards."""
    replay = Replay(exchanges)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(replay))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", replay
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
