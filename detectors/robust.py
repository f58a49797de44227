"""Robust univariate detectors: rolling median/MAD, EWMA z-score and two-sided CUSUM.

Each scores a value against what it has learned so far (score before learn), in units of
the learned spread, so one threshold means roughly the same thing across sensors. Scores
are high = anomalous, >= 0 and always finite: a value that is not :func:`usable` (NaN, inf,
beyond :data:`LIMIT`) scores 0 and is not learned (validation dead-letters such readings
and :mod:`detectors.quality` reports their sensors); scores are capped at
:data:`MAX_SCORE`. All state is a fixed number of floats (a ring buffer for the median),
so memory does not grow.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from detectors.base import Detector

MAX_SCORE = 1e6            # cap, in spreads: keeps scores finite
LIMIT = 1e100              # |x| beyond this is no reading (and its square would overflow)
MAD_TO_SIGMA = 1.4826      # MAD of a normal distribution = 0.6745 sigma
MEANAD_TO_SIGMA = 1.2533   # mean absolute deviation of a normal = 0.7979 sigma
SIDES = ("both", "high", "low")
_CHUNK = 8192              # rows per vectorised median step (bounds temporary memory)


def usable(x: float) -> bool:
    """A value a detector can score and learn: finite and within :data:`LIMIT`."""
    return -LIMIT <= x <= LIMIT


def usable_mask(xs: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.abs(xs) <= LIMIT


def check_side(side: str) -> None:
    if side not in SIDES:
        raise ValueError(f"side must be one of {SIDES}, not {side!r}")


def one_sided(deviation: np.ndarray, side: str) -> np.ndarray:
    """|deviation|, or only its upward / downward part."""
    if side == "high":
        return np.maximum(deviation, 0.0)
    if side == "low":
        return np.maximum(-deviation, 0.0)
    return np.abs(deviation)


def capped(scores: np.ndarray) -> np.ndarray:
    """Scores made finite and capped (inf/inf from absurd inputs counts as no evidence)."""
    return np.minimum(np.nan_to_num(scores, nan=0.0, posinf=MAX_SCORE), MAX_SCORE)


def _scalar_cap(s: float) -> float:
    return 0.0 if s != s else min(s, MAX_SCORE)


def _explanation(x: float, score: float, baseline: float | None, spread: float | None,
                 window: int, **extra: Any) -> dict[str, Any]:
    dev = None if baseline is None else x - baseline
    return {"value": x, "score": score, "baseline": baseline, "spread": spread,
            "deviation": dev, "window": window, **extra}


def _median_mad(windows: np.ndarray, lengths: np.ndarray, xs: np.ndarray, side: str,
                min_spread: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(scores, medians, spreads) of each x against its row of ``windows``.

    A row holds ``lengths[i]`` values and +inf padding (a window still filling up). The
    same kernel serves one row (score_one) and many (process_many), so both give the same
    bits. Where the MAD is 0 (quantised or mostly constant data) the mean absolute
    deviation stands in for it (Iglewicz & Hoaglin); ``min_spread`` floors the spread.
    """
    rows = np.arange(len(windows))
    lo, hi = (lengths - 1) // 2, lengths // 2
    # np.sort of short rows is SIMD-accelerated and beats np.partition/np.median by ~10x;
    # the +inf padding sorts to the end, out of the way.
    with np.errstate(invalid="ignore", over="ignore"):
        srt = np.sort(windows, axis=1)
        med = 0.5 * (srt[rows, lo] + srt[rows, hi])
        dev = np.abs(windows - med[:, None])
        srt = np.sort(dev, axis=1)
        spread = MAD_TO_SIGMA * (0.5 * (srt[rows, lo] + srt[rows, hi]))
        zero = spread == 0.0
        if zero.any():
            d = dev[zero]
            d[np.isinf(windows[zero])] = 0.0
            spread[zero] = MEANAD_TO_SIGMA * d.sum(axis=1) / lengths[zero]
        spread = np.maximum(spread, min_spread)
        scores = capped(one_sided(xs - med, side) / spread)
    return scores, med, spread


class RollingMedianMAD(Detector):
    """Robust z-score of x against the median and MAD of the previous ``window`` values.

    Scores 0 until ``min_samples`` values are learned. A spike cannot drag the baseline
    (half the window would have to be anomalous), so it needs no protection from itself.
    Counts readings, not time: gaps and out-of-order times do not matter to it.
    """

    name = "rolling_median_mad"
    catches = ("spike", "level_shift", "variance_change", "dropout")

    def __init__(self, window: int = 60, min_samples: int = 10, side: str = "both",
                 min_spread: float = 1e-9) -> None:
        if window < 3 or not 1 <= min_samples <= window:
            raise ValueError("need window >= 3 and 1 <= min_samples <= window")
        check_side(side)
        self.window = window
        self.min_samples = min_samples
        self.side = side
        self.min_spread = min_spread
        self._buf = np.zeros(window, dtype=np.float64)  # ring buffer
        self._head = 0   # next slot to write
        self._n = 0      # values held (<= window)
        self._last: dict[str, Any] = {}

    def _padded(self) -> np.ndarray:
        """The held values, oldest first, after +inf for the slots not yet filled."""
        if self._n < self.window:
            return np.concatenate((np.full(self.window - self._n, np.inf),
                                   self._buf[:self._n]))
        return np.concatenate((self._buf[self._head:], self._buf[:self._head]))

    def score_one(self, x: float, t_ms: int) -> float:
        return float(self._score(np.array([x], dtype=np.float64), learn=False)[0])

    def learn_one(self, x: float, t_ms: int) -> None:
        if not usable(x):
            return
        self._buf[self._head] = x
        self._head = (self._head + 1) % self.window
        self._n = min(self._n + 1, self.window)

    def process_many(self, xs: np.ndarray, ts: np.ndarray) -> np.ndarray:
        return self._score(np.asarray(xs, dtype=np.float64), learn=True)

    def _score(self, xs: np.ndarray, learn: bool) -> np.ndarray:
        w, n0 = self.window, self._n
        out = np.zeros(len(xs), dtype=np.float64)
        ok = np.flatnonzero(usable_mask(xs))
        vals = xs[ok]
        # The k-th usable value is at hist[w + k]; its window is hist[k : k + w].
        hist = np.concatenate((self._padded(), vals))
        step = hist.strides[0]  # (sliding_window_view, without its per-call overhead)
        windows = np.lib.stride_tricks.as_strided(hist, (len(vals), w), (step, step),
                                                  writeable=False)
        lengths = np.minimum(n0 + np.arange(len(vals)), w)
        scored = np.flatnonzero(lengths >= self.min_samples)
        held = int(min(n0 + len(vals), w))
        last: tuple[Any, ...] = (float(xs[-1]) if len(xs) else math.nan, 0.0, None, None, held)
        for a in range(0, len(scored), _CHUNK):
            rows = scored[a:a + _CHUNK]
            s, med, spread = _median_mad(windows[rows], lengths[rows], vals[rows], self.side,
                                         self.min_spread)
            out[ok[rows]] = s
            if len(xs) and ok[rows[-1]] == len(xs) - 1:
                last = (float(xs[-1]), float(s[-1]), float(med[-1]), float(spread[-1]),
                        int(lengths[rows[-1]]))
        if len(xs):
            self._last = _explanation(*last)
        if learn and len(vals):
            total = n0 + len(vals)
            if total >= w:
                self._buf[:] = hist[-w:]
                self._head, self._n = 0, w
            else:
                self._buf[n0:total] = vals
                self._head, self._n = total % w, total
        return out

    def explain(self) -> dict[str, Any]:
        return dict(self._last)


class EWMA(Detector):
    """z-score of x against an exponentially weighted mean and variance.

    The first ``warmup`` values are averaged equally (weight 1/n until that drops below
    ``alpha``), and score 0. Counts points, not time: the memory is ~1/alpha readings.
    """

    name = "ewma"
    catches = ("spike", "level_shift", "variance_change", "dropout")

    def __init__(self, alpha: float = 0.05, warmup: int = 30, side: str = "both",
                 min_std: float = 1e-9) -> None:
        if not 0.0 < alpha <= 1.0 or warmup < 2:
            raise ValueError("need 0 < alpha <= 1 and warmup >= 2")
        check_side(side)
        self.alpha = alpha
        self.warmup = warmup
        self.side = side
        self.min_std = min_std
        self._n = 0
        self._mean = 0.0
        self._var = 0.0
        self._last: dict[str, Any] = {}

    def score_one(self, x: float, t_ms: int) -> float:
        return float(self._run(np.array([x]), learn=False)[0])

    def learn_one(self, x: float, t_ms: int) -> None:
        if usable(x):
            self._n, self._mean, self._var = self._update(x, self._n, self._mean, self._var)

    def process_many(self, xs: np.ndarray, ts: np.ndarray) -> np.ndarray:
        return self._run(xs, learn=True)

    def _update(self, x: float, n: int, mean: float, var: float) -> tuple[int, float, float]:
        if n == 0:
            return 1, x, 0.0
        a = max(self.alpha, 1.0 / (n + 1))
        d = x - mean
        return n + 1, mean + a * d, (1.0 - a) * (var + a * d * d)

    def _run(self, xs: np.ndarray, learn: bool) -> np.ndarray:
        # A recursion: one tight loop over Python floats (the state is three numbers).
        out = np.zeros(len(xs), dtype=np.float64)
        n, mean, var = self._n, self._mean, self._var
        warm, side, floor, update = self.warmup, self.side, self.min_std, self._update
        last: tuple[float, float, float | None, float | None] = (math.nan, 0.0, None, None)
        for i, x in enumerate(np.asarray(xs, dtype=np.float64).tolist()):
            if not -LIMIT <= x <= LIMIT:
                last = (x, 0.0, None, None)
                continue
            if n >= warm:
                std = max(math.sqrt(var), floor)
                d = x - mean
                s = abs(d) if side == "both" else max(d, 0.0) if side == "high" else max(-d, 0.0)
                out[i] = s = _scalar_cap(s / std)
                last = (x, s, mean, std)
            else:
                last = (x, 0.0, None, None)
            if learn:
                n, mean, var = update(x, n, mean, var)
        if learn:
            self._n, self._mean, self._var = n, mean, var
        if len(out):
            self._last = _explanation(last[0], last[1], last[2], last[3],
                                      min(self._n, round(1 / self.alpha)), alpha=self.alpha)
        return out

    def explain(self) -> dict[str, Any]:
        return dict(self._last)


class CUSUM(Detector):
    """Two-sided CUSUM of the standardised value; score = statistic / ``h`` (1 = a change).

    The baseline mean and spread are learned over ``warmup`` values and then follow the
    data slowly (``alpha``; with 0 they are the mean and variance of everything since the
    last change), so a slow drift accumulates instead of being absorbed. ``k`` is the slack
    in spreads (half the shift to detect). After a detected change the sums reset and the
    mean is learned afresh: the new level becomes normal.
    """

    name = "cusum"
    catches = ("spike", "level_shift", "drift", "dropout")

    def __init__(self, k: float = 0.5, h: float = 8.0, warmup: int = 30, alpha: float = 0.001,
                 min_std: float = 1e-9) -> None:
        if k < 0 or h <= 0 or warmup < 2 or not 0.0 <= alpha < 1.0:
            raise ValueError("need k >= 0, h > 0, warmup >= 2 and 0 <= alpha < 1")
        self.k = k
        self.h = h
        self.warmup = warmup
        self.alpha = alpha
        self.min_std = min_std
        # (values since the mean (re)started, values in the variance, mean, var, S+, S-)
        self._state: tuple[int, int, float, float, float, float] = (0, 0, 0.0, 0.0, 0.0, 0.0)
        self._last: dict[str, Any] = {}

    def score_one(self, x: float, t_ms: int) -> float:
        return float(self._run(np.array([x]), learn=False)[0])

    def learn_one(self, x: float, t_ms: int) -> None:
        self._run(np.array([x]), learn=True)

    def process_many(self, xs: np.ndarray, ts: np.ndarray) -> np.ndarray:
        return self._run(xs, learn=True)

    def _run(self, xs: np.ndarray, learn: bool) -> np.ndarray:
        # A recursion: one tight loop over Python floats.
        out = np.zeros(len(xs), dtype=np.float64)
        n, nv, mean, var, sp, sn = self._state
        k, h, warm, alpha, floor = self.k, self.h, self.warmup, self.alpha, self.min_std
        last: tuple[Any, ...] = (math.nan, 0.0, None, None, n)
        for i, x in enumerate(np.asarray(xs, dtype=np.float64).tolist()):
            if not -LIMIT <= x <= LIMIT:
                last = (x, 0.0, None, None, n)
                continue
            changed = False
            if n >= warm:
                std = max(math.sqrt(var), floor)
                z = (x - mean) / std
                p, q = max(0.0, sp + z - k), max(0.0, sn - z - k)
                out[i] = s = _scalar_cap(max(p, q) / h)
                last = (x, s, mean, std, n, p, q)
                changed = max(p, q) > h
                if learn:
                    sp, sn = (0.0, 0.0) if changed else (p, q)
            else:
                last = (x, 0.0, None, None, n)
            if not learn:
                continue
            if changed:
                n = 0  # the new level is learned from here on
            n += 1
            if n == 1:
                mean = x
                if nv == 0:
                    nv = 1
                continue
            nv += 1
            d = x - mean
            a, av = max(alpha, 1.0 / n), max(alpha, 1.0 / nv)
            mean += a * d
            var = (1.0 - av) * (var + av * d * d)
        if learn:
            self._state = (n, nv, mean, var, sp, sn)
        if len(out):
            sums = dict(zip(("s_pos", "s_neg"), last[5:]))
            self._last = _explanation(*last[:5], k=k, h=h, **sums)
        return out

    def explain(self) -> dict[str, Any]:
        return dict(self._last)
