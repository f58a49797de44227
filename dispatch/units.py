"""The unit registry: every response unit of every agency, with its home and capabilities.

Built deterministically (no random draws) from a fleet configuration (YAML, parsed by the
caller: ``city.dispatch_config.load_fleet``) and the city profile's hospitals, fire stations
and districts. A unit that reports on a stream but is not in the registry is not refused:
:meth:`Registry.default_unit` makes it a unit of that stream's default kind.

Ids: ``AMB-<hospital>-<nn>``, ``ENG-/LAD-/RSC-/HZT-<station>-<nn>`` (fire-stream units, all
reporting as fire ``engine_status``/``engine_gps``), ``TP-/GAS-/WTR-/ENV-<district>-<nn>``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np

from dispatch.errors import DispatchConfigError

CAPABILITIES = ("als", "bls", "negative_pressure", "engine", "ladder", "rescue", "hazmat",
                "traffic_control", "gas_repair", "water_repair", "env_monitoring")
CAP_INDEX = {c: i for i, c in enumerate(CAPABILITIES)}
CAPABILITY_TEXT = {   # capability -> (zh, en): the one vocabulary the cockpit shows
    "als": ("高级生命支持", "ALS"), "bls": ("基础生命支持", "BLS"),
    "negative_pressure": ("负压救护", "negative pressure"), "engine": ("水罐消防车", "engine"),
    "ladder": ("举高消防车", "ladder"), "rescue": ("抢险救援", "rescue"),
    "hazmat": ("危化品处置", "hazmat team"), "traffic_control": ("交通管制", "traffic control"),
    "gas_repair": ("燃气抢修", "gas repair"), "water_repair": ("供水抢修", "water repair"),
    "env_monitoring": ("环境监测", "environmental monitoring")}
UNIT_KINDS = ("ambulance", "engine", "ladder", "rescue", "hazmat", "traffic_police",
              "gas_crew", "water_crew", "env_monitor")
FIRE_KINDS = ("engine", "ladder", "rescue", "hazmat")
DISTRICT_KINDS = ("traffic_police", "gas_crew", "water_crew", "env_monitor")
STREAMS = ("ems", "fire")
# a unit heard on a stream but absent from the registry becomes one of these
STREAM_DEFAULT_KIND = {"ems": "ambulance", "fire": "engine"}


@dataclass(frozen=True)
class UnitSpec:
    id: str
    kind: str
    agency: str
    stream: str | None          # "ems" | "fire" | None: which input stream reports it
    capabilities: frozenset[str]
    station_id: str
    district: str
    home_lat: float
    home_lon: float
    crew: int


@dataclass(frozen=True)
class KindSpec:
    name: str
    prefix: str
    agency: str
    stream: str | None
    crew: int
    capabilities: frozenset[str]


@dataclass(frozen=True)
class FleetConfig:
    kinds: Mapping[str, KindSpec]
    ambulances: int
    als_share: float
    negative_pressure_share: float
    fire_units: int
    fire_mix: Mapping[str, float]
    district_units: Mapping[str, int]


def _need(raw: Any, key: str, path: str, source: str) -> Any:
    if not isinstance(raw, Mapping) or key not in raw:
        raise DispatchConfigError(source, path, f"missing key {key!r}")
    return raw[key]


def _number(v: Any, path: str, source: str, lo: float, hi: float) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
        raise DispatchConfigError(source, path, f"must be a number in [{lo}, {hi}], got {v!r}")
    return float(v)


def _kind(name: str, raw: Any, source: str) -> KindSpec:
    path = f"kinds.{name}"
    if name not in UNIT_KINDS:
        raise DispatchConfigError(source, path, f"unknown unit kind; known: {list(UNIT_KINDS)}")
    caps = _need(raw, "capabilities", path, source)
    if not isinstance(caps, list) or not caps:
        raise DispatchConfigError(source, f"{path}.capabilities", "must be a non-empty list")
    for c in caps:
        if c not in CAP_INDEX:
            raise DispatchConfigError(source, f"{path}.capabilities",
                                      f"unknown capability {c!r}; known: {list(CAPABILITIES)}")
    stream = _need(raw, "stream", path, source)
    if stream not in (*STREAMS, "none"):
        raise DispatchConfigError(source, f"{path}.stream", "must be ems, fire or none")
    prefix = _need(raw, "prefix", path, source)
    if not isinstance(prefix, str) or not prefix.isalnum():
        raise DispatchConfigError(source, f"{path}.prefix", "must be letters/digits")
    agency = _need(raw, "agency", path, source)
    if not isinstance(agency, str) or not agency:
        raise DispatchConfigError(source, f"{path}.agency", "must be a non-empty string")
    crew = int(_number(_need(raw, "crew", path, source), f"{path}.crew", source, 1, 20))
    return KindSpec(name, prefix, agency, None if stream == "none" else stream, crew,
                    frozenset(caps))


def parse_fleet(raw: Any, source: str = "fleet") -> FleetConfig:
    """Check a parsed fleet document; :class:`DispatchConfigError` names the path and why."""
    if not isinstance(raw, Mapping):
        raise DispatchConfigError(source, "", "a fleet configuration must be a mapping")
    kinds_raw = _need(raw, "kinds", "", source)
    if not isinstance(kinds_raw, Mapping):
        raise DispatchConfigError(source, "kinds", "must be a mapping")
    kinds = {str(k): _kind(str(k), v, source) for k, v in kinds_raw.items()}
    for k in UNIT_KINDS:
        if k not in kinds:
            raise DispatchConfigError(source, f"kinds.{k}", "missing unit kind")
    amb = _need(raw, "ambulances", "", source)
    fire = _need(raw, "fire", "", source)
    mix = _need(fire, "mix", "fire", source)
    if not isinstance(mix, Mapping):
        raise DispatchConfigError(source, "fire.mix", "must be a mapping")
    for k in mix:
        if k not in FIRE_KINDS or k == "engine":
            raise DispatchConfigError(source, f"fire.mix.{k}",
                                      "must be ladder, rescue or hazmat (the rest are engines)")
    fire_mix = {str(k): _number(v, f"fire.mix.{k}", source, 0, 1) for k, v in mix.items()}
    if sum(fire_mix.values()) > 0.9:
        raise DispatchConfigError(source, "fire.mix", "shares leave too few engines (> 0.9)")
    du = _need(raw, "district_units", "", source)
    if not isinstance(du, Mapping):
        raise DispatchConfigError(source, "district_units", "must be a mapping")
    for k in du:
        if k not in DISTRICT_KINDS:
            raise DispatchConfigError(source, f"district_units.{k}",
                                      f"must be one of {list(DISTRICT_KINDS)}")
    return FleetConfig(
        kinds=kinds,
        ambulances=int(_number(_need(amb, "total", "ambulances", source),
                               "ambulances.total", source, 0, 100_000)),
        als_share=_number(_need(amb, "als_share", "ambulances", source),
                          "ambulances.als_share", source, 0, 1),
        negative_pressure_share=_number(
            _need(amb, "negative_pressure_share", "ambulances", source),
            "ambulances.negative_pressure_share", source, 0, 1),
        fire_units=int(_number(_need(fire, "total", "fire", source), "fire.total", source,
                               0, 100_000)),
        fire_mix=fire_mix,
        district_units={str(k): int(_number(v, f"district_units.{k}", source, 0, 100_000))
                        for k, v in du.items()})


def apportion(total: int, weights: Sequence[float]) -> list[int]:
    """Split ``total`` by ``weights`` (largest remainder; ties go to the earlier entry)."""
    w = np.asarray(weights, np.float64)
    if total <= 0 or len(w) == 0 or w.sum() <= 0:
        return [0] * len(w)
    exact = w / w.sum() * total
    base = np.floor(exact).astype(int)
    order = sorted(range(len(w)), key=lambda i: (-(exact[i] - base[i]), i))
    for i in order[: total - int(base.sum())]:
        base[i] += 1
    return [int(x) for x in base]


class Registry:
    """The units, in a fixed order, with arrays for vectorised matching."""

    def __init__(self, units: Iterable[UnitSpec], kinds: Mapping[str, KindSpec]) -> None:
        self.units: tuple[UnitSpec, ...] = tuple(units)
        self.kinds = dict(kinds)
        self._index = {u.id: i for i, u in enumerate(self.units)}
        if len(self._index) != len(self.units):
            raise ValueError("unit ids must be unique")
        n = len(self.units)
        self.caps = np.zeros((n, len(CAPABILITIES)), bool)
        for i, u in enumerate(self.units):
            for c in u.capabilities:
                self.caps[i, CAP_INDEX[c]] = True
        self.home_lat = np.array([u.home_lat for u in self.units], np.float64)
        self.home_lon = np.array([u.home_lon for u in self.units], np.float64)

    def __len__(self) -> int:
        return len(self.units)

    def __iter__(self) -> Iterator[UnitSpec]:
        return iter(self.units)

    def __contains__(self, unit_id: object) -> bool:
        return unit_id in self._index

    def get(self, unit_id: str) -> UnitSpec | None:
        i = self._index.get(unit_id)
        return None if i is None else self.units[i]

    def index(self, unit_id: str) -> int | None:
        return self._index.get(unit_id)

    def default_unit(self, unit_id: str, stream: str, lat: float, lon: float,
                     district: str = "") -> UnitSpec:
        """A unit heard on ``stream`` but not configured: its stream's default kind, based
        where it was first seen."""
        k = self.kinds[STREAM_DEFAULT_KIND.get(stream, "engine")]
        return UnitSpec(unit_id, k.name, k.agency, k.stream, k.capabilities, "", district,
                        float(lat), float(lon), k.crew)

    def plus(self, *units: UnitSpec) -> "Registry":
        return Registry(self.units + tuple(units), self.kinds)

    def stations(self) -> dict[str, tuple[float, float]]:
        """Home station id -> (lat, lon) of the units based there."""
        out: dict[str, tuple[float, float]] = {}
        for u in self.units:
            if u.station_id:
                out.setdefault(u.station_id, (u.home_lat, u.home_lon))
        return out


def _unit(k: KindSpec, owner: str, nn: int, width: int, station: str, district: str,
          lat: float, lon: float, extra: frozenset[str] = frozenset()) -> UnitSpec:
    return UnitSpec(f"{k.prefix}-{owner}-{nn:0{width}d}", k.name, k.agency, k.stream,
                    k.capabilities | extra, station, district, lat, lon, k.crew)


def build_registry(profile: Any, scale: float = 1.0,
                   fleet: FleetConfig | Mapping[str, Any] | None = None) -> Registry:
    """The registry of ``profile``'s city at ``scale`` x the configured fleet."""
    if fleet is None:
        raise DispatchConfigError("fleet", "", "no fleet configuration given (load it with "
                                  "city.dispatch_config.load_fleet)")
    cfg = fleet if isinstance(fleet, FleetConfig) else parse_fleet(fleet)
    if not (math.isfinite(scale) and scale >= 0):
        raise ValueError(f"scale must be a finite number >= 0, got {scale!r}")
    kinds = cfg.kinds
    units: list[UnitSpec] = []
    dweight = {d.code: d.weight for d in profile.districts}
    # ambulances: by district weight, shared by the district's hospitals
    per_d = {c: sum(1 for h in profile.hospitals if h.district == c) for c in dweight}
    hw = [dweight.get(h.district, 0.0) / max(per_d.get(h.district, 1), 1)
          for h in profile.hospitals]
    amb = kinds["ambulance"]
    for h, n in zip(profile.hospitals, apportion(round(cfg.ambulances * scale), hw)):
        n_als = round(n * cfg.als_share)
        n_np = round(n * cfg.negative_pressure_share)
        for j in range(n):
            extra = frozenset({"als"}) if j < n_als else frozenset()
            if j >= n - n_np:
                extra |= {"negative_pressure"}
            units.append(_unit(amb, h.id, j + 1, 2, h.id, h.district, h.lat, h.lon, extra))
    # fire units: by the station's engines; each special kind's city-wide share spread
    # over the stations by size (at least one of each in any fleet), the rest engines
    fw = [float(f.engines) for f in profile.fire_stations]
    per_station = apportion(round(cfg.fire_units * scale), fw)
    total = sum(per_station)
    left = [max(n - 1, 0) for n in per_station]      # every staffed station keeps an engine
    counts: list[dict[str, int]] = [{} for _ in per_station]
    for kind, share in cfg.fire_mix.items():
        want = max(1, round(total * share)) if share > 0 and total > 0 else 0
        for i, k in enumerate(apportion(want, left)):
            counts[i][kind] = min(k, left[i])
            left[i] -= counts[i][kind]
    for f, n, c in zip(profile.fire_stations, per_station, counts):
        c["engine"] = n - sum(c.values())
        for kind in FIRE_KINDS:
            for j in range(c.get(kind, 0)):
                units.append(_unit(kinds[kind], f.id, j + 1, 2, f.id, f.district, f.lat,
                                   f.lon))
    # other agencies: by district weight, at the district centre
    dws = [d.weight for d in profile.districts]
    for kind in DISTRICT_KINDS:
        total = round(cfg.district_units.get(kind, 0) * scale)
        for d, n in zip(profile.districts, apportion(total, dws)):
            for j in range(n):
                units.append(_unit(kinds[kind], d.code, j + 1, 2, f"{kinds[kind].prefix}-"
                                   f"{d.code}", d.code, d.lat, d.lon))
    return Registry(units, kinds)
