"""Physical-limit detector with hysteresis, vectorised over a batch of readings.

A reading beyond a kind's alarm level starts firing its (entity, kind); it resolves only when
a reading comes back inside the *recover* level, so a value hovering at the alarm level does
not flap. Levels come from the city profile. Pure: no I/O, no clock; state lives in the
object (``firing``), pickles, and can be checkpointed with :meth:`snapshot`/:meth:`restore`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np

HIGH, LOW = "high", "low"


@dataclass(frozen=True)
class LimitLevels:
    """Alarm and recover levels of one kind (NaN where the side has no limit)."""

    kind: str
    severity: str
    high_alarm: float = float("nan")
    high_recover: float = float("nan")
    low_alarm: float = float("nan")
    low_recover: float = float("nan")


@dataclass(frozen=True)
class Transition:
    """A state change the detector decided: ``status`` is "firing" or "resolved"."""

    index: int  # position of the deciding reading in the batch
    entity_id: str
    kind: str
    side: str  # "high" | "low"
    status: str
    value: float
    threshold: float
    severity: str
    recover: float = float("nan")  # the level the value must come back inside to resolve


def levels_from_profile(limits: Mapping[str, object]) -> list[LimitLevels]:
    """Adapt the city profile's ``Limit`` records (None -> NaN, recover defaults to alarm)."""
    out = []
    for kind, lim in limits.items():
        def g(name: str) -> float:
            v = getattr(lim, name)
            return float("nan") if v is None else float(v)
        hi, lo = g("high_alarm"), g("low_alarm")
        hi_rec, lo_rec = g("high_recover"), g("low_recover")
        out.append(LimitLevels(kind, getattr(lim, "severity"), hi,
                               hi if np.isnan(hi_rec) else hi_rec, lo,
                               lo if np.isnan(lo_rec) else lo_rec))
    return out


class LimitDetector:
    """Per (entity, kind) high/low limits with hysteresis."""

    def __init__(self, levels: Sequence[LimitLevels]) -> None:
        self.levels = tuple(levels)
        self._index = {lv.kind: i for i, lv in enumerate(self.levels)}
        # An extra row of NaN for kinds without limits: comparisons with NaN are False.
        table = np.array([[lv.high_alarm, lv.high_recover, lv.low_alarm, lv.low_recover]
                          for lv in self.levels] + [[np.nan] * 4], dtype=np.float64)
        self._hi_a, self._hi_r, self._lo_a, self._lo_r = table.T
        self.firing: dict[tuple[str, str], str] = {}

    def kind_indices(self, kinds: Iterable[str]) -> np.ndarray:
        none = len(self.levels)
        return np.fromiter((self._index.get(k, none) for k in kinds), dtype=np.intp)

    def update(self, entity_ids: Sequence[str], kinds: Sequence[str],
               values: np.ndarray) -> list[Transition]:
        """Feed a batch (in event-time order per entity); return the state changes."""
        k = self.kind_indices(kinds)
        with np.errstate(invalid="ignore"):
            high = values >= self._hi_a[k]
            low = values <= self._lo_a[k]
            back_hi = values < self._hi_r[k]
            back_lo = values > self._lo_r[k]
        beyond = np.flatnonzero(high | low)
        firing = self.firing
        # Rows that can change state: readings beyond a limit, and every later reading of an
        # (entity, kind) that is firing or starts firing in this batch.
        watch = set(firing).union((entity_ids[i], kinds[i]) for i in beyond.tolist())
        rows = [i for i, key in enumerate(zip(entity_ids, kinds)) if key in watch] \
            if watch else []
        out: list[Transition] = []
        for i in rows:
            key = (entity_ids[i], kinds[i])
            side = firing.get(key)
            lv = self.levels[k[i]]
            if side is None:
                if not (high[i] or low[i]):
                    continue
                side = HIGH if high[i] else LOW
                firing[key] = side
                out.append(self._transition(i, key, side, "firing", values[i], lv))
            elif (low[i] if side == HIGH else high[i]):
                # Jumped to the other side (over-pressure, then a rupture): both are news.
                out.append(self._transition(i, key, side, "resolved", values[i], lv))
                side = firing[key] = LOW if side == HIGH else HIGH
                out.append(self._transition(i, key, side, "firing", values[i], lv))
            elif back_hi[i] if side == HIGH else back_lo[i]:
                del firing[key]
                out.append(self._transition(i, key, side, "resolved", values[i], lv))
        return out

    @staticmethod
    def _transition(i: int, key: tuple[str, str], side: str, status: str, value: float,
                    lv: LimitLevels) -> Transition:
        threshold = lv.high_alarm if side == HIGH else lv.low_alarm
        recover = lv.high_recover if side == HIGH else lv.low_recover
        return Transition(i, key[0], key[1], side, status, float(value), threshold,
                          lv.severity, recover)

    def snapshot(self) -> dict[str, str]:
        """State as a flat mapping ``"kind|entity" -> side`` (for a Faust table)."""
        return {f"{kind}|{entity}": side for (entity, kind), side in self.firing.items()}

    def restore(self, snapshot: Mapping[str, str]) -> None:
        for key, side in snapshot.items():
            kind, _, entity = key.partition("|")
            # a kind whose limits were removed from the profile since the checkpoint is dropped
            if side in (HIGH, LOW) and kind in self._index:
                self.firing[(entity, kind)] = side
