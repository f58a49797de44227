"""The NAB scorer (bench/nab_scoring.py) and harness (bench/nab.py).

Table-driven checks of the method on tiny synthetic files, the sweep against brute force,
normalisation, and the proof on real data: NAB's published per-file scores (four detectors,
three profiles) and per-row weights reproduced from the excerpt in tests/fixtures/nab/.
"""

from __future__ import annotations

import csv
import io
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from unit_helpers import ROOT

from bench import nab
from bench import nab_scoring as ns
from detectors.base import REGISTRY, Detector

FIXTURE = ROOT / "tests" / "fixtures" / "nab"
SPEED = "realTraffic/speed_7578.csv"
PROFILES = {"standard": ns.Profile("standard", 1.0, 0.11, 1.0),
            "reward_low_FP_rate": ns.Profile("reward_low_FP_rate", 1.0, 0.22, 1.0),
            "reward_low_FN_rate": ns.Profile("reward_low_FN_rate", 1.0, 0.11, 2.0)}
STD = PROFILES["standard"]
SIG1 = 2.0 / (1.0 + math.exp(-5.0)) - 1.0  # sigma(-1)


def sig(x: float) -> float:
    return 2.0 / (1.0 + math.exp(5.0 * x)) - 1.0


def make_file(n: int, windows: list[tuple[int, int]], name: str = "cat/f.csv") -> ns.NabFile:
    ts = np.datetime64("2020-01-01T00:00", "ms") + np.arange(n) * np.timedelta64(5, "m")
    return ns.NabFile(name, ts, np.zeros(n), tuple(windows))


def detections(n: int, rows: list[int]) -> np.ndarray:
    d = np.zeros(n, dtype=bool)
    d[rows] = True
    return d


# -- the sigmoid and per-file scoring -----------------------------------------------------------

@pytest.mark.parametrize("x, expected", [
    (0.0, 0.0),
    (-1.0, SIG1),
    (-0.5, sig(-0.5)),
    (1.0, sig(1.0)),
    (3.0, sig(3.0)),     # the formula up to three window widths...
    (3.0001, -1.0),      # ...exactly -1 beyond (NAB's published per-row scores step there)
    (50.0, -1.0),
    (-50.0, 1.0),
])
def test_scaled_sigmoid(x: float, expected: float) -> None:
    assert ns.scaled_sigmoid(x) == pytest.approx(expected, abs=1e-15)


@pytest.mark.parametrize("n, expected", [(100, 15), (1127, 169), (4032, 604), (5000, 750),
                                         (22695, 750), (0, 0)])
def test_probation_length(n: int, expected: int) -> None:
    assert ns.probation_length(n) == expected


# one window, rows 40..49 (width 10), in a 100-row file (probation: rows 0..14)
N, L, R = 100, 40, 49
W = R - L + 1


@pytest.mark.parametrize("name, rows, profile, expected", [
    ("at the left edge: +A_TP", [L], STD, 1.0),
    ("at the centre: ~0.86", [45], STD, sig(-0.5) / SIG1),
    ("at the right edge: the least", [R], STD, sig(-1 / W) / SIG1),
    ("only the best detection in a window counts", [42, 45, R], STD, sig(-(R - 42 + 1) / W) / SIG1),
    ("missed window: -A_FN", [], STD, -1.0),
    ("missed window, low-FN profile: -2", [], PROFILES["reward_low_FN_rate"], -2.0),
    ("probationary detections are ignored", [0, 5, 14], STD, -1.0),
    ("first row after probation counts (before any window: -A_FP)", [15], STD, -1.0 - 0.11),
    ("FP before any window: -A_FP", [20, L], STD, 1.0 - 0.11),
    ("FP before any window, low-FP profile", [20, L], PROFILES["reward_low_FP_rate"], 1.0 - 0.22),
    ("FP right after the window costs ~0", [R + 1], STD, -1.0 + 0.11 * sig(1 / (W - 1))),
    ("FP far after the window: -A_FP", [95], STD, -1.0 - 0.11),
    ("every FP counts", [20, 21, L], STD, 1.0 - 0.22),
])
def test_score_file_table(name: str, rows: list[int], profile: ns.Profile,
                          expected: float) -> None:
    f = make_file(N, [(L, R)])
    assert ns.score_file(detections(N, rows), f, profile) == pytest.approx(expected, abs=1e-12)


def test_named_values() -> None:
    f = make_file(N, [(L, R)])
    centre = ns.score_file(detections(N, [45]), f, STD)
    assert centre == pytest.approx(0.86, abs=0.005)
    right_after = ns.score_file(detections(N, [L, R + 1]), f, STD) - 1.0
    assert -0.05 < right_after < 0


def test_fp_after_a_window_is_measured_from_the_closest_preceding_window() -> None:
    f = make_file(200, [(40, 49), (100, 139)])  # widths 10 and 40
    both = [40, 100]
    got = ns.score_file(detections(200, both + [145]), f, STD)
    assert got == pytest.approx(2.0 + 0.11 * sig((145 - 139) / 39), abs=1e-12)
    got = ns.score_file(detections(200, both + [60]), f, STD)
    assert got == pytest.approx(2.0 + 0.11 * sig((60 - 49) / 9), abs=1e-12)


def test_score_file_rejects_a_wrong_length() -> None:
    with pytest.raises(ns.NabError):
        ns.score_file(np.zeros(N - 1, dtype=bool), make_file(N, [(L, R)]), STD)


def test_confusion_rows_counts_after_probation() -> None:
    f = make_file(N, [(L, R)])
    got = ns.confusion_rows(detections(N, [3, 20, 41, 42]), f)
    assert got == {"tp": 2, "fn": W - 2, "fp": 1, "tn": N - 15 - W - 1}


# -- the sweep ----------------------------------------------------------------------------------

def brute_force(scores: dict[str, np.ndarray], corpus: ns.Corpus, profile: str) -> float:
    cands = np.unique(np.concatenate(list(scores.values())))
    cands = np.r_[cands[~np.isnan(cands)], np.inf]
    return max(sum(ns.score_at_threshold(scores, corpus, profile, t).values()) for t in cands)


@st.composite
def corpora(draw):
    files, scores = {}, {}
    for k in range(draw(st.integers(1, 3))):
        n = draw(st.integers(20, 70))
        windows, pos = [], ns.probation_length(n) // 2
        for _ in range(draw(st.integers(0, 3))):
            left = pos + draw(st.integers(0, 12))
            right = left + draw(st.integers(0, 8))
            if right >= n:
                break
            windows.append((left, right))
            pos = right + 1
        name = f"cat/f{k}.csv"
        files[name] = make_file(n, windows, name)
        # few distinct levels, so that thresholds tie across rows and files
        levels = draw(st.lists(st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.5, 0.75, 0.9, 1.0, np.nan]),
                               min_size=n, max_size=n))
        scores[name] = np.array(levels)
    return ns.Corpus(files, dict(PROFILES)), scores


@settings(max_examples=150, deadline=None)
@given(corpora(), st.sampled_from(list(PROFILES)))
def test_sweep_finds_the_brute_force_optimum(case, profile: str) -> None:
    corpus, scores = case
    got = ns.sweep(scores, corpus, profile)
    assert got.raw == pytest.approx(brute_force(scores, corpus, profile), abs=1e-9)
    at = sum(ns.score_at_threshold(scores, corpus, profile, got.threshold).values())
    assert at == pytest.approx(got.raw, abs=1e-9)  # the threshold reported gives that raw
    if corpus.n_windows == 0:
        assert math.isnan(got.normalized)  # null and perfect coincide
    else:
        assert got.normalized == pytest.approx(ns.normalize(got.raw, corpus, profile))
    nothing = -corpus.profiles[profile].a_fn * corpus.n_windows
    assert got.raw >= nothing - 1e-9  # "detect nothing" is always a candidate


def test_sweep_prefers_the_highest_threshold_among_ties_and_nothing_when_best() -> None:
    f = make_file(N, [(L, R)])
    corpus = ns.Corpus({f.name: f}, dict(PROFILES))
    s = np.zeros(N)
    s[L] = 0.9
    s[L + 1] = 0.8  # adds nothing once L is detected: 0.9 wins the tie
    got = ns.sweep({f.name: s}, corpus, "standard")
    assert (got.threshold, got.raw) == (0.9, pytest.approx(1.0))
    s = np.zeros(N)
    s[20:30] = 1.0  # ten far false positives and no true positive: better to detect nothing
    got = ns.sweep({f.name: s}, corpus, "standard")
    assert got.raw == pytest.approx(-1.0) and not (s >= got.threshold).any()


def test_sweep_needs_every_file() -> None:
    f, g = make_file(N, [(L, R)], "a/f.csv"), make_file(N, [], "a/g.csv")
    corpus = ns.Corpus({f.name: f, g.name: g}, dict(PROFILES))
    with pytest.raises(ns.NabError):
        ns.sweep({f.name: np.zeros(N)}, corpus, "standard")


def test_sweep_is_fast_on_a_corpus_sized_input() -> None:
    rng = np.random.default_rng(1)
    files, scores = {}, {}
    for k in range(40):  # 40 files x 9,000 rows: ~NAB's 365k rows
        n = 9000
        starts = np.sort(rng.choice(np.arange(1500, n - 400, 400), size=2, replace=False))
        f = make_file(n, [(int(a), int(a) + 300) for a in starts], f"c/{k}.csv")
        files[f.name], scores[f.name] = f, rng.random(n)
    corpus = ns.Corpus(files, dict(PROFILES))
    ns.sweep(scores, corpus, "standard")  # builds the cached weight table
    import time
    start = time.perf_counter()
    ns.score_detector(scores, corpus)
    assert time.perf_counter() - start < 5.0


# -- normalisation --------------------------------------------------------------------------------

def fixture_corpus() -> ns.Corpus:
    return ns.load_corpus(FIXTURE)


@pytest.mark.parametrize("profile", list(PROFILES))
def test_null_is_0_and_perfect_is_100(profile: str) -> None:
    corpus = fixture_corpus()
    f = corpus.files[SPEED]
    null = ns.sweep({SPEED: np.full(f.n, 0.5)}, corpus, profile)
    assert null.raw == pytest.approx(-corpus.profiles[profile].a_fn * 4)
    assert null.normalized == pytest.approx(0.0)
    perfect = np.zeros(f.n)
    perfect[[left for left, _ in f.windows]] = 1.0
    assert ns.sweep({SPEED: perfect}, corpus, profile).normalized == pytest.approx(100.0)
    assert ns.normalize(ns.null_raw(corpus, profile), corpus, profile) == 0.0
    assert ns.normalize(ns.perfect_raw(corpus, profile), corpus, profile) == 100.0


def test_numenta_published_totals_normalise_to_the_scoreboard() -> None:
    # SCOREBOARD.md: 116 windows; numenta raw totals -> 70.10 / 63.12 / 74.32
    corpus = ns.Corpus({f"c/{k}.csv": make_file(100, [(20, 24), (60, 64)], f"c/{k}.csv")
                        for k in range(58)}, dict(PROFILES))
    assert corpus.n_windows == 116
    for profile, raw, published in [("standard", 46.6344501971, 70.10105611943965),
                                    ("reward_low_FP_rate", 30.4310725171, 63.11684160219828),
                                    ("reward_low_FN_rate", 26.6344501971, 74.3202443095115)]:
        assert ns.normalize(raw, corpus, profile) == pytest.approx(published, abs=1e-8)


# -- the proof on NAB's published results ------------------------------------------------------

EXCERPTS = {"numenta": 0.5, "contextOSE": 0.5, "knncad": 0.99, "ARTime": 0.3}


def excerpt_scores(detector: str, f: ns.NabFile) -> np.ndarray:
    """The published anomaly scores, rows under the excerpt's cutoff as 0 (README.md)."""
    if detector == "null":
        return np.full(f.n, 0.5)
    row = {t: i for i, t in enumerate(f.timestamps.astype("datetime64[s]").astype(str))}
    s = np.zeros(f.n)
    path = FIXTURE / "results" / detector / "realTraffic" / f"{detector}_speed_7578.excerpt.csv"
    for r in csv.DictReader(path.open()):
        value = float(r["anomaly_score"])
        assert value >= EXCERPTS[detector]
        s[row[r["timestamp"].replace(" ", "T")]] = value
    return s


def test_fixture_corpus_loads() -> None:
    corpus = fixture_corpus()
    f = corpus.files[SPEED]
    assert (f.n, f.probation, corpus.n_windows) == (1127, 169, 4)
    assert f.windows == ((303, 331), (740, 768), (909, 937), (945, 973))
    assert corpus.profiles == PROFILES
    assert f.labels.sum() == 4 * 29 and f.ts_ms[0] == 1441712340000  # 2015-09-08 11:39 UTC


@pytest.mark.parametrize("detector", ["numenta", "contextOSE", "ARTime", "knncad", "null"])
@pytest.mark.parametrize("profile", list(PROFILES))
def test_published_per_file_score_is_reproduced(detector: str, profile: str) -> None:
    corpus = fixture_corpus()
    f = corpus.files[SPEED]
    published = ns.load_published_file_scores(FIXTURE / "results", detector)[profile]
    threshold, score = published[SPEED]
    det = excerpt_scores(detector, f) >= threshold
    assert ns.score_file(det, f, corpus.profiles[profile]) == pytest.approx(score, abs=1e-9)
    # and NAB's row counts (after the probationary period) agree
    with (FIXTURE / "results" / detector / f"{detector}_{profile}_scores.csv").open() as fh:
        row = next(csv.DictReader(fh))
    counts = ns.confusion_rows(det, f)
    assert [counts[k] for k in ("tp", "tn", "fp", "fn")] == [int(row[k]) for k in
                                                           ("TP", "TN", "FP", "FN")]


def test_per_row_weights_match_nabs_published_sweep_scores() -> None:
    corpus = fixture_corpus()
    f = corpus.files[SPEED]
    row = {t: i for i, t in enumerate(f.timestamps.astype("datetime64[s]").astype(str))}
    w = f.weights
    path = FIXTURE / "results" / "ARTime" / "realTraffic" / "ARTime_speed_7578.sweep_excerpt.csv"
    seen = 0
    for r in csv.DictReader(path.open()):
        i = row[r["timestamp"].replace(" ", "T")]
        assert w.kind[i] != ns.IGNORED
        for profile in PROFILES.values():
            weight = profile.a_tp if w.kind[i] == ns.IN_WINDOW else profile.a_fp
            assert weight * w.unit[i] == pytest.approx(float(r[f"S(t)_{profile.name}"]),
                                                       abs=1e-12)
        seen += 1
    assert seen == 40


def test_harness_per_file_checks_on_the_fixture() -> None:
    corpus = fixture_corpus()
    f = corpus.files[SPEED]
    for detector in ["numenta", "contextOSE", "ARTime", "knncad", "null"]:
        published = ns.load_published_file_scores(FIXTURE / "results", detector)
        checks = nab.per_file_checks(corpus, {SPEED: excerpt_scores(detector, f)}, published)
        assert len(checks) == 3
        assert all(abs(a - b) < 1e-9 for _, _, a, b in checks)


# -- loading ------------------------------------------------------------------------------------

def test_load_published_scores_reads_nab_layout(tmp_path: Path) -> None:
    corpus = fixture_corpus()
    f = corpus.files[SPEED]
    s = excerpt_scores("numenta", f)
    path = ns.results_path(tmp_path, "numenta", SPEED)
    path.parent.mkdir(parents=True)
    buf = io.StringIO()
    buf.write("timestamp,value,anomaly_score,raw_score,label\n")
    for t, v, a in zip(f.timestamps.astype("datetime64[s]").astype(str), f.values, s):
        buf.write(f"{t.replace('T', ' ')},{v:g},{float(a)!r},0.0,0\n")
    path.write_text(buf.getvalue())
    got = ns.load_published_scores(tmp_path, "numenta", corpus)
    np.testing.assert_array_equal(got[SPEED], s)
    path.write_text("\n".join(buf.getvalue().splitlines()[:-1]) + "\n")  # one row short
    with pytest.raises(ns.NabError):
        ns.load_published_scores(tmp_path, "numenta", corpus)


def test_load_corpus_rejects_a_window_bound_that_is_not_a_timestamp(tmp_path: Path) -> None:
    nab_dir = tmp_path / "nab"
    shutil.copytree(FIXTURE, nab_dir)
    labels = nab_dir / "labels" / "combined_windows.json"
    labels.write_text(json.dumps({SPEED: [["2015-09-11 15:35:00.000000",
                                           "2015-09-11 17:54:00.000000"]]}))
    with pytest.raises(ns.NabError, match="not a timestamp"):
        ns.load_corpus(nab_dir)


def test_repeated_timestamps_keep_file_order(tmp_path: Path) -> None:
    nab_dir = tmp_path / "nab"
    for sub in ("data/c", "labels", "config"):
        (nab_dir / sub).mkdir(parents=True)
    shutil.copy(FIXTURE / "config" / "profiles.json", nab_dir / "config")
    rows = ["timestamp,value"] + [f"2020-01-01 00:{m:02d}:00,{m}" for m in range(30)]
    rows.insert(11, "2020-01-01 00:09:00,99")  # a clock step back, as in a few NAB files
    (nab_dir / "data" / "c" / "f.csv").write_text("\n".join(rows) + "\n")
    (nab_dir / "labels" / "combined_windows.json").write_text(json.dumps(
        {"c/f.csv": [["2020-01-01 00:20:00.000000", "2020-01-01 00:24:00.000000"]]}))
    f = ns.load_corpus(nab_dir).files["c/f.csv"]
    assert f.n == 31 and f.windows == ((21, 25),)


# -- the harness with a test-only detector --------------------------------------------------------

@pytest.fixture
def jump_detector():
    """A test-only detector, registered for the test and unregistered after it."""

    class JumpDetector(Detector):
        """|x - previous x| / scale: scores before learning, causal."""

        name = "test_nab_jump"

        def __init__(self, scale: float = 10.0) -> None:
            self.scale = scale
            self._last: float | None = None

        def score_one(self, x: float, t_ms: int) -> float:
            return 0.0 if self._last is None else abs(x - self._last) / self.scale

        def learn_one(self, x: float, t_ms: int) -> None:
            self._last = x

    yield JumpDetector
    REGISTRY.pop(JumpDetector.name, None)


def test_run_detector_scores_and_times_a_registered_detector(jump_detector) -> None:
    corpus = fixture_corpus()
    run = nab.run_detector({"name": "test_nab_jump", "scale": 5.0}, corpus)
    assert run.name == "test_nab_jump" and run.points == 1127 and run.seconds > 0
    assert set(run.scores) == set(PROFILES)
    for profile, value in run.scores.items():
        assert 0.0 <= value <= 100.0
        jumps = jump_detector(5.0).process_many(corpus.files[SPEED].values,
                                               corpus.files[SPEED].ts_ms)
        assert value == pytest.approx(ns.sweep({SPEED: jumps}, corpus, profile).normalized)
    assert run.scores["standard"] > 0  # the speed drops in this file are jumps


def test_cli_runs_a_detector_over_the_corpus(jump_detector) -> None:
    out = io.StringIO()
    assert nab.main(["--nab", str(FIXTURE), "--detector", "test_nab_jump",
                     "--config", '{"scale": 5.0}'], out=out) == 0
    text = out.getvalue()
    assert "test_nab_jump" in text and "points/s" in text


def test_cli_verifies_from_per_point_results(tmp_path: Path) -> None:
    """The full path: per-point results present -> sweep; per-file checks reported."""
    nab_dir = tmp_path / "nab"
    shutil.copytree(FIXTURE, nab_dir)
    corpus = fixture_corpus()
    f = corpus.files[SPEED]
    s = excerpt_scores("knncad", f)
    path = ns.results_path(nab_dir / "results", "knncad", SPEED)
    path.write_text("timestamp,value,anomaly_score,label\n" + "".join(
        f"{t.replace('T', ' ')},{v:g},{float(a)!r},0\n"
        for t, v, a in zip(f.timestamps.astype("datetime64[s]").astype(str), f.values, s)))
    published = ns.load_published_file_scores(nab_dir / "results", "knncad")
    final = {"knncad": {p: ns.normalize(published[p][SPEED][1], corpus, p) for p in PROFILES}}
    (nab_dir / "results" / "final_results.json").write_text(json.dumps(final))
    out = io.StringIO()
    checks = nab.verify_published(nab_dir, nab_dir / "results", corpus, out)
    swept = [c for c in checks if c.detector == "knncad"]
    assert [c.method for c in swept] == ["sweep"] * 3
    assert all(c.diff >= -1e-9 for c in swept)  # the sweep's optimum is at least as good
    assert "knncad: 3 per-file scores at the published thresholds, max |diff|" in out.getvalue()
