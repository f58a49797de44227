"""``GET /metrics``: the cockpit's and the workers' figures for Prometheus (prometheus-client).

Why a custom collector: the figures already exist as counters of the hub, the gate, the
feed and the supervisor's status file; reading them when Prometheus scrapes gives the
values as they are, with no second set of counters to keep in step. The workers' figures
are read from their metrics files at the same moment (:mod:`streams.worker_metrics`):
one scrape target for the whole command center.

Each cockpit has its own :class:`~prometheus_client.CollectorRegistry` (not the global
default), so two cockpits in one test process never share a metric. Plain HTTP, no sign-in
(Prometheus scrapes without one): it says **counts only** -- no user, incident, alert or
unit names or ids; labels are bounded sets (message types, alert states, topics and
partitions, process names, error codes). See README "Security".
"""

from __future__ import annotations

import http
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from websockets.http11 import Request, Response

from alerting.alert_model import STATES
from streams.worker_metrics import read_all

from .hub import AlertHub
from .pages import Gate, respond

PREFIX = "citycc_cockpit"
Lag = Callable[[], Mapping[tuple[str, int], int]]


class CockpitCollector:
    """The hub's, the gate's and the feed's counters, and the supervised processes'
    restarts (``processes()``: the supervisor's status as :func:`read_processes` gives it)."""

    def __init__(self, hub: AlertHub, gate: Gate | None = None, lag: Lag | None = None,
                 processes: Callable[[], Mapping[str, Any]] | None = None) -> None:
        self.hub, self.gate, self.lag = hub, gate, lag
        self.processes = processes or (lambda: hub.processes)

    def collect(self) -> Iterable[Metric]:
        hub, c = self.hub, self.hub.counters
        yield GaugeMetricFamily(f"{PREFIX}_websocket_clients",
                                "Signed-in websocket clients subscribed to the hub",
                                value=hub.client_count)
        yield CounterMetricFamily(f"{PREFIX}_queue_drops",
                                  "Clients dropped because their send queue overflowed",
                                  value=c.dropped_clients)
        received = CounterMetricFamily(f"{PREFIX}_messages",
                                       "Feed messages accepted into the hub, by type",
                                       labels=["type"])
        for source, n in sorted(c.received.items()):
            received.add_metric([source.replace(" ", "_")], n)
        yield received
        malformed = CounterMetricFamily(
            f"{PREFIX}_malformed", "Messages the cockpit could not use, by message type "
            "(the reason text is in the log)", labels=["type"])
        for source, n in sorted(c.malformed_by.items()):
            malformed.add_metric([source.replace(" ", "_")], n)
        yield malformed
        states = GaugeMetricFamily(f"{PREFIX}_alerts", "Alerts the hub holds, by lifecycle "
                                   "state", labels=["state"])
        counts = hub.alert_states.counts()
        for state in sorted(set(STATES) | set(counts)):
            states.add_metric([state], counts.get(state, 0))
        yield states
        yield GaugeMetricFamily(f"{PREFIX}_open_incidents", "Open incidents the hub holds",
                                value=len(hub.incidents))
        yield GaugeMetricFamily(f"{PREFIX}_feed_connected", "1 while the feed is connected "
                                "to the broker", value=int(hub.feed_state == "connected"))
        if self.lag is not None:
            lag = GaugeMetricFamily(f"{PREFIX}_feed_lag", "Messages behind the end of each "
                                    "followed partition (the cockpit's own consumer)",
                                    labels=["topic", "partition"])
            for (topic, partition), n in sorted(self.lag().items()):
                lag.add_metric([topic, str(partition)], n)
            yield lag
        if self.gate is not None:
            refused = CounterMetricFamily(f"{PREFIX}_handshakes_refused", "Websocket "
                                          "handshakes refused, by reason", labels=["reason"])
            for reason, n in sorted(self.gate.refused.items()):
                refused.add_metric([reason], n)
            yield refused
        restarts = CounterMetricFamily("citycc_process_restarts", "Restarts of each "
                                       "supervised process (the supervisor's status file)",
                                       labels=["process"])
        for name, entry in sorted(self.processes().items()):
            restarts.add_metric([name], int(entry.get("restarts") or 0))
        yield restarts


class WorkerCollector:
    """The workers' figures from their metrics files in ``app_dir`` (read at each scrape)."""

    def __init__(self, app_dir: Path) -> None:
        self.app_dir = app_dir

    def collect(self) -> Iterable[Metric]:
        records = read_all(self.app_dir)
        events = CounterMetricFamily("citycc_worker_events_in", "Input events taken by "
                                     "the worker, by stream", labels=["worker", "stream"])
        dead = CounterMetricFamily("citycc_worker_dead_letters", "Dead letters the worker "
                                   "published, by code", labels=["worker", "code"])
        alerts = GaugeMetricFamily("citycc_worker_alerts", "Alerts the worker's engine "
                                   "holds, by lifecycle state", labels=["worker", "state"])
        lag = GaugeMetricFamily("citycc_worker_consumer_lag", "Messages behind the end of "
                                "each assigned partition", labels=["worker", "topic",
                                                                   "partition"])
        written = GaugeMetricFamily("citycc_worker_metrics_written_seconds", "When the "
                                    "worker last wrote these figures (Unix time): an old "
                                    "one means a stopped worker", labels=["worker"])
        for r in records:
            w = r["worker_id"]
            for stream, n in sorted(r["events_in"].items()):
                events.add_metric([w, stream], n)
            for code, n in sorted(r["dead_letters"].items()):
                dead.add_metric([w, code], n)
            for state, n in sorted(r["alerts"].items()):
                alerts.add_metric([w, state], n)
            for topic, partition, n in r["lag"]:
                lag.add_metric([w, topic, str(partition)], n)
            written.add_metric([w], r["written_ms"] / 1000)
        return [events, dead, alerts, lag, written]


class Metrics:
    """One cockpit's registry, its HTTP request counter and the ``/metrics`` handler."""

    def __init__(self, hub: AlertHub, gate: Gate | None = None, lag: Lag | None = None,
                 app_dir: Path | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(CockpitCollector(hub, gate, lag))
        if app_dir is not None:
            self.registry.register(WorkerCollector(app_dir))
        self.requests = Counter(f"{PREFIX}_http_requests", "Authenticated API requests, by "
                                "route and HTTP status", ["route", "status"],
                                registry=self.registry)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def handler(self, request: Request) -> Response:
        # the 0.0.4 text format: every Prometheus reads it (OpenMetrics needs negotiation)
        return respond(http.HTTPStatus.OK, CONTENT_TYPE_PLAIN_0_0_4, self.exposition())
