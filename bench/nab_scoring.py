"""Numenta Anomaly Benchmark (NAB v1.1) scoring, re-implemented from the published method.

Written from the method as NAB's scoreboard describes it (``SCOREBOARD.md`` beside the corpus;
Lavin & Ahmad, "Evaluating Real-time Anomaly Detection Algorithms - the Numenta Anomaly
Benchmark", 2015), not from NAB's code. Pure functions over numpy arrays; the only I/O is in
the three ``load_*`` functions.

The method, per file of N rows:

* windows: ``labels/combined_windows.json`` gives each anomaly window as two timestamps of the
  file; a window is the inclusive row range between them (width ``w = right - left + 1``);
* probationary period: the first ``min(floor(0.15 * N), 750)`` rows; a detection there counts
  for nothing (a window still costs ``-A_FN`` if nothing after the period detects it);
* scaled sigmoid ``sigma(x) = 2 / (1 + exp(5x)) - 1``, and exactly -1 for ``x > 3``;
* a detection at row ``i`` inside a window scores ``A_TP * sigma(y) / sigma(-1)`` with
  ``y = -(right - i + 1) / w`` (1.0 at the left edge, ~0.86 at the centre, ~0 at the right edge);
  a window scores the best (= earliest) of its detections, or ``-A_FN`` if it has none;
* a detection outside every window costs ``-A_FP`` before the file's first window, and
  ``A_FP * sigma(|prev_right - i| / (prev_w - 1))`` after one (~0 right after it, ``-A_FP``
  far away); each such false positive counts;
* file score = sum of window scores + sum of false-positive scores; a row is a detection when
  its anomaly score is ``>= threshold``;
* one threshold per detector and profile maximises the raw score summed over all files
  (:func:`sweep` tries every distinct anomaly score, exactly, in one sort);
* normalised score ``100 * (S - S_null) / (S_perfect - S_null)`` with ``S_perfect =
  A_TP * windows`` and ``S_null`` the swept score of the null detector (a constant score),
  which is ``-A_FN * windows``.

Typical use, by a detector benchmark::

    corpus = load_corpus(nab_dir)
    scores = {name: my_detector_scores(f.values, f.ts_ms) for name, f in corpus.files.items()}
    print(score_detector(scores, corpus))   # {"standard": 61.2, "reward_low_FP_rate": ...}
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Mapping, NamedTuple

import numpy as np

PROBATION_PERCENT = 0.15
SIGMOID_CLAMP = 3.0
PROFILE_NAMES = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")

# Row kinds in the per-row weight tables.
IGNORED, IN_WINDOW, OUTSIDE = 0, 1, 2


class NabError(ValueError):
    """A corpus, results file or score vector that does not fit NAB's layout."""


def scaled_sigmoid(x: np.ndarray | float) -> np.ndarray | float:
    """NAB's scaled sigmoid ``2 / (1 + exp(5x)) - 1``: 1 at -inf, 0 at 0, -1 at +inf.

    Beyond ``x > 3`` NAB counts exactly -1 (a false positive more than three window widths
    after a window costs the full ``A_FP``); its published per-row scores show the step.
    """
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(over="ignore"):
        out = np.where(x > SIGMOID_CLAMP, -1.0, 2.0 / (1.0 + np.exp(5.0 * x)) - 1.0)
    return float(out) if out.ndim == 0 else out


def probation_length(n_rows: int) -> int:
    """Rows at the start of a file whose detections are ignored: ``min(floor(0.15 N), 750)``."""
    return int(min(math.floor(PROBATION_PERCENT * n_rows), PROBATION_PERCENT * 5000))


@dataclass(frozen=True)
class Profile:
    """Application profile: the weights of a true positive, a false positive, a missed window."""

    name: str
    a_tp: float
    a_fp: float
    a_fn: float


@dataclass(frozen=True)
class RowWeights:
    """Per-row scoring table of one file, independent of the profile.

    ``kind`` is IGNORED (probationary), IN_WINDOW or OUTSIDE. ``unit`` is, in a window,
    ``sigma(y) / sigma(-1)`` (times A_TP gives the row's true-positive score) and, outside,
    the unweighted false-positive value in [-1, 0) (times A_FP gives its cost). ``window`` is
    the row's window index in the file, -1 outside windows.
    """

    kind: np.ndarray
    unit: np.ndarray
    window: np.ndarray


@dataclass(frozen=True, eq=False)
class NabFile:
    """One NAB data file: ``name`` is its path under ``data/`` (``"realTraffic/speed_7578.csv"``)."""

    name: str
    timestamps: np.ndarray  # datetime64[ms]
    values: np.ndarray  # float64
    windows: tuple[tuple[int, int], ...]  # inclusive row ranges, sorted, disjoint

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def probation(self) -> int:
        return probation_length(self.n)

    @cached_property
    def ts_ms(self) -> np.ndarray:
        """Event times as int64 epoch milliseconds (what detectors take)."""
        return self.timestamps.astype("datetime64[ms]").astype(np.int64)

    @cached_property
    def labels(self) -> np.ndarray:
        """Boolean per row: inside an anomaly window."""
        out = np.zeros(self.n, dtype=bool)
        for left, right in self.windows:
            out[left:right + 1] = True
        return out

    @cached_property
    def weights(self) -> RowWeights:
        return row_weights(self.n, self.windows)


@dataclass(frozen=True, eq=False)
class Corpus:
    """NAB data files (in ``combined_windows.json`` order) and the application profiles."""

    files: dict[str, NabFile]
    profiles: dict[str, Profile] = field(default_factory=dict)

    @property
    def n_windows(self) -> int:
        return sum(len(f.windows) for f in self.files.values())

    @property
    def n_rows(self) -> int:
        return sum(f.n for f in self.files.values())

    def profile(self, profile: str | Profile) -> Profile:
        return profile if isinstance(profile, Profile) else self.profiles[profile]

    @cached_property
    def _table(self) -> RowWeights:
        """All files' weight tables end to end, windows numbered corpus-wide."""
        kinds, units, wins, offset = [], [], [], 0
        for f in self.files.values():
            w = f.weights
            kinds.append(w.kind)
            units.append(w.unit)
            wins.append(np.where(w.window >= 0, w.window + offset, -1))
            offset += len(f.windows)
        cat = (lambda parts, dt: np.concatenate(parts) if parts else np.empty(0, dt))
        return RowWeights(cat(kinds, np.int8), cat(units, np.float64), cat(wins, np.int64))


class SweepResult(NamedTuple):
    threshold: float
    raw: float
    normalized: float


# -- per-file scoring ----------------------------------------------------------------------

def row_weights(n: int, windows: tuple[tuple[int, int], ...]) -> RowWeights:
    """The scoring table of a file of ``n`` rows with these windows (see :class:`RowWeights`)."""
    idx = np.arange(n)
    kind = np.full(n, OUTSIDE, dtype=np.int8)
    unit = np.full(n, -1.0)  # before the first window a false positive costs the full A_FP
    window = np.full(n, -1, dtype=np.int64)
    lefts = np.array([w[0] for w in windows], dtype=np.int64)
    rights = np.array([w[1] for w in windows], dtype=np.int64)
    for k, (left, right) in enumerate(windows):
        rows = idx[left:right + 1]
        kind[left:right + 1] = IN_WINDOW
        window[left:right + 1] = k
        unit[left:right + 1] = (scaled_sigmoid(-(right - rows + 1) / (right - left + 1))
                                / scaled_sigmoid(-1.0))
    if len(windows):
        # the closest window that ended before each row
        prev = np.searchsorted(rights, idx, side="left") - 1
        after = (kind == OUTSIDE) & (prev >= 0)
        p = prev[after]
        width = (rights[p] - lefts[p] + 1).astype(np.float64)
        with np.errstate(divide="ignore"):  # a one-row window: any FP after it costs A_FP
            pos = np.abs(rights[p] - idx[after]) / (width - 1.0)
        unit[after] = scaled_sigmoid(pos)
    prob = probation_length(n)
    kind[:prob] = IGNORED
    unit[:prob] = 0.0
    return RowWeights(kind, unit, window)


def score_file(detections: np.ndarray, nab_file: NabFile, profile: Profile) -> float:
    """Raw NAB score of one file for a boolean detection per row (score >= threshold)."""
    det = np.asarray(detections, dtype=bool)
    if det.shape != (nab_file.n,):
        raise NabError(f"{nab_file.name}: {det.shape} detections for {nab_file.n} rows")
    w = nab_file.weights
    fp = det & (w.kind == OUTSIDE)
    total = profile.a_fp * float(w.unit[fp].sum())
    best = np.full(len(nab_file.windows), -np.inf)
    tp = det & (w.kind == IN_WINDOW)
    np.maximum.at(best, w.window[tp], w.unit[tp])
    hit = np.isfinite(best)
    total += profile.a_tp * float(best[hit].sum()) - profile.a_fn * int((~hit).sum())
    return total


def confusion_rows(detections: np.ndarray, nab_file: NabFile) -> dict[str, int]:
    """NAB's per-file row counts after the probationary period: tp, tn, fp, fn rows."""
    det = np.asarray(detections, dtype=bool)
    w = nab_file.weights
    inw, out = w.kind == IN_WINDOW, w.kind == OUTSIDE
    return {"tp": int((det & inw).sum()), "fn": int((~det & inw).sum()),
            "fp": int((det & out).sum()), "tn": int((~det & out).sum())}


def score_at_threshold(scores_by_file: Mapping[str, np.ndarray], corpus: Corpus,
                       profile: str | Profile, threshold: float) -> dict[str, float]:
    """Raw score of each file with detections ``score >= threshold`` (NaN never detects)."""
    prof = corpus.profile(profile)
    return {name: score_file(_as_scores(scores_by_file[name], f) >= threshold, f, prof)
            for name, f in corpus.files.items()}


# -- threshold sweep and normalisation ------------------------------------------------------

def sweep(scores_by_file: Mapping[str, np.ndarray], corpus: Corpus,
          profile: str | Profile) -> SweepResult:
    """The threshold maximising the raw score summed over every corpus file, exactly.

    Every distinct anomaly score is a candidate (plus "detect nothing", returned as the next
    float above the highest score). Rows are sorted once by descending score; each row's
    effect on the total is then known in closed form (a false positive adds its cost, a window
    row raises its window's best score), so the total at every threshold is a cumulative sum.
    Ties go to the highest threshold. O(R log R) for R rows: ~0.1 s for the 370k-row corpus.
    """
    prof = corpus.profile(profile)
    missing = set(corpus.files) - set(scores_by_file)
    if missing:
        raise NabError(f"no scores for {len(missing)} corpus files, e.g. {sorted(missing)[:3]}")
    s = np.concatenate([_as_scores(scores_by_file[n], f) for n, f in corpus.files.items()]
                       ) if corpus.files else np.empty(0)
    table = corpus._table
    keep = (table.kind != IGNORED) & ~np.isnan(s)
    s, kind, unit, win = s[keep], table.kind[keep], table.unit[keep], table.window[keep]
    base = -prof.a_fn * corpus.n_windows  # the score when nothing is detected
    top = float(s.max()) if len(s) else 0.0
    nothing = float(np.nextafter(top, np.inf))

    order = np.argsort(-s, kind="stable")
    s, kind, unit, win = s[order], kind[order], unit[order], win[order]
    delta = np.where(kind == OUTSIDE, prof.a_fp * unit, 0.0)
    inw = np.flatnonzero(kind == IN_WINDOW)
    if len(inw):
        delta[inw] = _window_gains(win[inw], prof.a_tp * unit[inw], prof.a_fn)
    total = base + np.cumsum(delta)
    # a threshold admits every row with an equal score: evaluate at the end of each run
    ends = np.flatnonzero(np.r_[s[1:] != s[:-1], True]) if len(s) else np.empty(0, np.int64)
    cand_thr = np.r_[nothing, s[ends]]
    cand_raw = np.r_[base, total[ends]]
    best = int(np.argmax(cand_raw))
    raw = float(cand_raw[best])
    return SweepResult(float(cand_thr[best]), raw, normalize(raw, corpus, prof))


def _window_gains(win: np.ndarray, value: np.ndarray, a_fn: float) -> np.ndarray:
    """Per window row (in descending-score order): how much it raises its window's score.

    A window's score is the running maximum of its detected rows' values, from ``-a_fn``.
    The running maximum per window is taken in one pass: values are replaced by exact integer
    ranks and offset by window, so one ``maximum.accumulate`` cannot cross windows.
    """
    group = np.argsort(win, kind="stable")  # by window, keeping descending-score order
    w, v = win[group], value[group]
    uniq, rank = np.unique(v, return_inverse=True)
    span = len(uniq) + 1
    key = np.maximum.accumulate(w * span + rank)
    running = uniq[key - w * span]
    first = np.r_[True, w[1:] != w[:-1]]
    prev = np.where(first, -a_fn, np.r_[0.0, running[:-1]])
    gains = np.empty_like(value)
    gains[group] = running - prev
    return gains


def null_raw(corpus: Corpus, profile: str | Profile) -> float:
    """Raw score of NAB's null detector (one constant score): its best threshold detects either
    everything or nothing, and nothing (``-A_FN`` per window) wins on the NAB corpus."""
    prof = corpus.profile(profile)
    nothing = -prof.a_fn * corpus.n_windows
    if not corpus.files:
        return nothing
    table = corpus._table
    everything = (prof.a_fp * float(table.unit[table.kind == OUTSIDE].sum())
                  + _best_per_window(table, prof, corpus.n_windows).sum())
    return max(nothing, everything)


def _best_per_window(table: RowWeights, prof: Profile, n_win: int) -> np.ndarray:
    best = np.full(n_win, -np.inf)
    inw = table.kind == IN_WINDOW
    np.maximum.at(best, table.window[inw], table.unit[inw])
    return np.where(np.isfinite(best), prof.a_tp * best, -prof.a_fn)


def perfect_raw(corpus: Corpus, profile: str | Profile) -> float:
    """Raw score of the perfect detector: ``A_TP`` per window."""
    return corpus.profile(profile).a_tp * corpus.n_windows


def normalize(raw: float, corpus: Corpus, profile: str | Profile) -> float:
    """``100 * (raw - null) / (perfect - null)``: 0 for the null detector, 100 for the perfect.

    NaN for a corpus without anomaly windows, where the two coincide.
    """
    null, perfect = null_raw(corpus, profile), perfect_raw(corpus, profile)
    if perfect == null:
        return math.nan
    return 100.0 * (raw - null) / (perfect - null)


def score_detector(scores_by_file: Mapping[str, np.ndarray], corpus: Corpus) -> dict[str, float]:
    """Normalised NAB score per profile (each profile with its own best threshold)."""
    return {name: sweep(scores_by_file, corpus, name).normalized for name in corpus.profiles}


def _as_scores(scores: np.ndarray, nab_file: NabFile) -> np.ndarray:
    s = np.asarray(scores, dtype=np.float64)
    if s.shape != (nab_file.n,):
        raise NabError(f"{nab_file.name}: {s.shape} scores for {nab_file.n} rows")
    return s


# -- loading --------------------------------------------------------------------------------

def load_corpus(nab_dir: str | Path, files: list[str] | None = None) -> Corpus:
    """Read NAB's ``data/``, ``labels/combined_windows.json`` and ``config/profiles.json``.

    ``files`` restricts the corpus to some of the labelled files (normalisation then refers
    to those files only).
    """
    root = Path(nab_dir)
    labels = json.loads((root / "labels" / "combined_windows.json").read_text())
    names = list(labels) if files is None else list(files)
    unknown = [n for n in names if n not in labels]
    if unknown:
        raise NabError(f"not in combined_windows.json: {unknown}")
    out = {}
    for name in names:
        ts, values = _read_data(root / "data" / name)
        out[name] = NabFile(name, ts, values, _window_rows(name, ts, labels[name]))
    return Corpus(out, load_profiles(root / "config" / "profiles.json"))


def load_profiles(path: str | Path) -> dict[str, Profile]:
    raw = json.loads(Path(path).read_text())
    return {name: Profile(name, float(p["CostMatrix"]["tpWeight"]),
                          float(p["CostMatrix"]["fpWeight"]), float(p["CostMatrix"]["fnWeight"]))
            for name, p in raw.items()}


def _parse_times(texts: list[str]) -> np.ndarray:
    try:
        return np.array([t.strip().replace(" ", "T") for t in texts], dtype="datetime64[ms]")
    except ValueError as e:
        raise NabError(f"bad timestamp: {e}") from e


def _read_data(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows or rows[0][:2] != ["timestamp", "value"]:
        raise NabError(f"{path}: expected a 'timestamp,value' header")
    body = rows[1:]
    ts = _parse_times([r[0] for r in body])
    values = np.array([r[1] for r in body], dtype=np.float64)
    return ts, values


def _window_rows(name: str, ts: np.ndarray, windows: list[list[str]]
                 ) -> tuple[tuple[int, int], ...]:
    # A few NAB files repeat or step back a timestamp (clock changes); rows stay in file order
    # and a bound is the first row with that timestamp.
    out: list[tuple[int, int]] = []
    for start, end in windows:
        bounds = []
        for label, b in zip((start, end), _parse_times([start, end])):
            hits = np.flatnonzero(ts == b)
            if not len(hits):
                raise NabError(f"{name}: window bound {label} is not a timestamp of the file")
            bounds.append(int(hits[0]))
        left, right = bounds
        if right < left or (out and left <= out[-1][1]):
            raise NabError(f"{name}: window {start}..{end} is empty or overlaps the previous")
        out.append((left, right))
    return tuple(out)


def results_path(results_dir: str | Path, detector: str, file_name: str) -> Path:
    """NAB's layout: ``<results>/<detector>/<category>/<detector>_<basename>``."""
    category, base = file_name.split("/", 1)
    return Path(results_dir) / detector / category / f"{detector}_{base}"


def load_published_scores(results_dir: str | Path, detector: str,
                          corpus: Corpus) -> dict[str, np.ndarray]:
    """A published detector's per-row ``anomaly_score`` for every corpus file."""
    out = {}
    for name, f in corpus.files.items():
        path = results_path(results_dir, detector, name)
        with open(path, newline="") as fh:
            rows = list(csv.reader(fh))
        header = rows[0] if rows else []
        if "anomaly_score" not in header or "timestamp" not in header:
            raise NabError(f"{path}: no timestamp/anomaly_score columns")
        col, tcol = header.index("anomaly_score"), header.index("timestamp")
        body = rows[1:]
        if len(body) != f.n or (f.n and _parse_times([body[0][tcol], body[-1][tcol]]).tolist()
                                != [f.timestamps[0], f.timestamps[-1]]):
            raise NabError(f"{path}: rows do not match data/{name}")
        out[name] = np.array([r[col] for r in body], dtype=np.float64)
    return out


def load_published_file_scores(results_dir: str | Path, detector: str
                               ) -> dict[str, dict[str, tuple[float, float]]]:
    """``<detector>_<profile>_scores.csv``: profile -> file -> (threshold, raw score).

    The ``Totals`` row is kept under the key ``"Totals"`` (threshold NaN).
    """
    out: dict[str, dict[str, tuple[float, float]]] = {}
    for profile in PROFILE_NAMES:
        path = Path(results_dir) / detector / f"{detector}_{profile}_scores.csv"
        if not path.exists():
            continue
        rows: dict[str, tuple[float, float]] = {}
        with open(path, newline="") as fh:
            for r in csv.DictReader(fh):
                key = "Totals" if r["Detector"] == "Totals" else r["File"]
                thr = float(r["Threshold"]) if r["Threshold"] else math.nan
                rows[key] = (thr, float(r["Score"]))
        out[profile] = rows
    return out
