"""Per-sensor deviation from the sensor's own recent baseline, for tens of thousands of sensors.

:class:`SensorDeviation` watches the ``lifeline`` stream (any measured reading) and reports
``<kind>_rise`` / ``<kind>_drop`` (entity: sensor) when a reading leaves the sensor's own
baseline by more than ``z_fire`` robust standard deviations *and* by a deviation that
matters physically: ``toward_alarm`` of the way from the baseline to the profile's alarm
level on that side (a quarter of the way, by default), at least ``min_rel`` of the baseline
(``min_abs_frac`` of the kind's physical range where the profile sets no alarm level on that
side) — in the same direction for ``pending`` readings in a row. It
resolves (hysteresis) after ``clear`` readings back within ``z_clear``. This is what finds a
gas main losing pressure or a water main bursting tens of seconds before the reading crosses
the physical alarm level of :mod:`detectors.limits`.

The baseline is a robust exponentially weighted mean and variance with a time constant of
``tau_s`` of event time (so it follows the daily demand curve); residuals are clipped at
``clip`` sd before they update it, and it does not learn at all from a reading beyond
``z_fire`` (no learning from anomalies), so an incident does not become the new normal. A
sensor silent for more than ``max_gap_s`` warms up again (``warmup`` readings).

Memory and speed: state is a handful of numpy arrays indexed by a slot per sensor (about
60 bytes a sensor; 20,000 sensors are ~1.2 MB, where one general-purpose detector per
sensor would need gigabytes). A batch is processed in *rounds*: round k takes the k-th
reading of every sensor in the batch, so each round is one vectorised update over distinct
sensors and the result equals feeding the readings one by one (a test checks it).

Pure: no I/O, no clock; event time drives everything. At most ``max_entities`` sensors are
kept; when full, the least recently seen half is dropped (resolving what it had firing).
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

from city.profile import CityProfile
from detectors.findings import FIRING, RESOLVED, EventDetector, Finding
from schemas.catalog import MEASUREMENTS

_KINDS = tuple(sorted(MEASUREMENTS))
_KIND_INDEX = {k: i for i, k in enumerate(_KINDS)}
_RANGE = np.array([MEASUREMENTS[k].hi - MEASUREMENTS[k].lo for k in _KINDS])
# name -> dtype of the per-slot state arrays (snapshotted as raw bytes)
_FIELDS = {"mean": np.float64, "var": np.float64, "n": np.int32, "last_t": np.int64,
           "run": np.int16, "calm": np.int16, "state": np.int8, "kind": np.int16,
           "since": np.int64}


class SensorDeviation(EventDetector):
    name = "sensor_deviation"
    streams = ("lifeline",)

    def __init__(self, profile: CityProfile | None = None, *, toward_alarm: float = 0.25,
                 tau_s: float = 600.0, z_fire: float = 6.0, z_clear: float = 3.0,
                 pending: int = 2, clear: int = 3, min_rel: float = 0.05,
                 min_abs_frac: float = 0.005, clip: float = 2.5, warmup: int = 12,
                 max_gap_s: float = 3600.0, sd_floor_frac: float = 0.0005,
                 max_entities: int = 400_000, capacity: int = 1024) -> None:
        self.profile, self.toward_alarm = profile, toward_alarm
        limits = profile.limits if profile is not None else {}
        nan = float("nan")
        self._hi_alarm = np.array([getattr(limits.get(k), "high_alarm", None) or nan
                                   for k in _KINDS], dtype=np.float64)
        self._lo_alarm = np.array([nan if getattr(limits.get(k), "low_alarm", None) is None
                                   else limits[k].low_alarm for k in _KINDS], dtype=np.float64)
        self.tau_s, self.z_fire, self.z_clear = tau_s, z_fire, z_clear
        self.pending, self.clear, self.min_rel, self.min_abs_frac = pending, clear, min_rel, \
            min_abs_frac
        self.clip, self.warmup, self.max_gap_s = clip, warmup, max_gap_s
        self.sd_floor_frac, self.max_entities = sd_floor_frac, max_entities
        self.slots: dict[str, int] = {}
        self.ids: list[str] = []
        self.a = {k: np.zeros(capacity, dtype=dt) for k, dt in _FIELDS.items()}
        self.meta: dict[int, dict[str, Any]] = {}  # slot -> lat/lon/district/evidence when firing
        self.run_start: dict[int, str] = {}   # slot -> event id opening its run beyond
        self._started = np.zeros(0, dtype=np.int64)
        self.counters: dict[str, int] = {"evicted": 0, "bad_events": 0}

    # -- slots ------------------------------------------------------------------------------
    def _slot(self, entity_id: str, kind: int) -> int:
        s = self.slots.get(entity_id)
        if s is not None:
            return s
        s = len(self.ids)
        if s >= len(self.a["mean"]):
            for k, arr in self.a.items():
                self.a[k] = np.concatenate([arr, np.zeros(len(arr), dtype=arr.dtype)])
        self.slots[entity_id] = s
        self.ids.append(entity_id)
        for arr in self.a.values():
            arr[s] = 0
        self.a["kind"][s] = kind
        return s

    # -- detection --------------------------------------------------------------------------
    def update(self, stream: str, events: list[dict[str, Any]],
               ts_ms: list[int]) -> list[Finding]:
        if stream not in self.streams or not events:
            return []
        slots, xs, ts, keep = [], [], [], []
        for i, (e, t) in enumerate(zip(events, ts_ms)):
            k = _KIND_INDEX.get(e.get("kind"))  # type: ignore[arg-type]
            v = e.get("value")
            if k is None or not isinstance(v, (int, float)) or not np.isfinite(v):
                if "kind" in e:
                    self.counters["bad_events"] += 1
                continue
            slots.append(self._slot(e["entity_id"], k))
            xs.append(float(v))
            ts.append(int(t))
            keep.append(i)
        out: list[Finding] = []
        if not slots:
            return out
        slot_a, x_a, t_a = np.array(slots), np.array(xs), np.array(ts, dtype=np.int64)
        order = np.argsort(slot_a, kind="stable")     # per sensor, in the given (time) order
        sorted_slots = slot_a[order]
        first = np.r_[True, sorted_slots[1:] != sorted_slots[:-1]]
        start = np.maximum.accumulate(np.where(first, np.arange(len(order)), 0))
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order)) - start
        found: list[tuple[int, Finding]] = []
        for r in range(int(rank.max()) + 1):
            sel = np.flatnonzero(rank == r)
            changed = self._round(slot_a[sel], x_a[sel], t_a[sel])
            for j in self._started:   # the first reading of a run beyond: evidence
                i = int(sel[j])
                self.run_start[int(slot_a[i])] = events[keep[i]]["event_id"]
            for j in changed:
                i = int(sel[j])
                found.append((i, self._finding(int(slot_a[i]), events[keep[i]], int(t_a[i]),
                                               float(x_a[i]))))
        found.sort(key=lambda p: p[0])   # the input's (event-time) order, not round order
        out.extend(f for _, f in found)
        if len(self.ids) > self.max_entities:
            out.extend(self._evict())
        return out

    def _round(self, s: np.ndarray, x: np.ndarray, t: np.ndarray) -> np.ndarray:
        """One reading for each of the distinct slots ``s``; return indices whose state
        changed (fired or resolved)."""
        a = self.a
        mean, var, n = a["mean"][s], a["var"][s], a["n"][s]
        last_t, state = a["last_t"][s], a["state"][s]
        rng = _RANGE[a["kind"][s]]
        dt = np.maximum(t - last_t, 0) / 1000.0
        stale = (n > 0) & (dt > self.max_gap_s)
        n = np.where(stale, 0, n)
        fresh = n == 0
        sd = np.sqrt(np.maximum(var, (self.sd_floor_frac * rng) ** 2))
        resid = x - mean
        z = np.where(n >= self.warmup, resid / sd, 0.0)
        up_dev, down_dev = self._min_dev(a["kind"][s], mean, rng)
        side = np.where((z > self.z_fire) & (resid > up_dev), 1,
                        np.where((z < -self.z_fire) & (resid < -down_dev), -1, 0))
        # pending: consecutive readings beyond, same side
        run = a["run"][s]
        prev_side = np.sign(run)
        run = np.where(side == 0, 0, np.where(side == prev_side, run + side, side))
        run = np.clip(run, -1000, 1000)
        calm = np.where(np.abs(z) < self.z_clear, a["calm"][s] + 1, 0)
        fire = (state == 0) & (np.abs(run) >= self.pending)
        resolve = (state != 0) & (calm >= self.clear)
        new_state = np.where(fire, np.sign(run), np.where(resolve, 0, state)).astype(np.int8)
        # learn (not from anomalies): time-aware EWMA, residual clipped at clip x sd
        alpha = np.where(fresh, 1.0, 1.0 - np.exp(-dt / self.tau_s))
        alpha = np.where(n < self.warmup, np.maximum(alpha, 1.0 / (n + 1)), alpha)
        learn = side == 0
        # clipped once warm; while warming up the plain running mean and variance
        c = np.where(n >= self.warmup, np.clip(resid, -self.clip * sd, self.clip * sd), resid)
        c = np.where(fresh, 0.0, c)
        new_mean = np.where(fresh, x, mean + alpha * c)
        new_var = np.where(fresh, 0.0, (1 - alpha) * var + alpha * c * c)
        a["mean"][s] = np.where(learn | fresh, new_mean, mean)
        a["var"][s] = np.where(learn | fresh, new_var, var)
        a["n"][s] = np.where(learn | fresh, np.minimum(n + 1, 1 << 30), n)
        a["last_t"][s] = np.maximum(t, last_t)
        a["run"][s], a["calm"][s], a["state"][s] = run, np.minimum(calm, 1000), new_state
        a["since"][s] = np.where(fire, t, a["since"][s])
        self._started = np.flatnonzero(np.abs(run) == 1)
        return np.flatnonzero(fire | resolve)

    def _min_dev(self, kind: np.ndarray, mean: np.ndarray,
                 rng: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The smallest deviation up and down that matters for these sensors' kinds."""
        rel = self.min_rel * np.abs(mean)
        fallback = np.maximum(rel, self.min_abs_frac * rng)
        with np.errstate(invalid="ignore"):
            up = self.toward_alarm * (self._hi_alarm[kind] - mean)
            down = self.toward_alarm * (mean - self._lo_alarm[kind])
        up = np.where(np.isfinite(up) & (up > 0), np.maximum(up, rel), fallback)
        down = np.where(np.isfinite(down) & (down > 0), np.maximum(down, rel), fallback)
        return up, down

    def _finding(self, slot: int, event: dict[str, Any], t: int, x: float) -> Finding:
        """The finding of a slot whose state just changed (``x``: the deciding reading)."""
        state = int(self.a["state"][slot])
        kind = _KINDS[int(self.a["kind"][slot])]
        m = MEASUREMENTS[kind]
        if state != 0:
            meta = {"lat": event.get("lat"), "lon": event.get("lon"),
                    "district": event.get("district", ""),
                    "first": self.run_start.pop(slot, event["event_id"]), "side": state}
            self.meta[slot] = meta
            status = FIRING
        else:
            meta = self.meta.pop(slot, {"lat": event.get("lat"), "lon": event.get("lon"),
                                        "district": event.get("district", ""), "side": 1,
                                        "first": event["event_id"]})
            status = RESOLVED
        up = meta["side"] > 0
        base, sd = float(self.a["mean"][slot]), float(np.sqrt(max(self.a["var"][slot], 0.0)))
        sd = max(sd, self.sd_floor_frac * (m.hi - m.lo))
        z = (x - base) / sd if sd > 0 else 0.0
        zh = f"{m.zh}{'异常升高' if up else '异常下降'}"
        en = f"{m.en} {'rising' if up else 'dropping'} away from its baseline"
        evidence = tuple(dict.fromkeys((meta["first"], event["event_id"])))
        return Finding(
            self.name, f"{kind}_{'rise' if up else 'drop'}", self.ids[slot], status, "minor",
            t, zh if status == FIRING else zh + "（已恢复）",
            en if status == FIRING else en + " (resolved)", stream="lifeline", value=x,
            threshold=round(base + (1 if up else -1) * self.z_fire * sd, 6), unit=m.unit,
            lat=meta["lat"], lon=meta["lon"], district=meta["district"], evidence=evidence,
            explanation={"rule": "deviation from the sensor's own baseline",
                         "baseline": round(base, 6), "sd": round(sd, 6), "z": round(z, 2),
                         "deviation": round(x - base, 6), "z_fire": self.z_fire,
                         "readings": self.pending, "window_s": self.tau_s})

    # -- memory -----------------------------------------------------------------------------
    def _evict(self) -> list[Finding]:
        """Drop the least recently seen half of the sensors; resolve what they had firing."""
        last = self.a["last_t"][:len(self.ids)]
        keep = np.sort(np.argsort(-last, kind="stable")[:self.max_entities // 2])
        out = []
        dropped = np.setdiff1d(np.arange(len(self.ids)), keep)
        for s in dropped[self.a["state"][dropped] != 0]:
            s = int(s)
            meta = self.meta.pop(s, {})
            kind = _KINDS[int(self.a["kind"][s])]
            up = int(self.a["state"][s]) > 0
            m = MEASUREMENTS[kind]
            out.append(Finding(self.name, f"{kind}_{'rise' if up else 'drop'}", self.ids[s],
                               RESOLVED, "minor", int(self.a["last_t"][s]),
                               f"{m.zh}偏离告警解除（传感器长时间无数据）",
                               f"{m.en} deviation cleared (sensor silent)", stream="lifeline",
                               unit=m.unit, lat=meta.get("lat"), lon=meta.get("lon"),
                               district=meta.get("district", ""),
                               explanation={"rule": "evicted: not seen recently"}))
        self.counters["evicted"] += len(dropped)
        remap = {int(old): new for new, old in enumerate(keep)}
        self.meta = {remap[s]: v for s, v in self.meta.items() if s in remap}
        self.run_start = {remap[s]: v for s, v in self.run_start.items() if s in remap}
        for k, arr in self.a.items():
            self.a[k] = np.concatenate([arr[keep], np.zeros(len(keep), dtype=arr.dtype)])
        self.ids = [self.ids[int(s)] for s in keep]
        self.slots = {e: i for i, e in enumerate(self.ids)}
        return out

    def firing(self) -> dict[str, int]:
        """Sensors firing now: entity id -> +1 (rise) / -1 (drop)."""
        st = self.a["state"][:len(self.ids)]
        return {self.ids[int(s)]: int(st[s]) for s in np.flatnonzero(st)}

    # -- checkpoints ------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        n = len(self.ids)
        return {"ids": self.ids, "meta": {str(k): v for k, v in self.meta.items()},
                "run_start": {str(k): v for k, v in self.run_start.items()},
                "arrays": {k: base64.b64encode(arr[:n].tobytes()).decode()
                           for k, arr in self.a.items()}}

    def restore(self, state: Any) -> None:
        if not state:
            return
        ids = list(state["ids"])
        cap = max(1024, 2 * len(ids))
        self.ids, self.slots = ids, {e: i for i, e in enumerate(ids)}
        for k, dt in _FIELDS.items():
            arr = np.zeros(cap, dtype=dt)
            raw = np.frombuffer(base64.b64decode(state["arrays"][k]), dtype=dt)
            arr[:len(raw)] = raw
            self.a[k] = arr
        self.meta = {int(k): v for k, v in state.get("meta", {}).items()}
        self.run_start = {int(k): v for k, v in state.get("run_start", {}).items()}
