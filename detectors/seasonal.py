"""Seasonal baseline: what is normal for this hour of this weekday, in Changsha local time.

Traffic speed, water demand and pressure, and air quality follow the clock: 45 km/h is
normal at 03:00 and a jam at 08:30 is normal on a Monday. :class:`SeasonalBaseline` keeps
a robust running mean and spread per time-of-day (x day-of-week) bucket and scores a value
by its deviation from its bucket's baseline, in spreads. Local time is event time plus a
fixed offset (Asia/Shanghai is UTC+8 all year, no DST), so no time-zone database and no
clock are involved. While a weekly bucket is still cold, the hour-of-day profile (which
fills seven times faster) stands in for it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from detectors.base import Detector
from detectors.robust import MAX_SCORE, MEANAD_TO_SIGMA, check_side, usable_mask

MINUTE_MS, DAY_MINUTES = 60_000, 1440
_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday (Monday = 0)
DIFF_TO_SIGMA = 0.8862  # E|x[i] - x[i-1]| = 1.1284 sigma for independent normal noise
PERIODS = ("day", "week")


class SeasonalBaseline(Detector):
    """Deviation from the running baseline of the value's time bucket, in spreads.

    Per bucket: a running mean and mean absolute deviation, weighted equally over the first
    ``min_samples`` values and then exponentially (``alpha``), with each update clipped to
    ``clip`` spreads (Huber) so a spike barely moves the baseline. Scores 0 until the
    bucket (or its hour-of-day fallback) has ``min_samples`` values. No spread is taken
    below the sensor's reading-to-reading noise.
    """

    name = "seasonal_baseline"
    # drift too: it compares with the same time of an earlier day, not the last few readings
    catches = ("spike", "level_shift", "drift", "variance_change", "dropout")

    def __init__(self, period: str = "week", bucket_minutes: int = 60, alpha: float = 0.05,
                 min_samples: int = 10, tz_offset_hours: float = 8, side: str = "both",
                 clip: float = 3.0, min_spread: float = 1e-9) -> None:
        if period not in PERIODS:
            raise ValueError(f"period must be one of {PERIODS}, not {period!r}")
        if bucket_minutes < 1 or DAY_MINUTES % bucket_minutes:
            raise ValueError("bucket_minutes must divide a day (1440 minutes)")
        if not 0.0 < alpha <= 1.0 or min_samples < 1 or clip <= 0:
            raise ValueError("need 0 < alpha <= 1, min_samples >= 1 and clip > 0")
        check_side(side)
        self.period = period
        self.bucket_minutes = bucket_minutes
        self.alpha = alpha
        self.min_samples = min_samples
        self.tz_offset_hours = tz_offset_hours
        self.side = side
        self.clip = clip
        self.min_spread = min_spread
        per_day = DAY_MINUTES // bucket_minutes
        # Day-profile buckets come first, then (for "week") the weekday x time buckets.
        n = per_day * (8 if period == "week" else 1)
        self._count = [0] * n
        self._mean = [0.0] * n
        self._mad = [0.0] * n
        # Reading-to-reading noise (mean |x[i] - x[i-1]|; count -1 before the first value):
        # a floor for every bucket's spread, so a bucket that only ever saw a constant
        # (a stuck hour) neither scores normal data in the millions nor stays stuck.
        self._noise: tuple[int, float, float] = (-1, 0.0, 0.0)
        self._last: dict[str, Any] = {}

    # -- buckets ---------------------------------------------------------------------------
    def buckets(self, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(day-profile bucket, weekly bucket or -1) of each event time (epoch ms, UTC)."""
        local_min = (np.asarray(ts, dtype=np.int64)
                     + round(self.tz_offset_hours * 3_600_000)) // MINUTE_MS
        per_day = DAY_MINUTES // self.bucket_minutes
        day = (local_min % DAY_MINUTES) // self.bucket_minutes
        if self.period == "day":
            return day, np.full_like(day, -1)
        weekday = (local_min // DAY_MINUTES + _EPOCH_WEEKDAY) % 7
        return day, per_day + weekday * per_day + day

    def describe(self, bucket: int) -> dict[str, Any]:
        """A bucket as people read it: weekday (Monday = 0, None for the day profile), HH:MM."""
        per_day = DAY_MINUTES // self.bucket_minutes
        weekday = None if bucket < per_day else (bucket - per_day) // per_day
        start = (bucket % per_day) * self.bucket_minutes
        return {"bucket": bucket, "weekday": weekday,
                "start": f"{start // 60:02d}:{start % 60:02d}", "minutes": self.bucket_minutes}

    # -- protocol --------------------------------------------------------------------------
    def score_one(self, x: float, t_ms: int) -> float:
        return float(self._run(np.array([x], dtype=np.float64), np.array([t_ms]), False)[0])

    def learn_one(self, x: float, t_ms: int) -> None:
        self._run(np.array([x], dtype=np.float64), np.array([t_ms]), True)

    def process_many(self, xs: np.ndarray, ts: np.ndarray) -> np.ndarray:
        return self._run(np.asarray(xs, dtype=np.float64), ts, True)

    def _run(self, xs: np.ndarray, ts: np.ndarray, learn: bool) -> np.ndarray:
        # Buckets are computed for the batch with numpy; the per-bucket recursion is a loop.
        out = np.zeros(len(xs), dtype=np.float64)
        if not len(xs):
            return out
        days, weeks = self.buckets(ts)
        ok = usable_mask(xs).tolist()
        count, mean, mad = self._count, self._mean, self._mad
        minimum, alpha, clip, side = self.min_samples, self.alpha, self.clip, self.side
        n_diff, prev, mean_diff = self._noise
        min_spread = self.min_spread
        floor = max(min_spread, DIFF_TO_SIGMA * mean_diff)
        last: tuple[Any, ...] = (float(xs[-1]), 0.0, -1)
        for i, (x, d, w) in enumerate(zip(xs.tolist(), days.tolist(), weeks.tolist())):
            if not ok[i]:
                last = (x, 0.0, -1)
                continue
            b = w if w >= 0 and count[w] >= minimum else d
            if count[b] >= minimum:
                dev = x - mean[b]
                s = abs(dev) if side == "both" else max(dev, 0.0) if side == "high" \
                    else max(-dev, 0.0)
                spread = max(MEANAD_TO_SIGMA * mad[b], floor)
                out[i] = s = min(s / spread, MAX_SCORE)
                last = (x, s, b, mean[b], spread, count[b])
            else:
                last = (x, 0.0, -1)
            if learn:
                if n_diff >= 0:
                    n_diff += 1
                    mean_diff += max(alpha, 1.0 / n_diff) * (abs(x - prev) - mean_diff)
                    floor = max(min_spread, DIFF_TO_SIGMA * mean_diff)
                else:
                    n_diff = 0
                prev = x
                for b in (d, w) if w >= 0 else (d,):
                    n = count[b] = count[b] + 1
                    a = max(alpha, 1.0 / n)
                    m = mean[b]
                    if n > minimum:  # Huber: a wild value moves the baseline by clip spreads
                        lim = clip * max(MEANAD_TO_SIGMA * mad[b], floor)
                        dev = min(max(x - m, -lim), lim)
                    else:
                        dev = x - m
                    mean[b] = m + a * dev
                    if n > 1:  # the first value of a bucket says nothing about its spread
                        mad[b] += max(alpha, 1.0 / (n - 1)) * (abs(dev) - mad[b])
        if learn:
            self._noise = (n_diff, prev, mean_diff)
        if last[2] < 0:
            self._last = {"value": last[0], "score": 0.0, "baseline": None, "spread": None,
                          "deviation": None, "window": None}
        else:
            x, s, b, base, spread, n = last
            self._last = {"value": x, "score": s, "baseline": base, "spread": spread,
                          "deviation": x - base, "window": n, **self.describe(b)}
        return out

    def explain(self) -> dict[str, Any]:
        return dict(self._last)

