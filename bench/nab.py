"""NAB v1.1 harness: prove the scorer on the published results, then score our detectors.

    python bench/nab.py --nab ../shared/datasets/nab --verify-published
    python bench/nab.py --nab ../shared/datasets/nab --detector NAME|all [--config JSON]

``--verify-published`` recomputes every published detector's normalised scores and prints
them beside ``results/final_results.json``. Where a detector's per-point results files
(``results/<detector>/<category>/<detector>_<file>.csv``) are present, the full method is
rerun from them (sweep included); where they are not, only what the copy allows is
recomputed: the normalisation of the published raw totals (``<detector>_<profile>_scores.csv``)
and, for the null detector, the whole sweep (it scores every row 0.5). Per-file checks
(published threshold -> published per-file score) run for every per-point file present.

``--detector`` runs registered detectors (``detectors.base.REGISTRY``; every module of the
``detectors`` package is imported so each registers) over every NAB file, a fresh instance
per file, through ``process_many(values, ts_ms)``; prints the three normalised scores, the
thresholds, and throughput in points/s of the detector alone (no I/O), on one pinned core.
``--config`` is a JSON object of hyperparameters for one detector, or, with ``all``, an object
keyed by detector name.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core: before numpy loads its BLAS

import argparse  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402
import pkgutil  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Mapping, NamedTuple, Sequence  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import nab_scoring as ns  # noqa: E402

TOLERANCE = 0.5  # normalised points: the published figures must be reproduced within this
SHORT = {"standard": "standard", "reward_low_FP_rate": "low_FP", "reward_low_FN_rate": "low_FN"}


# -- verification of the published results --------------------------------------------------

class Check(NamedTuple):
    detector: str
    profile: str
    published: float
    recomputed: float
    method: str
    comparable: bool = True  # False: the published inputs do not cover the corpus

    @property
    def diff(self) -> float:
        return self.recomputed - self.published


def has_point_results(results_dir: Path, detector: str, corpus: ns.Corpus) -> list[str]:
    """Corpus files whose per-point results file is present for ``detector``."""
    return [n for n in corpus.files if ns.results_path(results_dir, detector, n).exists()]


def per_file_checks(corpus: ns.Corpus, scores_by_file: Mapping[str, np.ndarray],
                    published: Mapping[str, Mapping[str, tuple[float, float]]]
                    ) -> list[tuple[str, str, float, float]]:
    """(file, profile, published score, our score at the published threshold) per file."""
    out = []
    for profile, rows in published.items():
        for name, scores in scores_by_file.items():
            if name in rows and name in corpus.files:
                thr, score = rows[name]
                mine = ns.score_file(np.asarray(scores) >= thr, corpus.files[name],
                                     corpus.profiles[profile])
                out.append((name, profile, score, mine))
    return out


def verify_published(nab_dir: Path, results_dir: Path, corpus: ns.Corpus,
                     out=sys.stdout) -> list[Check]:
    final = json.loads((nab_dir / "results" / "final_results.json").read_text())
    detectors = sorted(set(final) | {p.name for p in results_dir.iterdir() if p.is_dir()},
                       key=str.lower)
    checks: list[Check] = []
    notes: list[str] = []
    for det in detectors:
        published = ns.load_published_file_scores(results_dir, det)
        present = has_point_results(results_dir, det, corpus)
        scores: dict[str, np.ndarray] | None = None
        if len(present) == len(corpus.files):
            scores, method = ns.load_published_scores(results_dir, det, corpus), "sweep"
        elif det == "null":
            scores = {n: np.full(f.n, 0.5) for n, f in corpus.files.items()}
            method = "sweep (0.5)"
        else:
            method = "norm(raw)"
        if present:
            partial = {n: ns.load_published_scores(results_dir, det, _sub(corpus, [n]))[n]
                       for n in present}
            pf = per_file_checks(corpus, partial, published)
            worst = max((abs(a - b) for _, _, a, b in pf), default=0.0)
            notes.append(f"{det}: {len(pf)} per-file scores at the published thresholds, "
                         f"max |diff| {worst:.2e}")
        covered = min((len(set(rows) & set(corpus.files)) for rows in published.values()),
                      default=len(corpus.files))
        partial_raw = scores is None and covered < len(corpus.files)
        if partial_raw:
            method += f" {covered}/{len(corpus.files)} files"
            notes.append(f"{det}: its published per-file scores cover {covered} of "
                         f"{len(corpus.files)} files (an older corpus), so its raw total cannot "
                         "be normalised against this corpus; not counted")
        for profile in ns.PROFILE_NAMES:
            if det in final:
                target = float(final[det][profile])
            elif profile in published and "Totals" in published[profile]:
                target = ns.normalize(published[profile]["Totals"][1], corpus, profile)
            else:
                continue
            if scores is not None:
                got = ns.sweep(scores, corpus, profile).normalized
            elif profile in published and "Totals" in published[profile]:
                got = ns.normalize(published[profile]["Totals"][1], corpus, profile)
            else:
                continue
            checks.append(Check(det, profile, target, got,
                                method if det in final else method + ", no final",
                                not partial_raw))
    perfect = {n: _perfect_scores(f) for n, f in corpus.files.items()}
    for profile in ns.PROFILE_NAMES:
        checks.append(Check("(perfect)", profile, 100.0,
                            ns.sweep(perfect, corpus, profile).normalized, "sweep"))
    print_checks(checks, out)
    for note in notes:
        print(note, file=out)
    missing = [d for d in detectors
               if d != "null" and not has_point_results(results_dir, d, corpus)]
    if missing:
        print(f"no per-point results files under {results_dir} for {len(missing)} detectors "
              f"({', '.join(missing)}): 'norm(raw)' recomputes only the normalisation of "
              "their published raw totals, not the sweep", file=out)
    return checks


def print_checks(checks: Sequence[Check], out=sys.stdout) -> None:
    print(f"{'detector':<20}{'profile':<9}{'published':>11}{'recomputed':>12}{'diff':>10}  method",
          file=out)
    for c in checks:
        print(f"{c.detector:<20}{SHORT[c.profile]:<9}{c.published:>11.3f}{c.recomputed:>12.3f}"
              f"{c.diff:>+10.4f}  {c.method}{'' if c.comparable else ' (not counted)'}",
              file=out)


def _perfect_scores(f: ns.NabFile) -> np.ndarray:
    s = np.zeros(f.n)
    for left, _ in f.windows:
        s[left] = 1.0
    return s


def _sub(corpus: ns.Corpus, names: list[str]) -> ns.Corpus:
    return ns.Corpus({n: corpus.files[n] for n in names}, corpus.profiles)


def time_scorer(corpus: ns.Corpus, seed: int = 0) -> float:
    """Seconds to sweep all three profiles over the corpus for one random score vector."""
    rng = np.random.default_rng(seed)
    scores = {n: rng.random(f.n) for n, f in corpus.files.items()}
    start = time.perf_counter()
    ns.score_detector(scores, corpus)
    return time.perf_counter() - start


# -- our detectors ----------------------------------------------------------------------------

class DetectorRun(NamedTuple):
    name: str
    scores: dict[str, float]  # profile -> normalised score
    thresholds: dict[str, float]
    points: int
    seconds: float  # in process_many only

    @property
    def points_per_s(self) -> float:
        return self.points / self.seconds if self.seconds > 0 else float("inf")


def load_registry() -> dict[str, type]:
    """Import every module of ``detectors`` so that each detector class registers itself."""
    import detectors
    from detectors.base import REGISTRY

    for mod in pkgutil.walk_packages(detectors.__path__, "detectors."):
        importlib.import_module(mod.name)
    return REGISTRY


def run_detector(config: Mapping[str, Any], corpus: ns.Corpus) -> DetectorRun:
    """Score every corpus file with a fresh detector built from ``config``; sweep; normalise."""
    from detectors.base import from_config

    scores: dict[str, np.ndarray] = {}
    seconds = 0.0
    for name, f in corpus.files.items():
        det = from_config(config)
        xs, ts = f.values.copy(), f.ts_ms.copy()
        start = time.perf_counter()
        out = det.process_many(xs, ts)
        seconds += time.perf_counter() - start
        out = np.asarray(out, dtype=np.float64)
        if out.shape != (f.n,):
            raise ns.NabError(f"{config.get('name')}: {out.shape} scores for {f.n} rows of {name}")
        scores[name] = out
    results = {p: ns.sweep(scores, corpus, p) for p in corpus.profiles}
    return DetectorRun(str(config.get("name")), {p: r.normalized for p, r in results.items()},
                       {p: r.threshold for p, r in results.items()}, corpus.n_rows, seconds)


def print_runs(runs: Sequence[DetectorRun], out=sys.stdout) -> None:
    print(f"{'detector':<24}{'standard':>9}{'low_FP':>9}{'low_FN':>9}{'points/s':>12}  thresholds"
          " (std/lowFP/lowFN)", file=out)
    for r in runs:
        s, t = r.scores, r.thresholds
        print(f"{r.name:<24}{s['standard']:>9.2f}{s['reward_low_FP_rate']:>9.2f}"
              f"{s['reward_low_FN_rate']:>9.2f}{r.points_per_s:>12,.0f}  "
              f"{t['standard']:.4g}/{t['reward_low_FP_rate']:.4g}/{t['reward_low_FN_rate']:.4g}",
              file=out)


def detector_configs(which: str, config: Mapping[str, Any], registry: Mapping[str, type]
                     ) -> list[dict[str, Any]]:
    if which == "all":
        return [{"name": n, **dict(config.get(n, {}))} for n in sorted(registry)]
    if which not in registry:
        raise SystemExit(f"unknown detector {which!r}; registered: {sorted(registry)}")
    return [{"name": which, **{k: v for k, v in config.items() if k != "name"}}]


def _pin_one_core() -> set[int] | None:
    """Run on one CPU (the harness measures single-core throughput); returns the old set."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    cpus = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {max(cpus)})
    return cpus


def main(argv: Sequence[str] | None = None, out=sys.stdout) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nab", type=Path, required=True, help="NAB v1.1 directory")
    ap.add_argument("--results", type=Path, help="published results (default: NAB/results)")
    ap.add_argument("--verify-published", action="store_true")
    ap.add_argument("--detector", help="registered detector name, or 'all'")
    ap.add_argument("--config", default="{}", help="JSON hyperparameters (see module doc)")
    args = ap.parse_args(argv)
    if not (args.verify_published or args.detector):
        ap.error("give --verify-published and/or --detector")

    start = time.perf_counter()
    corpus = ns.load_corpus(args.nab)
    print(f"NAB corpus: {len(corpus.files)} files, {corpus.n_rows:,} rows, "
          f"{corpus.n_windows} windows (loaded in {time.perf_counter() - start:.2f} s)", file=out)
    status = 0
    if args.verify_published:
        checks = verify_published(args.nab, args.results or args.nab / "results", corpus, out)
        counted = [c for c in checks if c.comparable]
        bad = [c for c in counted if abs(c.diff) > TOLERANCE]
        print(f"{len(counted) - len(bad)}/{len(counted)} within {TOLERANCE}; scorer: all 3 "
              f"profiles over the corpus in {time_scorer(corpus):.3f} s", file=out)
        status |= bool(bad)
    if args.detector:
        registry = load_registry()
        configs = detector_configs(args.detector, json.loads(args.config), registry)
        previous = _pin_one_core()
        try:
            runs = [run_detector(cfg, corpus) for cfg in configs]
        finally:
            if previous is not None:
                os.sched_setaffinity(0, previous)
        print_runs(runs, out)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
