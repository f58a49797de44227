"""Run cards (response plans): which capabilities an incident needs, by type x area x time.

Parsed from a YAML document (``dispatch/<city>_runcards.yaml``, read by
``city.dispatch_config``) and checked at load: every mistake is a
:class:`~dispatch.errors.DispatchConfigError` naming its path and the reason. Matching is
a pure function of (type, subtype, district, local hour): the most specific card wins.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

from dispatch.errors import DispatchConfigError
from dispatch.units import CAPABILITIES

INCIDENT_TYPES = ("fire", "hazmat", "gas", "water", "traffic", "ems")
# How long a recommended package may wait for a dispatcher's decision before the console
# shows it late, where a card names no ``decide_s`` of its own (the cards that do say which
# standard their value comes from). 180 s: the console's target before cards named one.
DEFAULT_DECIDE_S = 180
_CARD_KEYS = {"id", "zh", "en", "match", "needs", "priority", "max_per_station", "decide_s"}
_MATCH_KEYS = {"type", "subtype", "districts", "hours"}
_NEED_KEYS = {"capability", "count", "per_patient", "max", "zh", "en"}


@dataclass(frozen=True)
class Need:
    capability: str
    count: int
    per_patient: float = 0.0
    max: int = 0
    zh: str = ""
    en: str = ""

    def slots(self, patients: int) -> int:
        """How many units of it, for ``patients`` reported patients."""
        n = self.count
        if self.per_patient > 0 and patients > 0:
            n = max(n, math.ceil(patients * self.per_patient))
        return min(n, self.max) if self.max else n


@dataclass(frozen=True)
class RunCard:
    id: str
    zh: str
    en: str
    type: str                              # an incident type, or "*"
    subtype: str = ""
    districts: frozenset[str] = frozenset()
    hours: tuple[tuple[int, int], ...] = ()
    needs: tuple[Need, ...] = ()
    priority: bool = False
    max_per_station: int = 0               # 0: no cap
    order: int = 0
    decide_s: int = DEFAULT_DECIDE_S       # the decision target (the console's timer)

    @property
    def specificity(self) -> int:
        return 4 * bool(self.subtype) + 2 * bool(self.districts) + bool(self.hours) + \
            8 * (self.type != "*")

    def matches(self, type_: str, subtype: str, district: str, hour: int) -> bool:
        return ((self.type in ("*", type_)) and (not self.subtype or self.subtype == subtype)
                and (not self.districts or district in self.districts)
                and (not self.hours or any(_in_hours(hour, a, b) for a, b in self.hours)))

    def describe(self, why: str) -> dict[str, Any]:
        """The ``card`` member of a package payload: which card and why it was chosen."""
        return {"id": self.id, "zh": self.zh, "en": self.en, "why": why,
                "needs": [{"capability": n.capability, "count": n.count} for n in self.needs],
                "priority": self.priority, "max_per_station": self.max_per_station,
                "decide_s": self.decide_s}


def _in_hours(hour: int, a: int, b: int) -> bool:
    return a <= hour < b if a <= b else (hour >= a or hour < b)


class _Check:
    def __init__(self, source: str, districts: frozenset[str] | None) -> None:
        self.source, self.districts = source, districts

    def fail(self, path: str, reason: str) -> DispatchConfigError:
        return DispatchConfigError(self.source, path, reason)

    def mapping(self, v: Any, path: str, keys: set[str]) -> Mapping[str, Any]:
        if not isinstance(v, Mapping):
            raise self.fail(path, f"must be a mapping, got {type(v).__name__}")
        extra = sorted(str(k) for k in v if k not in keys)
        if extra:
            raise self.fail(f"{path}.{extra[0]}", f"unknown key; known: {sorted(keys)}")
        return v

    def text(self, v: Any, path: str, required: bool = True) -> str:
        if v is None and not required:
            return ""
        if not isinstance(v, str) or (required and not v.strip()):
            raise self.fail(path, "must be a non-empty string")
        return v

    def integer(self, v: Any, path: str, lo: int, hi: int) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise self.fail(path, f"must be an integer in [{lo}, {hi}], got {v!r}")
        return v

    def need(self, v: Any, path: str) -> Need:
        m = self.mapping(v, path, _NEED_KEYS)
        cap = m.get("capability")
        if cap not in CAPABILITIES:
            raise self.fail(f"{path}.capability",
                            f"unknown capability {cap!r}; known: {list(CAPABILITIES)}")
        pp = m.get("per_patient", 0.0)
        if isinstance(pp, bool) or not isinstance(pp, (int, float)) or not 0 <= pp <= 10:
            raise self.fail(f"{path}.per_patient", "must be a number in [0, 10]")
        return Need(str(cap), self.integer(m.get("count"), f"{path}.count", 1, 50), float(pp),
                    self.integer(m.get("max", 0), f"{path}.max", 0, 200),
                    self.text(m.get("zh"), f"{path}.zh", False),
                    self.text(m.get("en"), f"{path}.en", False))

    def card(self, v: Any, path: str, order: int) -> RunCard:
        c = self.mapping(v, path, _CARD_KEYS)
        for k in ("id", "zh", "en", "match", "needs"):
            if k not in c:
                raise self.fail(f"{path}.{k}", "is required")
        m = self.mapping(c["match"], f"{path}.match", _MATCH_KEYS)
        type_ = m.get("type")
        if type_ not in (*INCIDENT_TYPES, "*"):
            raise self.fail(f"{path}.match.type",
                            f"must be one of {list(INCIDENT_TYPES)} or '*', got {type_!r}")
        districts = m.get("districts", [])
        if not isinstance(districts, list) or not all(isinstance(d, str) for d in districts):
            raise self.fail(f"{path}.match.districts", "must be a list of district codes")
        for i, d in enumerate(districts):
            if self.districts is not None and d not in self.districts:
                raise self.fail(f"{path}.match.districts[{i}]",
                                f"unknown district {d!r}; known: {sorted(self.districts)}")
        hours_raw = m.get("hours", [])
        if not isinstance(hours_raw, list):
            raise self.fail(f"{path}.match.hours", "must be a list of [from, to) hour ranges")
        hours = []
        for i, h in enumerate(hours_raw):
            hp = f"{path}.match.hours[{i}]"
            if not isinstance(h, list) or len(h) != 2:
                raise self.fail(hp, "must be [from, to) local hours")
            a, b = self.integer(h[0], hp, 0, 23), self.integer(h[1], hp, 0, 24)
            if a == b:
                raise self.fail(hp, "an empty range (from == to)")
            hours.append((a, b))
        needs_raw = c["needs"]
        if not isinstance(needs_raw, list) or not needs_raw:
            raise self.fail(f"{path}.needs", "must be a non-empty list")
        needs = tuple(self.need(n, f"{path}.needs[{i}]") for i, n in enumerate(needs_raw))
        caps = [n.capability for n in needs]
        dup = next((x for x in caps if caps.count(x) > 1), None)
        if dup:
            raise self.fail(f"{path}.needs", f"capability {dup!r} listed twice (use count)")
        prio = c.get("priority", False)
        if not isinstance(prio, bool):
            raise self.fail(f"{path}.priority", "must be true or false")
        return RunCard(self.text(c["id"], f"{path}.id"), self.text(c["zh"], f"{path}.zh"),
                       self.text(c["en"], f"{path}.en"), str(type_),
                       self.text(m.get("subtype"), f"{path}.match.subtype", False),
                       frozenset(districts), tuple(hours), needs, prio,
                       self.integer(c.get("max_per_station", 0), f"{path}.max_per_station",
                                    0, 100), order,
                       self.integer(c.get("decide_s", DEFAULT_DECIDE_S), f"{path}.decide_s",
                                    10, 1800))


@dataclass(frozen=True)
class RunCards:
    cards: tuple[RunCard, ...]

    def match(self, type_: str, subtype: str, district: str, hour: int) -> tuple[RunCard, str]:
        """The most specific matching card and why it was chosen."""
        hits = [c for c in self.cards if c.matches(type_, subtype, district, hour)]
        best = min(hits, key=lambda c: (-c.specificity, c.order))   # "*" always matches
        keys = [f"type={type_}"]
        if best.subtype:
            keys.append(f"subtype={subtype}")
        if best.districts:
            keys.append(f"district={district}")
        if best.hours:
            keys.append(f"hour={hour}")
        if best.type == "*":
            keys = [f"default (no card for type={type_} subtype={subtype or '-'})"]
        return best, ", ".join(keys)

    def get(self, card_id: str) -> RunCard | None:
        return next((c for c in self.cards if c.id == card_id), None)


def parse_runcards(raw: Any, source: str = "runcards",
                   districts: frozenset[str] | None = None) -> RunCards:
    """Check a parsed run-card document (``districts``: the city's codes, to check areas)."""
    chk = _Check(source, districts)
    top = chk.mapping(raw, "", {"version", "cards"})
    if top.get("version") != 1:
        raise chk.fail("version", f"must be 1, got {top.get('version')!r}")
    cards_raw = top.get("cards")
    if not isinstance(cards_raw, list) or not cards_raw:
        raise chk.fail("cards", "must be a non-empty list")
    cards = tuple(chk.card(c, f"cards[{i}]", i) for i, c in enumerate(cards_raw))
    seen: dict[str, int] = {}
    for i, c in enumerate(cards):
        if c.id in seen:
            raise chk.fail(f"cards[{i}].id", f"duplicate id {c.id!r} (also cards[{seen[c.id]}])")
        seen[c.id] = i
    keys: dict[tuple[Any, ...], int] = {}
    for i, c in enumerate(cards):
        k = (c.type, c.subtype, c.districts, c.hours)
        if k in keys:
            raise chk.fail(f"cards[{i}].match", f"same match as cards[{keys[k]}] (never used)")
        keys[k] = i
    if not any(c.type == "*" and not (c.subtype or c.districts or c.hours) for c in cards):
        raise chk.fail("cards", "needs a default card: match {type: '*'} with no other key")
    return RunCards(cards)
