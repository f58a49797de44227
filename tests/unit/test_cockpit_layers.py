"""cockpit_api.layers: the map's live layers (hazmat vehicles, congestion, units from the
board's unit_positions batches), batched fan-out, bounded sizes, the feed's decoder and who
sees which items."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest

from citycc.settings import Settings
from cockpit_api.auth.roles import Principal
from cockpit_api.dispatch_view import DispatchView
from cockpit_api.errors import MalformedMessage
from cockpit_api.feed import KafkaFeed, sources_for
from cockpit_api.hub import AlertHub
from cockpit_api.layers import (LEVELS, LayerLimits, Layers, congestion_level, decode_input)
from cockpit_api.visibility import Audience
from schemas.validate import Policy, format_event_time
from unit_helpers import PROFILE

T0 = int(time.time() * 1000) // 1000 * 1000
UNITS = [
    {"unit_id": "ENG-S1-01", "kind": "engine", "agency": "fire", "district": "furong",
     "status": "available", "status_ms": None, "incident_id": "", "stale": False,
     "lat": 28.19, "lon": 113.01},
    {"unit_id": "AMB-H1-01", "kind": "ambulance", "agency": "ems", "district": "yuelu",
     "status": "available", "status_ms": None, "incident_id": "", "stale": False,
     "lat": 28.20, "lon": 112.90},
]


def vehicle(vid: str, t: int, lat: float = 28.2, lon: float = 113.0,
            district: str = "furong") -> dict[str, Any]:
    return {"type": "vehicle_gps", "entity_id": vid, "ts_ms": T0 + t, "lat": lat, "lon": lon,
            "speed_kmh": 40.0, "heading": 90.0, "un_number": "1005", "hazard_class": "2.3",
            "district": district}


def segment(sid: str, t: int, speed: float, occupancy: float = 0.1,
            district: str = "furong") -> dict[str, Any]:
    return {"type": "segment", "entity_id": sid, "ts_ms": T0 + t, "lat": 28.2, "lon": 113.0,
            "speed_kmh": speed, "flow_vph": 900.0, "occupancy": occupancy,
            "district": district}


@pytest.mark.parametrize(("speed", "free", "occ", "level"), [
    (60, 60, None, 0), (42, 60, None, 0), (41, 60, None, 1), (30, 60, None, 1),
    (29, 60, None, 2), (18, 60, None, 2), (17, 60, None, 3), (0, 60, None, 3),
    (10, None, 0.1, 0), (10, None, 0.2, 1), (10, None, 0.3, 2), (10, None, 0.5, 3),
    (10, None, None, 0)])
def test_congestion_level(speed: float, free: float | None, occ: float | None,
                          level: int) -> None:
    assert congestion_level(speed, free, occ) == level
    assert LEVELS[level]


def test_many_vehicle_fixes_go_out_as_one_message_per_flush() -> None:
    layers = Layers()
    layers.observe("hazmat", [vehicle(f"HZV-{i % 50}", i * 10) for i in range(500)])
    [msg] = layers.flush(T0 + 5_000)
    assert msg["type"] == "positions" and msg["layer"] == "hazmat"
    assert len(msg["items"]) == 50
    assert msg["items"]["HZV-7"] == {"lat": 28.2, "lon": 113.0, "at_ms": T0 + 4_570,
                                     "district": "furong", "speed_kmh": 40.0,
                                     "heading": 90.0, "un_number": "1005",
                                     "hazard_class": "2.3"}
    assert layers.flush(T0 + 6_000) == []                  # nothing new: nothing sent
    layers.observe("hazmat", [vehicle("HZV-7", -1_000, lat=28.3)])   # an older fix
    assert layers.flush(T0 + 7_000) == []
    assert layers.part()["hazmat"]["HZV-7"]["lat"] == 28.2


def test_layers_are_bounded_and_forget_the_silent() -> None:
    layers = Layers(limits=LayerLimits(max_items=3, ttl_s=60))
    layers.observe("hazmat", [vehicle(f"V{i}", i) for i in range(5)])
    [msg] = layers.flush(T0)
    assert msg["items"] == {**{f"V{i}": msg["items"][f"V{i}"] for i in (2, 3, 4)},
                            "V0": None, "V1": None}
    assert set(layers.part()["hazmat"]) == {"V2", "V3", "V4"}
    layers.observe("hazmat", [vehicle("V4", 30_000)])
    [msg] = layers.flush(T0 + 61_000)                       # V2, V3 silent for a minute
    assert msg["items"]["V2"] is None and msg["items"]["V3"] is None
    assert msg["items"]["V4"] is not None
    assert set(layers.part()["hazmat"]) == {"V4"}


def test_congestion_is_sent_when_its_level_changes_not_for_free_roads() -> None:
    layers = Layers(free_kmh={"ring2": 60.0})
    layers.observe("traffic", [segment("ring2:3", 0, 58.0), segment("SEG-9", 0, 50.0, 0.1)])
    assert layers.flush(T0) == []                           # flowing: nothing to draw
    layers.observe("traffic", [segment("ring2:3", 30_000, 20.0)])
    [msg] = layers.flush(T0 + 30_000)
    assert msg == {"type": "congestion", "items": {"ring2:3": {
        "lat": 28.2, "lon": 113.0, "level": 2, "speed_kmh": 20.0, "at_ms": T0 + 30_000,
        "district": "furong", "free_kmh": 60.0}}}
    layers.observe("traffic", [segment("ring2:3", 60_000, 22.0)])      # a small change
    assert layers.flush(T0 + 60_000) == []
    layers.observe("traffic", [segment("SEG-9", 60_000, 12.0, 0.45)])  # occupancy: jammed
    layers.observe("traffic", [segment("ring2:3", 90_000, 59.0)])      # flowing again
    [msg] = layers.flush(T0 + 90_000)
    assert {k: v["level"] for k, v in msg["items"].items()} == {"ring2:3": 0, "SEG-9": 3}
    assert set(layers.part()["congestion"]) == {"SEG-9"}


def test_folding_is_cheap_at_city_volume() -> None:
    """city-1x: ~150 hazmat fixes and ~70 detector readings a second; folding a minute of
    them must take a small share of that minute."""
    layers = Layers(free_kmh={"r": 60.0})
    fixes = [vehicle(f"HZV-{i % 1500}", i * 6) for i in range(9_000)]
    readings = [segment(f"r:{i % 2000}", i * 14, 20.0 + i % 40) for i in range(4_200)]
    started = time.perf_counter()
    layers.observe("hazmat", fixes)
    layers.observe("traffic", readings)
    msgs = layers.flush(T0 + 60_000)
    took = time.perf_counter() - started
    assert [m["type"] for m in msgs] == ["positions", "congestion"]
    assert took < 1.0, f"{took:.2f} s for a minute of city-1x layer events"


# --- the feed's decoder -------------------------------------------------------------------

def _raw(**change: Any) -> dict[str, Any]:
    return {"event_id": "e1", "type": "vehicle_gps", "event_time": format_event_time(T0),
            "source": "gw", "entity_id": "HZV-1", "lat": 28.2, "lon": 113.0,
            "un_number": "1005", "hazard_class": "2.3", **change}


def test_the_decoder_validates_each_event_as_the_worker_does() -> None:
    decode = decode_input("hazmat", Policy.for_city(PROFILE), 1 << 20, 100,
                          clock=lambda: T0 / 1000)
    [ev] = decode(orjson.dumps(_raw()))
    assert ev["entity_id"] == "HZV-1" and ev["ts_ms"] == T0
    batch = {"events": [_raw(), _raw(lat=95.0), _raw(un_number="x"), _raw(entity_id="HZV-2")]}
    assert [e["entity_id"] for e in decode(orjson.dumps(batch))] == ["HZV-1", "HZV-2"]
    for bad in (b"{", b"[]", orjson.dumps(_raw(lat=1.0)), orjson.dumps({"events": []}),
                orjson.dumps(_raw(event_time="2000-01-01T00:00:00Z")), None):
        with pytest.raises(MalformedMessage):
            decode(bad)


def test_the_feed_follows_traffic_and_hazmat_into_the_layers() -> None:
    settings = Settings(topic_prefix="cc")
    hub = AlertHub()
    feed = KafkaFeed(settings, hub)
    names = [s.topic for s in sources_for(hub, settings)]
    assert names[-2:] == ["traffic", "hazmat"] and "cc.hazmat" in feed.sources
    from aiokafka import TopicPartition
    feed._handle(feed.sources["cc.hazmat"], TopicPartition("cc.hazmat", 0), 1,
                 orjson.dumps({"events": [_raw(event_time=format_event_time(
                     int(time.time() * 1000)))]}))
    feed._handle(feed.sources["cc.hazmat"], TopicPartition("cc.hazmat", 0), 2, b"[1]")
    assert hub.counters.received["hazmat event"] == 1 and hub.counters.malformed == 1
    assert set(hub.snapshot()["layers"]["hazmat"]) == {"HZV-1"}
    assert not hub.publish_layer_event("lifeline", [{"type": "reading"}])


# --- through the hub ----------------------------------------------------------------------

def drain(sub: Any) -> list[dict[str, Any]]:
    out = []
    while not sub.queue.empty():
        out.append(orjson.loads(sub.queue.get_nowait()))
    return out


def audience(role: str, agency: str = "", districts: tuple[str, ...] = ()) -> Audience:
    return Audience.of(Principal("u", role, agency, districts))


def test_the_hub_batches_layer_events_and_cuts_them_per_audience() -> None:
    hub = AlertHub(dispatch=DispatchView(UNITS), layers=Layers())
    everyone = hub.subscribe()
    yuelu = hub.subscribe(audience("supervisor", "", ("yuelu",)))
    ems = hub.subscribe(audience("dispatcher", "120"))
    drain(everyone), drain(yuelu), drain(ems)
    for i in range(20):   # twenty fixes of two vehicles: no message yet
        assert hub.publish_layer_event("hazmat", [vehicle("HZ-F", i), vehicle(
            "HZ-Y", i, district="yuelu")])
    assert drain(everyone) == []
    hub.flush_layers(T0 + 1_000)
    [msg] = drain(everyone)
    assert msg["type"] == "positions" and set(msg["items"]) == {"HZ-F", "HZ-Y"}
    [cut] = drain(yuelu)
    assert set(cut["items"]) == {"HZ-Y"}
    assert drain(ems) == []                    # a 120 dispatcher: no hazmat layer
    snap = drain(hub.subscribe(audience("supervisor", "", ("yuelu",))))[0]
    assert set(snap["layers"]["hazmat"]) == {"HZ-Y"}
    assert set(snap["layers"]["units"]) == {"AMB-H1-01"}       # as on the unit board


def test_unit_positions_move_the_unit_board_and_reach_the_map() -> None:
    hub = AlertHub(dispatch=DispatchView(UNITS))
    sub = hub.subscribe()
    drain(sub)

    def batch(rid: str, t: int, **units: tuple[float, float]) -> dict[str, Any]:
        return {"record_id": rid, "kind": "unit_positions", "at": format_event_time(T0 + t),
                "at_ms": T0 + t, "incident_id": "", "unit_id": "", "actor": "dispatch",
                "payload": {"full": False, "units": {u: {
                    "lat": p[0], "lon": p[1], "at_ms": T0 + t - 500, "status": "en_route",
                    "district": "tianxin", "incident_id": "", "stale": False}
                    for u, p in units.items()}}}
    assert hub.publish_dispatch_record(batch("D-1", 5_000, **{"ENG-S1-01": (28.15, 112.99),
                                                              "NEW-1": (28.3, 113.1)}))
    [msg] = drain(sub)
    assert msg["type"] == "positions" and msg["layer"] == "units"
    eng = msg["items"]["ENG-S1-01"]
    assert (eng["lat"], eng["lon"], eng["at_ms"], eng["at_district"], eng["district"]) == (
        28.15, 112.99, T0 + 4_500, "tianxin", "furong")
    row = hub.dispatch.unit("ENG-S1-01")
    assert row is not None and (row["lat"], row["lon"]) == (28.15, 112.99)
    assert row["status"] == "available"        # statuses come from unit_status records
    assert hub.dispatch.unit("NEW-1") is not None                # heard of: added
    assert hub.publish_dispatch_record(batch("D-0", 1_000, **{"ENG-S1-01": (28.0, 112.0)}))
    assert drain(sub) == [] and hub.dispatch.unit("ENG-S1-01")["lat"] == 28.15   # older
    assert not hub.publish_dispatch_record({**batch("D-9", 9_000), "payload": {"units": [1]}})
    assert hub.snapshot()["layers"]["units"]["ENG-S1-01"]["lat"] == 28.15
    assert hub.dispatch.snapshot()["timelines"] == {}                 # in no timeline


# --- sensor health ------------------------------------------------------------------------

def alert(fp: str, kind: str, entity: str, district: str, status: str = "firing",
          stream: str = "lifeline", detector: str = "limit") -> dict[str, Any]:
    return {"fingerprint": fp, "status": status, "kind": kind, "entity_id": entity,
            "district": district, "stream": stream, "detector": detector,
            "severity": "major"}


def test_sensor_health_counts_lifeline_sensors_by_condition_and_district() -> None:
    hub = AlertHub()
    sub = hub.subscribe()
    drain(sub)
    for a in (alert("f1", "gas_concentration_high", "GAS-1", "furong"),
              alert("f2", "gas_concentration_deviation", "GAS-1", "furong"),  # same sensor
              alert("f3", "sensor_nodata", "WP-2", "furong"),
              alert("f4", "sensor_stuck", "WP-3", "yuelu"),
              alert("f5", "sensor_out_of_range_burst", "WP-4", "yuelu"),
              alert("f6", "gas_cluster", "G-area", "yuelu", detector="clusters"),  # an area
              alert("f7", "traffic_congestion", "SEG-1", "yuelu", stream="traffic")):
        assert hub.publish(a)
    hub.flush_layers(T0)
    health = [m for m in drain(sub) if m["type"] == "sensor_health"]
    assert len(health) == 1                                    # batched: one message
    assert health[0]["health"] == {
        "city": {"alarm": 1, "silent": 1, "stuck": 1, "bad_data": 1},
        "districts": {"furong": {"alarm": 1, "silent": 1, "stuck": 0, "bad_data": 0},
                      "yuelu": {"alarm": 0, "silent": 0, "stuck": 1, "bad_data": 1}}}
    hub.publish(alert("f1", "gas_concentration_high", "GAS-1", "furong", status="resolved"))
    hub.flush_layers(T0 + 1_000)
    assert [m for m in drain(sub) if m["type"] == "sensor_health"][0]["health"]["city"][
        "alarm"] == 1                                           # f2 still firing for GAS-1
    hub.publish(alert("f2", "gas_concentration_deviation", "GAS-1", "furong",
                      status="resolved"))
    hub.flush_layers(T0 + 2_000)
    hub.flush_layers(T0 + 3_000)                               # unchanged: not sent again
    [msg] = [m for m in drain(sub) if m["type"] == "sensor_health"]
    assert msg["health"]["city"]["alarm"] == 0
    utilities = drain(hub.subscribe(audience("supervisor", "", ("yuelu",))))[0]
    assert utilities["layers"]["sensor_health"] == {
        "city": None, "districts": {"yuelu": {"alarm": 0, "silent": 0, "stuck": 1,
                                              "bad_data": 1}}}
    ems = drain(hub.subscribe(audience("dispatcher", "120")))[0]
    assert ems["layers"]["sensor_health"] == {"city": None, "districts": {}}


def test_the_server_sends_the_layers_batched_to_a_signed_in_client(tmp_path: Any) -> None:
    """Real sockets: the server's ticker flushes the layers once a second; a burst of fixes
    reaches the client as one positions message."""
    import asyncio
    import socket

    from cockpit_api.auth.testing import signed_in, write_test_users
    from cockpit_api.server import serve

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    settings = Settings(cockpit_port=port, run_dir=tmp_path)
    write_test_users(settings.users_path)
    hub = AlertHub()

    class Nowhere:
        async def send(self, key: str, value: bytes) -> None:
            pass

    async def scenario() -> list[dict[str, Any]]:
        ready = asyncio.Event()
        server = asyncio.create_task(serve(settings, hub, ready=ready, commands=Nowhere(),
                                           audit=Nowhere(), basemap=b"{}"))
        await ready.wait()
        got: list[dict[str, Any]] = []
        try:
            async with signed_in(port) as ws:
                now = int(time.time() * 1000) - T0
                for i in range(200):
                    hub.publish_layer_event("hazmat", [vehicle(f"HZ-{i % 20}", now + i)])
                async with asyncio.timeout(10):
                    while not got:
                        msg = orjson.loads(await ws.recv())
                        if msg["type"] == "positions":
                            got.append(msg)
                try:                      # nothing more of it for another second
                    async with asyncio.timeout(1.2):
                        while True:
                            msg = orjson.loads(await ws.recv())
                            if msg["type"] == "positions":
                                got.append(msg)
                except TimeoutError:
                    pass
        finally:
            server.cancel()
            await asyncio.gather(server, return_exceptions=True)
        return got

    [msg] = asyncio.run(scenario())
    assert msg["layer"] == "hazmat" and len(msg["items"]) == 20


def test_the_decoder_passes_over_the_types_no_layer_uses() -> None:
    decode = decode_input("hazmat", Policy.for_city(PROFILE), 1 << 20, 100,
                          clock=lambda: T0 / 1000)
    tank = {"event_id": "t1", "type": "tank_reading", "event_time": "not even checked"}
    assert decode(orjson.dumps({"events": [tank, tank]})) == []          # taken, unused
    assert [e["entity_id"] for e in decode(orjson.dumps({"events": [tank, _raw()]}))] == \
        ["HZV-1"]
    for bad in ({"events": [tank, _raw(lat=95.0)]}, {"type": "segment"}, {"foo": 1}):
        with pytest.raises(MalformedMessage):
            decode(orjson.dumps(bad))
