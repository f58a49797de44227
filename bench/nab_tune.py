"""Tuning helper for the ``general`` detector on NAB v1.1 (not part of the test suite).

Runs a detector over every NAB file (fresh clone per file, ``process_many``), then scores it
with ``bench/nab_scoring.py`` when that library exists, else with a small built-in scorer that
follows SCOREBOARD.md (earliest detection in a window, sigmoid-weighted FPs, one global
threshold per profile, normalised against the null and perfect detectors).

    python bench/nab_tune.py [--nab DIR] [--set key=value ...] [--detail]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for _p in (str(ROOT), str(ROOT / "bench")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

DEFAULT_NAB = ROOT.parent / "shared" / "datasets" / "nab"
PROFILES = {"standard": (1.0, 0.11, 1.0),
            "reward_low_FP_rate": (1.0, 0.22, 1.0),
            "reward_low_FN_rate": (1.0, 0.11, 2.0)}


def _sig(x: float) -> float:
    return 2.0 / (1.0 + math.exp(5.0 * x)) - 1.0


class File:
    """One NAB file: values, times (ms), and per-point sweep weights after probation."""

    def __init__(self, key: str, xs: np.ndarray, ts: np.ndarray, windows: list[tuple[int, int]]):
        self.key, self.xs, self.ts, self.windows = key, xs, ts, windows
        n = len(xs)
        self.prob = int(min(math.floor(0.15 * n), 750))
        sweep = np.full(n, -1.0)
        wid = np.full(n, -1, dtype=np.int64)
        prev_right, prev_width = None, None
        bounds = sorted(windows)
        j = 0
        for i in range(n):
            if j < len(bounds) and i > bounds[j][1]:
                prev_right, prev_width = bounds[j][1], bounds[j][1] - bounds[j][0] + 1
                j += 1
            if j < len(bounds) and bounds[j][0] <= i <= bounds[j][1]:
                left, right = bounds[j]
                width = right - left + 1
                sweep[i] = _sig(-(right - i + 1) / width) / _sig(-1.0)
                wid[i] = j
            elif prev_right is not None:
                sweep[i] = _sig(abs(prev_right - i) / (prev_width - 1))
        self.sweep = sweep[self.prob:]
        self.wid = wid[self.prob:]


def load_files(nab_dir: Path) -> list[File]:
    windows = json.loads((nab_dir / "labels" / "combined_windows.json").read_text())
    files = []
    for key in sorted(windows):
        raw = np.genfromtxt(nab_dir / "data" / key, delimiter=",", skip_header=1,
                            dtype=[("t", "U32"), ("v", "f8")], encoding="utf-8")
        ts = raw["t"].astype("datetime64[ms]").astype(np.int64)
        xs = raw["v"].astype(np.float64)
        wins = []
        for a, b in windows[key]:
            ta = np.datetime64(a.replace(" ", "T")[:23]).astype("datetime64[ms]").astype(np.int64)
            tb = np.datetime64(b.replace(" ", "T")[:23]).astype("datetime64[ms]").astype(np.int64)
            ia = int(np.searchsorted(ts, ta, "left"))
            ib = int(np.searchsorted(ts, tb, "right")) - 1
            wins.append((ia, ib))
        files.append(File(key, xs, ts, wins))
    return files


def score_profile(files: list[File], scores: dict[str, np.ndarray], a_tp: float, a_fp: float,
                  a_fn: float) -> tuple[float, float, dict[str, float]]:
    """Best raw total over one global threshold; returns (normalised, threshold, per-file)."""
    ev_s, ev_d, ev_f = [], [], []
    n_windows = 0
    for fi, f in enumerate(files):
        s = np.asarray(scores[f.key], dtype=np.float64)[f.prob:]
        fp = f.wid < 0
        ev_s.append(s[fp]); ev_d.append(f.sweep[fp] * a_fp); ev_f.append(np.full(fp.sum(), fi))
        nw = len(f.windows)
        n_windows += nw
        if nw:
            m = ~fp
            ws, ww, wi = s[m], f.wid[m], np.nonzero(m)[0]
            order = np.lexsort((wi, -ws, ww))
            ws, ww, wi = ws[order], ww[order], wi[order]
            key = wi - ww * 10**9
            run = np.minimum.accumulate(key) + ww * 10**9
            val = f.sweep[run] * a_tp
            first = np.ones(len(ww), bool)
            first[1:] = ww[1:] != ww[:-1]
            prev = np.empty_like(val)
            prev[1:] = val[:-1]
            d = np.where(first, val + a_fn, val - prev)
            ev_s.append(ws); ev_d.append(d); ev_f.append(np.full(len(ws), fi))
    s = np.concatenate(ev_s); d = np.concatenate(ev_d); fidx = np.concatenate(ev_f)
    order = np.argsort(-s, kind="stable")
    s, d, fidx = s[order], d[order], fidx[order]
    tot = np.cumsum(d) - a_fn * n_windows
    last = np.ones(len(s), bool)
    last[:-1] = s[:-1] != s[1:]
    cand = np.nonzero(last)[0]
    base = -a_fn * n_windows
    if len(cand) and tot[cand].max() > base:
        k = cand[np.argmax(tot[cand])]
        best, thr = float(tot[k]), float(s[k])
    else:
        k, best, thr = -1, base, float("inf")
    per = {}
    if k >= 0:
        sel = np.zeros(len(s), bool); sel[:k + 1] = True
        contrib = np.bincount(fidx[sel], weights=d[sel], minlength=len(files))
        for fi, f in enumerate(files):
            per[f.key] = float(contrib[fi]) - a_fn * len(f.windows)
    perfect = a_tp * n_windows
    return 100.0 * (best - base) / (perfect - base), thr, per


def builtin_score(files: list[File], scores: dict[str, np.ndarray]) -> dict[str, float]:
    return {p: score_profile(files, scores, *w)[0] for p, w in PROFILES.items()}


def _run_one(args):
    cfg, key, xs, ts = args
    from detectors.base import from_config
    import detectors.general  # noqa: F401
    det = from_config(cfg)
    t0 = time.perf_counter()
    out = det.process_many(xs, ts)
    return key, out, time.perf_counter() - t0


def run_detector(cfg: dict, files: list[File], workers: int = 2) -> tuple[dict, float]:
    jobs = [(cfg, f.key, f.xs, f.ts) for f in sorted(files, key=lambda f: -len(f.xs))]
    if workers > 1:
        with ProcessPoolExecutor(workers) as ex:
            res = list(ex.map(_run_one, jobs))
    else:
        res = [_run_one(j) for j in jobs]
    return {k: v for k, v, _ in res}, sum(dt for _, _, dt in res)


def sweep_configs(configs: list[dict], nab_dir: Path = DEFAULT_NAB, workers: int = 2) -> list:
    """Score each config (``{"name": ..., **params}``) with the project's scorer; print a line
    per config and return ``[(config, {profile: normalised})]``."""
    import nab_scoring as ns
    files = load_files(nab_dir)
    corpus = ns.load_corpus(nab_dir)
    out = []
    for cfg in configs:
        scores, _ = run_detector(cfg, files, workers)
        res = ns.score_detector(scores, corpus)
        out.append((cfg, res))
        print(f"{res['standard']:6.2f} {res['reward_low_FP_rate']:6.2f} "
              f"{res['reward_low_FN_rate']:6.2f}  {cfg}", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nab", default=str(DEFAULT_NAB))
    ap.add_argument("--name", default="general")
    ap.add_argument("--set", nargs="*", default=[])
    ap.add_argument("--detail", action="store_true")
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    cfg = {"name": a.name}
    for kv in a.set:
        k, v = kv.split("=", 1)
        cfg[k] = json.loads(v)
    files = load_files(Path(a.nab))
    scores, secs = run_detector(cfg, files, a.workers)
    npts = sum(len(f.xs) for f in files)
    report = {"cfg": cfg, "points_per_s": round(npts / secs)}
    try:  # the project's scorer, when it is there
        import nab_scoring as ns
        corpus = ns.load_corpus(Path(a.nab))
        report["nab_scoring"] = {k: round(v, 2) for k, v in
                                 ns.score_detector(scores, corpus).items()}
    except ImportError:
        report["builtin"] = {k: round(v, 2) for k, v in builtin_score(files, scores).items()}
    print(json.dumps(report))
    if a.detail:
        norm, thr, per = score_profile(files, scores, *PROFILES["standard"])
        print("threshold", thr)
        for f in files:
            print(f"{per.get(f.key, 0):7.3f}  {len(f.windows)}  {f.key}")


if __name__ == "__main__":
    main()
