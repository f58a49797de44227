"""city.basemap: the cockpit's base map (interface 1 of issue 15), and GET /basemap.json
through the real server."""

from __future__ import annotations

import asyncio
import socket
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from city.basemap import basemap, circle, corridor
from city.dispatch_config import registry_for
from city.polygons import in_polygon, ring_problems
from city.profile import load_profile
from city.roads_geom import dist_m
from citycc.settings import Settings
from cockpit_api.auth.testing import write_test_users
from cockpit_api.hub import AlertHub
from cockpit_api.server import serve

PROFILE = load_profile("changsha")
LAYERS = {"district", "road", "river", "station", "geofence"}


@pytest.fixture(scope="module")
def bm() -> dict[str, Any]:
    return basemap(PROFILE)


def _of(bm: dict[str, Any], layer: str) -> list[dict[str, Any]]:
    return [f for f in bm["features"] if f["properties"]["layer"] == layer]


def test_every_layer_is_there_with_names(bm: dict[str, Any]) -> None:
    assert bm["type"] == "FeatureCollection"
    assert set(Counter(f["properties"]["layer"] for f in bm["features"])) == LAYERS
    assert {f["properties"]["code"] for f in _of(bm, "district")} == PROFILE.district_codes
    for f in bm["features"]:
        p = f["properties"]
        assert p["name_zh"] and p["name_en"], p
        assert p["layer"] in LAYERS


def test_roads_have_their_class_and_rivers_are_separate(bm: dict[str, Any]) -> None:
    roads = _of(bm, "road")
    assert len(roads) > 50
    assert {f["properties"]["class"] for f in roads} >= {"expressway", "arterial", "ring"}
    assert {f["properties"]["id"] for f in _of(bm, "river")} >= {"xiang"}
    assert all(f["geometry"]["type"] == "LineString" for f in roads + _of(bm, "river"))


def test_stations_carry_the_fleet_based_there(bm: dict[str, Any]) -> None:
    st = {f["properties"]["id"]: f["properties"] for f in _of(bm, "station")}
    reg = registry_for(PROFILE)
    assert set(st) == set(reg.stations())                     # every base, no other
    assert sum(sum(p["units"].values()) for p in st.values()) == len(reg)
    assert st["F-FR"]["kind"] == "fire_station" and st["F-FR"]["units"]["engine"] > 0
    assert st["H-XY1"]["kind"] == "hospital" and set(st["H-XY1"]["units"]) == {"ambulance"}
    depot = st["TP-furong"]
    assert depot["kind"] == "depot" and depot["name_zh"] == "芙蓉区交警大队"
    assert depot["name_en"] == "Furong traffic police brigade"


def test_geofences_are_the_hazmat_detectors_zones(bm: dict[str, Any]) -> None:
    from detectors.hazmat import HazmatDetector
    zones = {z["key"]: z for z in HazmatDetector(PROFILE).zones}
    fences = {f["properties"]["id"]: f for f in _of(bm, "geofence")}
    assert set(fences) == set(zones)
    assert {f["properties"]["rule"] for f in fences.values()} == {"no_entry", "no_stop"}
    for key, f in fences.items():
        ring = [tuple(p) for p in f["geometry"]["coordinates"][0]]
        assert ring_problems(ring) == [], key
        z = zones[key]
        if not z["path"]:                                       # a circle around its centre
            assert in_polygon(z["lon"], z["lat"], [ring])


def test_bounds_and_centre(bm: dict[str, Any]) -> None:
    w, s, e, n = bm["bounds"]
    b = PROFILE.bounds
    assert b.lon_min <= w < e <= b.lon_max and b.lat_min <= s < n <= b.lat_max
    assert bm["center"] == [PROFILE.center[1], PROFILE.center[0]]


def test_circle_and_corridor_have_the_size_asked() -> None:
    ring = circle(28.2, 113.0, 500.0)["coordinates"][0]
    assert len(ring) == 33 and ring[0] == ring[-1]
    assert all(abs(dist_m((28.2, 113.0), (lat, lon)) - 500) < 2 for lon, lat in ring)
    band = corridor([(28.2, 113.0), (28.21, 113.0)], 200.0)["coordinates"][0]
    assert ring_problems([tuple(p) for p in band]) == []
    assert dist_m((band[0][1], band[0][0]), (band[-2][1], band[-2][0])) == pytest.approx(200, abs=2)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Nowhere:
    async def send(self, key: str, value: bytes) -> None:   # no broker in this test
        pass


def test_the_server_serves_it_without_sign_in(tmp_path: Path) -> None:
    settings = Settings(cockpit_port=_free_port(), run_dir=tmp_path / "run",
                        kafka_bootstrap=f"127.0.0.1:{_free_port()}")
    write_test_users(settings.users_path)

    def get(url: str) -> tuple[int, str, bytes]:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return r.status, r.headers["Content-Type"], r.read()
        except urllib.error.HTTPError as err:
            return err.code, err.headers["Content-Type"], err.read()

    async def scenario(data: bytes | None) -> tuple[int, str, bytes]:
        ready = asyncio.Event()
        task = asyncio.create_task(serve(settings, AlertHub(), ready=ready, commands=_Nowhere(),
                                         audit=_Nowhere(), stats_interval_s=60, basemap=data))
        await ready.wait()
        try:
            return await asyncio.to_thread(get, f"{settings.cockpit_url}basemap.json")
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    status, ctype, body = asyncio.run(scenario(None))
    assert status == 200 and ctype == "application/json"
    got = orjson.loads(body)
    assert {f["properties"]["code"] for f in got["features"]
            if f["properties"]["layer"] == "district"} == PROFILE.district_codes
    status, ctype, body = asyncio.run(scenario(b""))             # it could not be built
    assert status == 503 and orjson.loads(body)["error"]["code"] == "basemap_unavailable"
