"""The simulator's ambulances and fire units at their stations: the dispatch registry's
units (same ids, same home stations), or for a city without a fleet configuration one kind
per fleet spread over its hospitals and fire stations (as before the registry)."""

from __future__ import annotations

from typing import Any

import numpy as np

from city.profile import CityProfile

from .world import Points, Schedule, apportion


def fleet_at_stations(profile: CityProfile, rng: np.random.Generator, prefix: str,
                      source: str, bases: tuple, n: int, weights: list[float],
                      period: int) -> Points:
    per = apportion(n, weights)
    ids, src, lat, lon = [], [], [], []
    for f, k in zip(bases, per):
        tag = f.id.split("-", 1)[-1]
        for j in range(k):
            ids.append(f"{prefix}-{tag}-{j + 1:02d}"), src.append(f"{source}-{tag}")
            lat.append(f.lat), lon.append(f.lon)
    la, lo = np.array(lat), np.array(lon)
    return Points(np.array(ids, object), np.array(profile.nearest_districts(la, lo), object),
                  np.array(src, object), la.copy(), lo.copy(), Schedule.random(n, period, rng),
                  {"base_lat": la, "base_lon": lo})


def registry_units(profile: CityProfile, scale: float) -> list[Any] | None:
    """The dispatch registry's units (dispatch.units; None if the city has no fleet file):
    the simulator's ambulances and fire units ARE these, same ids, same stations."""
    from city.dispatch_config import load_fleet
    from dispatch.errors import DispatchConfigError
    from dispatch.units import build_registry
    try:
        fleet = load_fleet(profile.name)
    except DispatchConfigError:
        return None
    return list(build_registry(profile, scale, fleet).units)


def registry_fleet(profile: CityProfile, rng: np.random.Generator, specs: list[Any],
                    source: str, period: int) -> Points:
    """A fleet of registry units: sources are their station's AVL feed."""
    la = np.array([u.home_lat for u in specs], float)
    lo = np.array([u.home_lon for u in specs], float)
    src = [f"{source}-{u.station_id.split('-', 1)[-1]}" for u in specs]
    return Points(np.array([u.id for u in specs], object),
                  np.array([u.district for u in specs], object), np.array(src, object),
                  la.copy(), lo.copy(), Schedule.random(len(specs), period, rng),
                  {"base_lat": la, "base_lon": lo,
                   "kind": np.array([u.kind for u in specs], object),
                   "caps": np.array([u.capabilities for u in specs] + [None], object)[:-1]})
