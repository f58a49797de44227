"""``/metrics``: the cockpit's and the workers' figures in the Prometheus text format
(prometheus-client), parsed back with its parser; they move when things happen. Also the
plain-HTTP route table the endpoint hangs on."""

from __future__ import annotations

import asyncio
import http
import http.client
import socket
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.datastructures import Headers
from websockets.http11 import Request

from alerting.config import default_config
from alerting.engine import Engine
from citycc.settings import Settings
from cockpit_api.auth.limits import ConnectionCap
from cockpit_api.auth.testing import write_test_users
from cockpit_api.feed import KafkaFeed
from cockpit_api.hub import AlertHub
from cockpit_api.metrics import Metrics
from cockpit_api.pages import Gate, Routes, make_process_request, respond
from cockpit_api.server import serve
from schemas.records import make_alert
from schemas.validate import format_event_time
from streams.worker_metrics import WorkerMetrics, metrics_path, read_all
from unit_helpers import NOW_MS, PROFILE


def samples(text: str | bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition: (name, sorted labels) -> value."""
    if isinstance(text, bytes):
        text = text.decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(text: str | bytes, name: str, **labels: str) -> float | None:
    return samples(text).get((name, tuple(sorted(labels.items()))))


def fire(t: int, entity: str = "GASC-1") -> dict[str, Any]:
    return make_alert(detector="limit", kind="gas_concentration_high", status="firing",
                      severity="critical", stream="lifeline", entity_id=entity,
                      district="furong", district_zh="芙蓉区", district_en="Furong",
                      lat=28.19, lon=112.99, event_time=format_event_time(t), value=1.0,
                      threshold=1.0, unit="", title_zh="燃气", title_en="gas",
                      evidence=["e1"], detected_at=format_event_time(t))


def test_the_cockpit_figures_move_with_what_happens() -> None:
    hub = AlertHub(queue_size=2)
    gate = Gate(ConnectionCap(10, 2))
    lag = {("citycc.alerts", 0): 0}
    m = Metrics(hub, gate, lambda: dict(lag))
    before = m.exposition()
    assert value(before, "citycc_cockpit_websocket_clients") == 0
    assert value(before, "citycc_cockpit_alerts", state="firing") == 0
    assert value(before, "citycc_cockpit_messages_total", type="alert_event") == 0

    out = Engine(default_config(), PROFILE).alerts([fire(NOW_MS)], NOW_MS + 1000)
    for ev in out.alert_events:
        assert hub.publish_alert_event(ev.to_dict())
    for iev in out.incident_events:
        assert hub.publish_incident_event(iev.to_row())
    assert not hub.publish_alert_event({"nothing": "useful"})
    hub.record_malformed("citycc.alerts[0]@7: not JSON", "citycc.alerts")
    sub = hub.subscribe()
    lag[("citycc.alerts", 0)] = 42
    gate.refused["origin"] += 1
    hub.processes = {"worker-0": {"restarts": 3}, "simulator": {"restarts": 0}}

    after = m.exposition()
    assert value(after, "citycc_cockpit_websocket_clients") == 1
    assert value(after, "citycc_cockpit_alerts", state="firing") == 1
    assert value(after, "citycc_cockpit_open_incidents") == 1
    assert value(after, "citycc_cockpit_messages_total", type="alert_event") == 1
    assert value(after, "citycc_cockpit_messages_total", type="incident_event") == \
        len(out.incident_events)
    assert value(after, "citycc_cockpit_malformed_total", type="alert_event") == 1
    assert value(after, "citycc_cockpit_malformed_total", type="citycc.alerts") == 1
    assert value(after, "citycc_cockpit_feed_lag", topic="citycc.alerts", partition="0") == 42
    assert value(after, "citycc_cockpit_handshakes_refused_total", reason="origin") == 1
    assert value(after, "citycc_process_restarts_total", process="worker-0") == 3

    # a client that stops reading overflows its queue and is dropped (with alerts: a newer
    # stats message only replaces a pending one, it never fills a queue)
    assert value(after, "citycc_cockpit_queue_drops_total") == 0
    for i in range(3):
        hub.publish({"fingerprint": f"overflow-{i}", "status": "firing"})
    assert sub.closed
    dropped = m.exposition()
    assert value(dropped, "citycc_cockpit_queue_drops_total") == 1
    assert value(dropped, "citycc_cockpit_websocket_clients") == 0


def test_each_cockpit_has_its_own_registry() -> None:
    a, b = Metrics(AlertHub()), Metrics(AlertHub())
    a.requests.labels("kpi_trend", "200").inc()
    assert value(a.exposition(), "citycc_cockpit_http_requests_total", route="kpi_trend",
                 status="200") == 1
    assert value(b.exposition(), "citycc_cockpit_http_requests_total", route="kpi_trend",
                 status="200") is None


def test_worker_figures_come_from_their_metrics_files(tmp_path: Path) -> None:
    run = tmp_path / "run"
    w = WorkerMetrics(metrics_path(run, "w0"), "w0", 123)
    w.count_events("lifeline", 5)
    w.count_dead([{"code": "bad_time"}, {"code": "bad_time"}, {"code": "too_large"}])
    w.write({"firing": 2, "acknowledged": 1, "resolved": 0},
            {("citycc.lifeline", 0): 7, ("citycc.ems", 1): 0}, NOW_MS)
    (run / "app" / "metrics-broken.json").write_text("{not json")
    (run / "app" / "metrics-odd.json").write_bytes(orjson.dumps({"worker_id": "x"}))
    assert [r["worker_id"] for r in read_all(run / "app")] == ["w0"]
    m = Metrics(AlertHub(), app_dir=run / "app")
    text = m.exposition()
    assert value(text, "citycc_worker_events_in_total", worker="w0", stream="lifeline") == 5
    assert value(text, "citycc_worker_dead_letters_total", worker="w0", code="bad_time") == 2
    assert value(text, "citycc_worker_alerts", worker="w0", state="firing") == 2
    assert value(text, "citycc_worker_consumer_lag", worker="w0", topic="citycc.lifeline",
                 partition="0") == 7
    assert value(text, "citycc_worker_metrics_written_seconds", worker="w0") == NOW_MS / 1000
    w.count_events("lifeline", 2)
    w.write({}, {}, NOW_MS + 1000)
    assert value(m.exposition(), "citycc_worker_events_in_total", worker="w0",
                 stream="lifeline") == 7


class FakeConsumer:
    def __init__(self, ends: dict[Any, int]) -> None:
        self.ends = ends

    def assignment(self) -> set[Any]:
        return set(self.ends)

    def highwater(self, tp: Any) -> int | None:
        return self.ends[tp]


def test_the_feed_lag_is_the_end_minus_the_next_offset_to_read() -> None:
    from aiokafka import TopicPartition
    hub = AlertHub()
    feed = KafkaFeed(Settings(), hub)
    a, b, c = (TopicPartition("citycc.alerts", p) for p in range(3))
    assert feed.lag() == {}                                  # not connected
    feed._consumer = FakeConsumer({a: 100, b: 50, c: None})  # type: ignore[assignment]
    hub.feed_state = "connected"
    feed.starts = {a: 80, b: 50, c: 0}
    feed.positions = {a: 90}
    assert feed.lag() == {("citycc.alerts", 0): 10, ("citycc.alerts", 1): 0}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_metrics_are_served_without_sign_in_and_name_nobody(tmp_path: Path) -> None:
    settings = Settings(cockpit_port=free_port(), run_dir=tmp_path / "run",
                        kafka_bootstrap=f"127.0.0.1:{free_port()}")
    write_test_users(settings.users_path)
    hub = AlertHub()
    out = Engine(default_config(), PROFILE).alerts([fire(NOW_MS)], NOW_MS + 1000)
    for ev in out.alert_events:
        hub.publish_alert_event(ev.to_dict())
    for iev in out.incident_events:
        hub.publish_incident_event(iev.to_row())

    class Null:
        async def send(self, key: str, value: bytes) -> None:
            pass

    async def scenario() -> tuple[int, str, str]:
        ready = asyncio.Event()
        task = asyncio.create_task(serve(settings, hub, ready=ready, commands=Null(),
                                         audit=Null(), profile=PROFILE))
        await ready.wait()
        try:
            def get() -> tuple[int, str, str]:
                conn = http.client.HTTPConnection("127.0.0.1", settings.cockpit_port,
                                                  timeout=10)
                conn.request("GET", "/metrics")
                r = conn.getresponse()
                return r.status, r.getheader("Content-Type") or "", r.read().decode()
            return await asyncio.to_thread(get)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    status, content_type, text = asyncio.run(scenario())
    assert status == 200 and content_type.startswith("text/plain; version=0.0.4")
    assert value(text, "citycc_cockpit_alerts", state="firing") == 1
    iid = out.incident_events[0].incident_id
    for secret in (iid, out.alert_events[0].fingerprint, "GASC-1", "张伟", "furong"):
        assert secret not in text


def request(path: str) -> Request:
    return Request(path, Headers())


def test_routes_find_exact_paths_then_the_longest_prefix() -> None:
    routes = Routes()
    routes.add("/api/kpi/trend", lambda r: respond(http.HTTPStatus.OK, "text/plain", b"t"))
    routes.add_prefix("/api/", lambda r: respond(http.HTTPStatus.NOT_FOUND, "text/plain", b"a"))
    routes.add_prefix("/api/incidents/", lambda r: respond(http.HTTPStatus.OK, "text/plain",
                                                           b"i"))
    assert routes.find("/api/kpi/trend")(request("/")).body == b"t"   # type: ignore[misc]
    assert routes.find("/api/incidents/X/cap")(request("/")).body == b"i"  # type: ignore[misc]
    assert routes.find("/api/other")(request("/")).body == b"a"         # type: ignore[misc]
    assert routes.find("/other") is None


def test_a_handler_that_fails_is_500_without_a_traceback() -> None:
    routes = Routes()

    def broken(r: Request) -> Any:
        raise RuntimeError("secret detail")

    async def slow(r: Request) -> Any:
        await asyncio.sleep(0)
        return respond(http.HTTPStatus.OK, "text/plain", b"ok")

    routes.add("/broken", broken)
    routes.add("/slow", slow)
    process = make_process_request(Gate(ConnectionCap(1, 1)), routes)

    async def ask(path: str) -> Any:
        return await process(None, request(path))   # type: ignore[arg-type]

    broke = asyncio.run(ask("/broken"))
    assert broke.status_code == 500 and b"secret" not in broke.body
    assert broke.headers["X-Frame-Options"] == "DENY"
    assert asyncio.run(ask("/slow")).body == b"ok"
    assert asyncio.run(ask("/nope")).status_code == 404


@pytest.mark.parametrize("path", ["/", "/healthz", "/core.js", "/screen", "/words.js"])
def test_the_page_routes_still_answer(path: str) -> None:
    hub = AlertHub()
    process = make_process_request(Gate(ConnectionCap(1, 1)), hub.stats)
    response = asyncio.run(process(None, request(path)))   # type: ignore[arg-type]
    assert response.status_code == 200 and response.headers["Content-Security-Policy"]
