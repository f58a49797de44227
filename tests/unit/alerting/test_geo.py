"""alerting.geo: the grid's cell floors never exceed a distance to a point in the cell."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from alerting.geo import CellFloors, cell_of, cells_near, km_between

lats = st.floats(-80, 80)
lons = st.floats(-179, 179)
cell_degs = st.sampled_from([0.001, 0.01, 0.05, 0.5])


@settings(max_examples=800, deadline=None)
@given(lats, lons, st.floats(-0.3, 0.3), st.floats(-0.3, 0.3), cell_degs)
def test_a_cell_floor_is_a_lower_bound_of_every_distance_into_the_cell(
        lat: float, lon: float, dlat: float, dlon: float, cell_deg: float) -> None:
    plat, plon = lat + dlat, lon + dlon
    floors = CellFloors(lat, lon, cell_deg)
    assert floors(cell_of(plat, plon, cell_deg)) <= km_between(lat, lon, plat, plon)


@settings(max_examples=300, deadline=None)
@given(lats, lons, cell_degs, st.integers(-3, 3), st.integers(-3, 3),
       st.floats(0, 1), st.floats(0, 1))
def test_floors_hold_at_cell_corners_and_edges(lat: float, lon: float, cell_deg: float,
                                               di: int, dj: int, u: float, v: float) -> None:
    i, j = cell_of(lat, lon, cell_deg)
    cell = (i + di, j + dj)
    plat = (cell[0] + u) * cell_deg
    plon = (cell[1] + v) * cell_deg
    if cell_of(plat, plon, cell_deg) == cell:
        assert CellFloors(lat, lon, cell_deg)(cell) <= km_between(lat, lon, plat, plon)


def test_the_floor_of_the_cell_holding_the_point_is_zero_and_far_cells_are_far() -> None:
    floors = CellFloors(28.2, 112.98, 0.01)
    assert floors(cell_of(28.2, 112.98, 0.01)) == 0.0
    far = floors(cell_of(28.3, 112.98, 0.01))   # ~11 km north
    assert 10.0 < far < km_between(28.2, 112.98, 28.3, 112.98)


def test_cells_near_cover_the_radius() -> None:
    lat, lon, km = 28.2, 112.98, 2.0
    cells = set(cells_near(lat, lon, km, 0.01))
    for k in range(360):
        a = math.radians(k)
        plat = lat + km * 0.999 * math.cos(a) / 111.19
        plon = lon + km * 0.999 * math.sin(a) / (111.19 * math.cos(math.radians(lat)))
        assert km_between(lat, lon, plat, plon) <= km
        assert cell_of(plat, plon, 0.01) in cells
