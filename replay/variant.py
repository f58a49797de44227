"""A what-if's configuration: checked overrides (:mod:`replay.overrides`) applied to the
:class:`replay.setup.ReplaySetup` in force (pure: the configuration files the overrides
need, the run-card document and the fleet at another scale, are read by the caller).

The setup in force is never changed: every function returns a new object, so the baseline
and the variant replay from the same point.
"""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass
from functools import partial
from typing import Any, Mapping

from city.profile import CityProfile
from detectors.plan import PartitionDetector
from dispatch.config import DispatchConfig
from dispatch.errors import DispatchConfigError
from dispatch.eta import EtaConfig
from dispatch.runcards import RunCards, parse_runcards
from replay.overrides import BAD_VALUE, DETECTORS, Overrides, OverridesError, apply_alerting
from replay.setup import Detectors, ReplaySetup


def apply_profile(profile: CityProfile, ov: Overrides) -> CityProfile:
    """``profile`` with the overridden alarm limits (a new profile; the given one is
    shared, cached by ``load_profile``, and never changed)."""
    if not ov.limits:
        return profile
    limits = dict(profile.limits)
    for kind, changes in ov.limits.items():
        limits[kind] = dataclasses.replace(limits[kind], **changes)
    return dataclasses.replace(profile, limits=limits)


def apply_runcards(base_doc: Mapping[str, Any], ov: Overrides,
                   districts: frozenset[str] | None = None) -> RunCards:
    """The run cards of ``base_doc`` (the parsed run-card file) with the overrides' cards
    put in (by id) and the removed ones left out, checked like the shipped file (a
    mistake in an override card: its place in the overrides, ``runcards.cards[1]...``)."""
    removed = set(ov.runcards.get("remove", ()))
    cards = [dict(c) for c in base_doc.get("cards", ()) if c.get("id") not in removed]
    ids = [c.get("id") for c in cards]
    origin: dict[int, int] = {}     # position in the merged document -> in the overrides
    for j, card in enumerate(ov.runcards.get("cards", ())):
        if card["id"] in ids:
            i = ids.index(card["id"])
            cards[i] = card
        else:
            i = len(cards)
            cards.append(card)
            ids.append(card["id"])
        origin[i] = j
    try:
        return parse_runcards({"version": 1, "cards": cards}, "overrides", districts)
    except DispatchConfigError as exc:
        path = exc.path
        for i, j in origin.items():
            if path == f"cards[{i}]" or path.startswith(f"cards[{i}]."):
                path = f"cards[{j}]" + path[len(f"cards[{i}]"):]
                break
        raise OverridesError(BAD_VALUE, f"runcards.{path}", exc.reason) from exc


def apply_dispatch(config: DispatchConfig, ov: Overrides) -> DispatchConfig:
    """The board's settings with the overridden ones (the fleet ``scale`` is not one of
    them: :func:`dispatch_scale`)."""
    d = {k: v for k, v in ov.dispatch.items() if k not in ("scale", "eta")}
    if "eta" in ov.dispatch:
        d["eta"] = dataclasses.replace(config.eta if isinstance(config.eta, EtaConfig)
                                       else EtaConfig(), **ov.dispatch["eta"])
    return dataclasses.replace(config, **d) if d else config


def dispatch_scale(base: float, ov: Overrides) -> float:
    return float(ov.dispatch.get("scale", base))


@dataclass(frozen=True)
class DetectorsWith:
    """A setup's detector factory with some detectors' parameters changed: the factory's
    detectors, those named in ``params`` built again with their overrides."""

    base: Any            # ReplaySetup.detectors
    params: Mapping[str, Mapping[str, Any]]

    def __call__(self, profile: CityProfile, road_names: Mapping[str, tuple[str, str]]
                 ) -> Detectors:
        events, partitions = self.base(profile, road_names)
        events = [self._build(d.name, profile, road_names) if d.name in self.params else d
                  for d in events]
        partitions = [PartitionDetector(p.name, p.streams,
                                        partial(DETECTORS[p.name], profile,
                                                **self.params[p.name]))
                      if p.name in self.params else p for p in partitions]
        return events, partitions

    def _build(self, name: str, profile: CityProfile,
               road_names: Mapping[str, tuple[str, str]]) -> Any:
        cls = DETECTORS[name]
        sig = inspect.signature(cls).parameters
        kw = dict(self.params[name])
        if "road_names" in sig:
            kw["road_names"] = road_names
        return cls(profile, **kw) if "profile" in sig else cls(**kw)


@dataclass(frozen=True)
class VariantSetup(ReplaySetup):
    """A :class:`ReplaySetup` whose board takes its own settings (``dispatch_config``)."""

    dispatch_config: DispatchConfig = DispatchConfig()

    def new_board(self) -> Any:
        if self.dispatch is None:
            return None
        from dispatch.board import Board
        d = self.dispatch
        return Board(self.profile, d.graph, d.registry, d.runcards, self.dispatch_config)


def with_overrides(setup: ReplaySetup, ov: Overrides, *,
                   runcards_doc: Mapping[str, Any] | None = None,
                   registry: Any = None) -> ReplaySetup:
    """The variant's setup. ``runcards_doc``: the run-card file in force (needed when the
    overrides change run cards); ``registry``: the fleet at the overrides' scale (needed
    when they change it)."""
    changes: dict[str, Any] = {"profile": apply_profile(setup.profile, ov),
                               "alerting": apply_alerting(setup.alerting, ov)}
    if ov.detectors:
        changes["detectors"] = DetectorsWith(setup.detectors, ov.detectors)
    d = setup.dispatch
    if d is not None and (ov.runcards.get("cards") or ov.runcards.get("remove")):
        if runcards_doc is None:
            raise ValueError("the overrides change run cards: pass the run-card document")
        d = dataclasses.replace(d, runcards=apply_runcards(
            runcards_doc, ov, setup.profile.district_codes))
    if d is not None and "scale" in ov.dispatch:
        if registry is None:
            raise ValueError("the overrides change the fleet's scale: pass its registry")
        d = dataclasses.replace(d, registry=registry, scale=dispatch_scale(d.scale, ov))
    changes["dispatch"] = d
    fields = {f.name: getattr(setup, f.name) for f in dataclasses.fields(setup)}
    fields.update(changes)
    fields["dispatch_config"] = apply_dispatch(
        getattr(setup, "dispatch_config", DispatchConfig()), ov)
    return VariantSetup(**fields)
