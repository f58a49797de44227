"""detectors.multivariate: features, the per-asset model on simulated traffic (false alarms,
an injected accident, explanation), serialisation, the event detector's filter, model swap,
checkpoints, the hazmat variant, and the retrain policy."""

from __future__ import annotations

import json
import math
import pickle
from typing import Any, Iterable, Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.findings import FIRING, RESOLVED, Finding
from detectors.multivariate import (HAZMAT_TANK, MODEL_FORMAT, SPECS, TRAFFIC_SEGMENT,
                                    AssetModel, MultivariateAnomaly, RetrainPolicy,
                                    TankMultivariateAnomaly, event_features, load_model,
                                    time_of_day, traffic_values)
from schemas.validate import parse_event_time
from simulator.generate import Simulation
from unit_helpers import PROFILE

H, MIN = 3_600_000, 60_000
DAY1 = 1_768_428_000_000  # 2026-01-14T22:00Z = 2026-01-15 06:00 in Changsha
DAY2 = DAY1 + 24 * H      # the same hours a day later: fresh noise, same world
HOURS = 3
SCALE, SEED = 0.05, 7
TRAINED_AT = DAY1 + HOURS * H + 5 * MIN


# --- simulated data ------------------------------------------------------------------------

def simulate(start_ms: int, inject: Sequence[dict[str, Any]] = ()) -> tuple[
        dict[str, list[dict[str, Any]]], list[Any]]:
    """Traffic segment and hazmat tank events of ``HOURS`` from ``start_ms``."""
    sim = Simulation(PROFILE, scale=SCALE, seed=SEED, start_ms=start_ms, incidents=0)
    incidents = [sim.inject(**kw) for kw in inject]
    out: dict[str, list[dict[str, Any]]] = {"traffic": [], "hazmat": []}
    t = start_ms
    while t < start_ms + HOURS * H:
        t += 10 * MIN
        got = sim.tick(t)
        out["traffic"].extend(e for e in got["traffic"] if e["type"] == "segment")
        out["hazmat"].extend(e for e in got["hazmat"] if e["type"] == "tank_reading")
    return out, incidents


class Frame:
    """Arrays of segment events (what warehouse.history returns, plus the events)."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.events = events
        self.values = traffic_values(events)
        self.ts = np.array([parse_event_time(e["event_time"]) for e in events], np.int64)
        self.entities = np.array([e["entity_id"] for e in events], dtype=object)


@pytest.fixture(scope="module")
def sim_data() -> dict[str, Any]:
    train, _ = simulate(DAY1)
    test, incidents = simulate(DAY2, [
        {"kind": "traffic_accident", "at_ms": DAY2 + 40 * MIN, "district": "yuelu",
         "duration_s": 1800},
        {"kind": "traffic_accident", "at_ms": DAY2 + 110 * MIN, "district": "furong",
         "duration_s": 1800},
        {"kind": "hazmat_leak", "at_ms": DAY2 + 60 * MIN, "duration_s": 1800}])
    return {"train": Frame(train["traffic"]), "test": Frame(test["traffic"]),
            "train_events": train, "test_events": test,
            "accidents": incidents[:2], "leak": incidents[2]}


@pytest.fixture(scope="module")
def model(sim_data: dict[str, Any]) -> AssetModel:
    f = sim_data["train"]
    return AssetModel().fit(f.values, f.ts, f.entities, trained_at_ms=TRAINED_AT)


def segments(inc: Any) -> list[str]:
    """The road segments an accident slows (its entities also list the accident report and
    any 120 call); the first is the accident's own segment."""
    return [e for e in inc.entities if ":" in e]


def affected(sim_data: dict[str, Any]) -> set[str]:
    return {e for inc in sim_data["accidents"] for e in segments(inc)}


def during(frame: Frame, inc: Any, entities: Iterable[str], margin_ms: int = 3 * MIN
           ) -> np.ndarray:
    """Rows of ``entities`` while the incident is at full strength (after the ramp)."""
    return (np.isin(frame.entities, list(entities)) & (frame.ts >= inc.start_ms + margin_ms)
            & (frame.ts <= inc.end_ms - margin_ms))


# --- features ------------------------------------------------------------------------------

def test_time_of_day_is_the_shanghai_hour() -> None:
    midnight_utc = 1_768_435_200_000  # 2026-01-15T00:00Z = 08:00 in Changsha
    assert time_of_day(np.array([midnight_utc]))[0] == pytest.approx(8.0)
    assert time_of_day(np.array([midnight_utc]), tz_offset_hours=0)[0] == pytest.approx(0.0)
    assert time_of_day(np.array([midnight_utc + 17 * H]))[0] == pytest.approx(1.0)
    x = event_features(np.array([[50.0, 1200.0, 0.2]]), np.array([midnight_utc]))
    assert x.shape == (1, 5)
    assert x[0, :3].tolist() == [50.0, 1200.0, 0.2]
    assert x[0, 3] == pytest.approx(math.sin(2 * math.pi * 8 / 24))
    assert x[0, 4] == pytest.approx(math.cos(2 * math.pi * 8 / 24))
    assert SPECS[TRAFFIC_SEGMENT].feature_names == ("speed_kmh", "flow_vph", "occupancy",
                                                    "tod_sin", "tod_cos")


def test_traffic_values_reads_the_measures_and_marks_missing_ones() -> None:
    events = [{"speed_kmh": 40.0, "flow_vph": 900, "occupancy": 0.1},
              {"speed_kmh": 12.5, "occupancy": 0.5}]
    v = traffic_values(events)
    assert v[0].tolist() == [40.0, 900.0, 0.1]
    assert v[1, 0] == 12.5 and math.isnan(v[1, 1]) and v[1, 2] == 0.5
    assert traffic_values([]).shape == (0, 3)


# --- the model on simulated traffic --------------------------------------------------------

def test_scores_are_calibrated_and_false_alarms_rare_on_normal_traffic(
        model: AssetModel, sim_data: dict[str, Any]) -> None:
    test = sim_data["test"]
    normal = ~np.isin(test.entities, list(affected(sim_data)))
    s = model.score(test.values, test.ts, test.entities)
    assert s.shape == (len(test.ts),) and not np.isnan(s).any()
    assert ((s >= 0) & (s <= 1)).all()
    # a threshold of q is exceeded by about 1 - q of readings the model has not seen
    fpr_99 = float(np.mean(s[normal] > 0.99))
    assert 0.004 < fpr_99 < 0.016, fpr_99
    # the default threshold (target false-alarm rate 0.1% per reading)
    assert model.threshold == pytest.approx(0.999)
    fpr = float(np.mean(s[normal] > model.threshold))
    assert fpr < 0.003, fpr
    # training readings are uniform on the calibrated scale
    train = sim_data["train"]
    st_ = model.score(train.values, train.ts, train.entities)
    assert np.mean(st_ > 0.9) == pytest.approx(0.1, abs=0.01)


def test_an_accident_makes_the_affected_segments_score_high(
        model: AssetModel, sim_data: dict[str, Any]) -> None:
    test = sim_data["test"]
    s = model.score(test.values, test.ts, test.entities)
    for inc in sim_data["accidents"]:
        rows = during(test, inc, segments(inc))
        # the accident's segment and the jammed ones within the queue's reach (3 km: at
        # this scale, a few), each read every 30 s for the 24 min at full strength
        assert len(segments(inc)) >= 2 and rows.sum() >= 40 * len(segments(inc))
        assert np.mean(s[rows] > model.threshold) > 0.9, inc.incident_id
        for seg in segments(inc):  # every affected segment, not just most readings
            assert np.median(s[rows & (test.entities == seg)]) > model.threshold, seg
        # the same segments before the accident are normal
        before = (np.isin(test.entities, segments(inc)) & (test.ts < inc.start_ms))
        assert np.mean(s[before] > model.threshold) < 0.01


def test_the_baselines_are_what_detect_it(sim_data: dict[str, Any]) -> None:
    """A pooled IsolationForest on the raw features (no per-segment / time-of-day baseline)
    misses most of the accident at the same false-alarm rate: the design choice, measured."""
    train, test = sim_data["train"], sim_data["test"]
    plain = AssetModel(per_entity=False, per_time=False, time_in_forest=True).fit(
        train.values, train.ts)
    good = AssetModel().fit(train.values, train.ts, train.entities)
    rows = np.any([during(test, inc, segments(inc)) for inc in sim_data["accidents"]], axis=0)
    det_plain = np.mean(plain.score(test.values, test.ts)[rows] > 0.999)
    det_good = np.mean(good.score(test.values, test.ts, test.entities)[rows] > 0.999)
    assert det_good > 0.9 and det_plain < det_good - 0.3, (det_plain, det_good)


def test_explain_names_speed_for_an_accident(model: AssetModel,
                                             sim_data: dict[str, Any]) -> None:
    test = sim_data["test"]
    for inc in sim_data["accidents"]:
        epicentre = inc.entities[0]
        rows = np.flatnonzero(during(test, inc, [epicentre]))
        for i in rows[::10]:
            why = model.explain(test.values[i], int(test.ts[i]), test.entities[i])
            json.dumps(why)  # goes into the alert as it is
            assert why["top"] == "speed_kmh", why
            speed = why["features"]["speed_kmh"]
            assert speed["z"] < -5 and speed["expected"] > 2 * speed["value"]
            assert why["features"]["occupancy"]["z"] > 0  # the queue fills the detector
            assert why["score"] > model.threshold
            assert 6 <= why["local_hour"] < 9 and why["model"] == model.version
    # a normal reading: nothing stands out
    i = int(np.flatnonzero(~np.isin(test.entities, list(affected(sim_data))))[100])
    why = model.explain(test.values[i], int(test.ts[i]), test.entities[i])
    assert all(abs(f["z"]) < 4 for f in why["features"].values())


def test_the_fast_forest_walk_equals_sklearn(model: AssetModel,
                                            sim_data: dict[str, Any]) -> None:
    test = sim_data["test"]
    z, ok = model._standardise(test.values, test.ts, test.entities)
    x = model._forest_input(z[ok], test.ts[ok])
    assert model._forest is not None
    for rows in (x[:1], x[:37], x):
        np.testing.assert_array_equal(model._forest_raw(rows),
                                      -model._forest.score_samples(rows))
    # with sin/cos inputs too
    train = sim_data["train"]
    m = AssetModel(time_in_forest=True, n_estimators=25).fit(train.values, train.ts,
                                                            train.entities)
    z, ok = m._standardise(test.values[:500], test.ts[:500], test.entities[:500])
    x = m._forest_input(z, test.ts[:500])
    assert m._forest is not None and x.shape[1] == 5
    np.testing.assert_array_equal(m._forest_raw(x), -m._forest.score_samples(x))


def test_unscorable_rows_are_nan(model: AssetModel, sim_data: dict[str, Any]) -> None:
    test = sim_data["test"]
    values = test.values[:3].copy()
    values[1, 2] = np.nan
    ents = [test.entities[0], test.entities[1], "SEG-NEW-0001"]
    s = model.score(values, test.ts[:3], ents)
    assert not np.isnan(s[0]) and np.isnan(s[1]) and np.isnan(s[2])
    assert model.explain(values[2], int(test.ts[2]), "SEG-NEW-0001")["score"] is None
    assert model.score(np.zeros((0, 3)), np.zeros(0, np.int64), []).shape == (0,)
    with pytest.raises(ValueError, match="entity_ids"):
        model.score(values, test.ts[:3])


def test_model_metadata_and_version(model: AssetModel, sim_data: dict[str, Any]) -> None:
    train = sim_data["train"]
    meta = model.meta
    assert meta["n_rows"] == len(train.ts) and meta["n_entities"] == len(set(train.entities))
    assert meta["start_ms"] == int(train.ts.min()) and meta["end_ms"] == int(train.ts.max())
    assert meta["trained_at_ms"] == TRAINED_AT and meta["format"] == MODEL_FORMAT
    assert model.version == f"mv{MODEL_FORMAT}:traffic_segment:{TRAINED_AT}:{len(train.ts)}"
    json.dumps(meta)
    assert AssetModel().version == "" and not AssetModel().fitted


def test_fit_checks_its_input(sim_data: dict[str, Any]) -> None:
    train = sim_data["train"]
    with pytest.raises(ValueError, match="entity_ids"):
        AssetModel().fit(train.values, train.ts)
    with pytest.raises(ValueError, match="too few"):
        AssetModel().fit(train.values[:20], train.ts[:20], train.entities[:20])
    with pytest.raises(ValueError, match="times"):
        AssetModel().fit(train.values, train.ts[:-1], train.entities)
    with pytest.raises(ValueError, match="asset class"):
        AssetModel("bridge")
    with pytest.raises(ValueError, match="target_far"):
        AssetModel(target_far=0.0)
    with pytest.raises(ValueError, match="not fitted"):
        AssetModel().score(train.values[:1], train.ts[:1], train.entities[:1])
    # rows with a missing measure are dropped, not learnt
    values = train.values.copy()
    values[::7, 0] = np.nan
    m = AssetModel(n_estimators=20).fit(values, train.ts, train.entities)
    assert m.meta["n_rows"] == len(train.ts) - len(train.ts[::7])


def test_same_data_same_model(sim_data: dict[str, Any]) -> None:
    train, test = sim_data["train"], sim_data["test"]
    a = AssetModel(n_estimators=30).fit(train.values, train.ts, train.entities)
    b = a.clone().fit(train.values, train.ts, train.entities)
    assert b.params() == a.params()
    np.testing.assert_array_equal(a.score(test.values, test.ts, test.entities),
                                  b.score(test.values, test.ts, test.entities))


def test_pickle_round_trip(model: AssetModel, sim_data: dict[str, Any]) -> None:
    test = sim_data["test"]
    before = model.score(test.values, test.ts, test.entities)
    for back in (load_model(model.to_bytes()), pickle.loads(pickle.dumps(model))):
        assert isinstance(back, AssetModel) and back is not model
        assert back.version == model.version and back.meta == model.meta
        assert back.params() == model.params()
        np.testing.assert_array_equal(back.score(test.values, test.ts, test.entities), before)
        i = 123
        assert back.explain(test.values[i], int(test.ts[i]), test.entities[i]) == \
            model.explain(test.values[i], int(test.ts[i]), test.entities[i])


def test_an_other_format_is_refused(model: AssetModel) -> None:
    state = dict(model.__dict__, format=MODEL_FORMAT + 1)
    blob = pickle.dumps((AssetModel.__new__, (AssetModel,), state))  # not a model
    with pytest.raises(ValueError, match="not an AssetModel"):
        load_model(blob)
    old = AssetModel.__new__(AssetModel)
    with pytest.raises(ValueError, match="format"):
        old.__setstate__(state)


# --- the event detector on simulated traffic -----------------------------------------------

def run_detector(det: MultivariateAnomaly, events: list[dict[str, Any]], chunk: int = 500
                 ) -> list[Finding]:
    out: list[Finding] = []
    for k in range(0, len(events), chunk):
        part = events[k:k + chunk]
        out.extend(det.update("traffic", part, [parse_event_time(e["event_time"])
                                                 for e in part]))
    return out


def test_no_model_no_findings(sim_data: dict[str, Any]) -> None:
    det = MultivariateAnomaly()
    assert run_detector(det, sim_data["test"].events) == []
    assert det.counters["rows"] == len(sim_data["test"].events)
    assert det.counters["scored"] == 0 and det.tracks == {}


def test_detector_fires_on_the_accident_and_resolves_after_it(
        model: AssetModel, sim_data: dict[str, Any]) -> None:
    det = MultivariateAnomaly(model)
    events = sim_data["test"].events
    findings = run_detector(det, events)
    by_id = {e["event_id"]: e for e in events}
    hit = affected(sim_data)
    firing = [f for f in findings if f.status == FIRING]
    false = [f.entity_id for f in firing if f.entity_id not in hit]
    assert len(false) <= 1, false  # 3 h x 100 segments: 36k readings
    for inc in sim_data["accidents"]:
        fired = {f.entity_id: f for f in firing if f.entity_id in segments(inc)}
        assert inc.entities[0] in fired  # the accident's own segment
        assert len(fired) >= len(segments(inc)) - 1
        f = fired[inc.entities[0]]
        # three consecutive readings 30 s apart, once the 2-minute ramp is under way
        assert inc.start_ms < f.event_ms < inc.start_ms + 5 * MIN
        assert f.kind == "traffic_multivariate_anomaly" and f.detector == "traffic_multivariate"
        assert f.stream == "traffic" and f.severity == "minor"
        assert f.value > f.threshold == pytest.approx(0.999)
        assert len(f.evidence) == 3
        assert all(by_id[i]["entity_id"] == f.entity_id for i in f.evidence)
        assert by_id[f.evidence[-1]]["event_time"] == \
            next(e["event_time"] for e in events if e["event_id"] == f.evidence[-1])
        assert f.title_zh == f"路段{f.entity_id}读数组合异常：车速异常偏低"
        assert f.title_en == f"Unusual traffic readings on {f.entity_id}: speed unusually low"
        assert f.district and f.lat is not None and f.lon is not None
        x = f.explanation
        json.dumps(x)
        assert x["top"] == "speed_kmh" and x["model"] == model.version
        assert x["training_window"]["n_rows"] == model.meta["n_rows"]
        assert x["features"]["speed_kmh"]["value"] < x["features"]["speed_kmh"]["expected"]
        # ... and it resolves once the accident is cleared
        res = [r for r in findings if r.status == RESOLVED and r.entity_id == f.entity_id
               and r.event_ms > f.event_ms]
        assert res and inc.end_ms - 3 * MIN < res[0].event_ms < inc.end_ms + 5 * MIN
        assert len(res[0].evidence) == 3 and res[0].title_en.endswith("resolved")
        assert res[0].title_zh.endswith("已恢复")
    # one firing, then one resolved, per episode (alternating per entity)
    for seg in {f.entity_id for f in findings}:
        statuses = [f.status for f in findings if f.entity_id == seg]
        assert statuses[::2] == [FIRING] * len(statuses[::2])
        assert statuses[1::2] == [RESOLVED] * len(statuses[1::2])


def test_detector_results_do_not_depend_on_batching(model: AssetModel,
                                                    sim_data: dict[str, Any]) -> None:
    events = sim_data["test"].events
    whole = run_detector(MultivariateAnomaly(model), events, chunk=len(events))
    small = run_detector(MultivariateAnomaly(model), events, chunk=97)
    assert whole == small and whole


def test_detector_ignores_other_event_types_and_streams(model: AssetModel,
                                                       sim_data: dict[str, Any]) -> None:
    det = MultivariateAnomaly(model)
    accident = {"event_id": "x1", "type": "accident", "entity_id": "ACC-1", "severity": 3,
                "lanes_blocked": 1}
    assert det.update("traffic", [accident], [DAY2]) == []
    assert det.counters["rows"] == 0
    assert det.update("lifeline", sim_data["test"].events[:10], [DAY2] * 10) == []


def test_checkpoint_mid_episode_resumes_identically(model: AssetModel,
                                                     sim_data: dict[str, Any]) -> None:
    events = sim_data["test"].events
    inc = sim_data["accidents"][0]
    cut = next(k for k, e in enumerate(events)
               if parse_event_time(e["event_time"]) > inc.start_ms + 10 * MIN)
    ref = run_detector(MultivariateAnomaly(model), events)
    det = MultivariateAnomaly(model)
    first = run_detector(det, events[:cut])
    state = json.loads(json.dumps(det.snapshot()))
    assert det.firing() and set(det.firing()) <= affected(sim_data)
    again = MultivariateAnomaly(model)
    again.restore(state)
    assert again.firing() == det.firing()
    assert first + run_detector(again, events[cut:]) == ref


# --- the filter and the model swap, with scripted scores -----------------------------------

class Scripted(AssetModel):
    """A fitted-looking model whose score is the event's ``speed_kmh`` / 100 (NaN stays NaN):
    the tests script anomalous (>= 99.95) and normal readings exactly."""

    def __init__(self, target_far: float = 0.001, tag: str = "a") -> None:
        super().__init__(target_far=target_far)
        self._forest = object()  # type: ignore[assignment]
        self.meta = {"trained_at_ms": 1, "start_ms": 0, "end_ms": 1, "n_rows": 100,
                     "format": MODEL_FORMAT}
        self.tag = tag
        self.calls = 0
        self.on_score: Any = None

    def score(self, values: np.ndarray, ts_ms: np.ndarray, entity_ids: Any = None
              ) -> np.ndarray:
        self.calls += 1
        if self.on_score:
            self.on_score()
        return np.asarray(values, dtype=np.float64)[:, 0] / 100.0

    def explain(self, x: Any, ts_ms: int, entity_id: Any = None) -> dict[str, Any]:
        return {"score": float(x[0]) / 100, "top": "speed_kmh", "local_hour": 8.0,
                "features": {"speed_kmh": {"value": float(x[0]), "expected": 50.0,
                                           "z": 9.0, "unit": "km/h"}}}


A, N = 99.99, 10.0  # an anomalous and a normal "speed" under Scripted


def seg_events(seq: Sequence[tuple[str, float]], t0: int = DAY2, start: int = 0
               ) -> tuple[list[dict[str, Any]], list[int]]:
    events, ts = [], []
    for k, (entity, v) in enumerate(seq, start):
        events.append({"event_id": f"e{k}", "type": "segment", "entity_id": entity,
                       "district": "yuelu", "lat": 28.2, "lon": 112.9, "speed_kmh": v,
                       "flow_vph": 100.0, "occupancy": 0.1})
        ts.append(t0 + k * 1000)
    return events, ts


def statuses(findings: list[Finding]) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(f.entity_id, f.status, f.evidence) for f in findings]


def test_fires_after_n_consecutive_and_resolves_after_m_normal() -> None:
    det = MultivariateAnomaly(Scripted(), fire_after=3, resolve_after=2)
    seq = [("s", A), ("s", A), ("s", N),           # a run of 2 breaks: nothing
           ("s", A), ("s", A), ("s", A),           # 3 in a row: fires at e5
           ("s", A), ("s", N), ("s", A),           # one normal is not a recovery
           ("s", N), ("s", N)]                     # 2 normal in a row: resolves at e10
    got = det.update("traffic", *seg_events(seq))
    assert statuses(got) == [("s", FIRING, ("e3", "e4", "e5")),
                             ("s", RESOLVED, ("e9", "e10"))]
    assert [f.event_ms for f in got] == [DAY2 + 5000, DAY2 + 10_000]
    assert got[0].value == pytest.approx(0.9999) and got[0].threshold == pytest.approx(0.999)
    assert got[0].explanation["peak_score"] == pytest.approx(0.9999)
    assert got[0].explanation["since_ms"] == DAY2 + 3000
    assert got[1].explanation["since_ms"] == DAY2 + 3000
    assert det.tracks == {} and det.firing() == []


def test_entities_are_filtered_independently_and_nan_changes_nothing() -> None:
    det = MultivariateAnomaly(Scripted(), fire_after=2, resolve_after=1)
    seq = [("a", A), ("b", A), ("a", math.nan), ("b", N), ("a", A),  # a: A, -, A -> fires
           ("b", A), ("a", N)]                                       # a resolves at once
    got = det.update("traffic", *seg_events(seq))
    assert statuses(got) == [("a", FIRING, ("e0", "e4")), ("a", RESOLVED, ("e6",))]
    assert set(det.tracks) == {"b"} and det.tracks["b"].run == 1


def test_threshold_override() -> None:
    det = MultivariateAnomaly(Scripted(), threshold=0.5, fire_after=1)
    got = det.update("traffic", *seg_events([("s", 60.0), ("s", 40.0)]))
    assert statuses(got)[0] == ("s", FIRING, ("e0",)) and got[0].threshold == 0.5
    with pytest.raises(ValueError):
        MultivariateAnomaly(fire_after=0)


def test_set_model_swaps_for_the_next_batch() -> None:
    strict, loose = Scripted(target_far=0.00001, tag="strict"), Scripted(tag="loose")
    det = MultivariateAnomaly(strict, fire_after=1, resolve_after=1)
    # 99.99 is not above 0.99999 under the strict model ...
    assert det.update("traffic", *seg_events([("s", A)])) == []
    det.set_model(loose)  # ... but is under the loose one
    got = det.update("traffic", *seg_events([("s", A)], start=1))
    assert statuses(got) == [("s", FIRING, ("e1",))] and strict.calls == 1 and loose.calls == 1
    det.set_model(None)   # no model: nothing scored, nothing decided, state kept
    assert det.update("traffic", *seg_events([("s", N)], start=2)) == []
    assert det.firing() == ["s"]
    det.set_model(loose)
    assert statuses(det.update("traffic", *seg_events([("s", N)], start=3))) == \
        [("s", RESOLVED, ("e3",))]


def test_a_swap_during_a_batch_takes_effect_after_it() -> None:
    first, second = Scripted(tag="1"), Scripted(tag="2")
    det = MultivariateAnomaly(first, fire_after=1)
    first.on_score = lambda: det.set_model(second)  # another thread swapping mid-batch
    got = det.update("traffic", *seg_events([("s", A), ("t", A)]))
    assert [f.entity_id for f in got] == ["s", "t"]  # the whole batch used ``first``
    assert det.model is second and first.calls == 1 and second.calls == 0


def test_set_model_checks_the_model(model: AssetModel) -> None:
    det = MultivariateAnomaly()
    with pytest.raises(ValueError, match="not fitted"):
        det.set_model(AssetModel())
    with pytest.raises(ValueError, match="hazmat_tank"):
        TankMultivariateAnomaly(model)
    det.set_model(model)
    assert det.model is model


FLAGS = st.lists(st.tuples(st.sampled_from("abc"), st.sampled_from([A, N, math.nan])),
                 max_size=60)


@settings(max_examples=60, deadline=None)
@given(FLAGS, st.integers(1, 4), st.integers(1, 4), st.lists(st.integers(1, 60), max_size=6))
def test_filter_properties(seq: list[tuple[str, float]], n: int, m: int,
                           cuts: list[int]) -> None:
    """Batch-invariant; per entity the findings alternate firing/resolved; a firing comes
    exactly at the n-th anomalous reading in a row (unscored readings skipped)."""
    events, ts = seg_events(seq)
    whole = MultivariateAnomaly(Scripted(), fire_after=n, resolve_after=m)
    ref = whole.update("traffic", events, ts)
    parts = MultivariateAnomaly(Scripted(), fire_after=n, resolve_after=m)
    got: list[Finding] = []
    bounds = sorted({0, len(events), *[c for c in cuts if c < len(events)]})
    for lo, hi in zip(bounds, bounds[1:]):
        got.extend(parts.update("traffic", events[lo:hi], ts[lo:hi]))
        parts.restore(json.loads(json.dumps(parts.snapshot())))
    assert got == ref
    for entity in "abc":
        mine = [f for f in ref if f.entity_id == entity]
        assert [f.status for f in mine] == [FIRING, RESOLVED] * (len(mine) // 2) + \
            [FIRING] * (len(mine) % 2)
        scored = [v for e, v in seq if e == entity and not math.isnan(v)]
        if not any(f.status == FIRING for f in mine):
            run = best = 0
            for v in scored:
                run = run + 1 if v == A else 0
                best = max(best, run)
            assert best < n
        for f in mine:
            assert len(f.evidence) == (n if f.status == FIRING else m)


# --- hazmat tanks --------------------------------------------------------------------------

def tank_frame(events: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    rows = TankMultivariateAnomaly().rows("hazmat", events,
                                          [parse_event_time(e["event_time"]) for e in events])
    return rows.values, rows.ts_ms, rows.entity_ids


def test_tank_readings_are_joined_per_tank() -> None:
    det = TankMultivariateAnomaly(join_ms=5000)
    kinds = SPECS[HAZMAT_TANK].measures

    def ev(k: int, tank: str, kind: str, value: float) -> dict[str, Any]:
        return {"event_id": f"h{k}", "type": "tank_reading", "entity_id": tank,
                "kind": kind, "value": value, "unit": "x", "lat": 28.2, "lon": 112.9}
    events = [ev(0, "T1", kinds[0], 600.0), ev(1, "T2", kinds[0], 5.0),
              ev(2, "T1", kinds[1], 15.0), ev(3, "T1", kinds[2], 0.2),   # T1 complete
              ev(4, "T2", kinds[1], 14.0)]
    rows = det.rows("hazmat", events[:4], [DAY2, DAY2, DAY2 + 10, DAY2 + 20])
    assert rows.entity_ids == ["T1"] and rows.values.tolist() == [[600.0, 15.0, 0.2]]
    assert rows.ids == [("h0", "h2", "h3")] and rows.ts_ms.tolist() == [DAY2 + 20]
    det.restore(json.loads(json.dumps(det.snapshot())))  # T2 waits across a checkpoint
    assert set(det.pending) == {"T2"}
    # T2's pressure is too old to join a temperature 60 s later: dropped
    rows = det.rows("hazmat", [events[4], ev(5, "T2", kinds[2], 0.3)], [DAY2 + 60_000] * 2)
    assert len(rows.ts_ms) == 0 and set(det.pending["T2"]) == set(kinds[1:])


def test_tank_model_detects_a_hazmat_leak(sim_data: dict[str, Any]) -> None:
    values, ts, tanks = tank_frame(sim_data["train_events"]["hazmat"])
    assert len(ts) > 2000
    model = AssetModel(HAZMAT_TANK).fit(values, ts, tanks, trained_at_ms=TRAINED_AT)
    leak = sim_data["leak"]
    tank = leak.entities[1]
    det = TankMultivariateAnomaly(model)
    events = sim_data["test_events"]["hazmat"]
    findings = det.update("hazmat", events, [parse_event_time(e["event_time"]) for e in events])
    firing = [f for f in findings if f.status == FIRING]
    assert [f.entity_id for f in firing if f.entity_id != tank] == []
    f = next(f for f in firing if f.entity_id == tank)
    assert leak.start_ms < f.event_ms < leak.start_ms + 10 * MIN
    assert f.kind == "hazmat_tank_multivariate_anomaly" and f.severity == "major"
    assert f.explanation["top"] in ("tank_gas", "tank_pressure")
    assert len(f.evidence) == 2 * 3  # two readings of three kinds
    assert f.title_en.startswith(f"Unusual tank readings on {tank}: ")
    assert any(r.status == RESOLVED and r.entity_id == tank for r in findings)


# --- retraining ----------------------------------------------------------------------------

@pytest.mark.parametrize("now, last, rows, due", [
    (10 * H, None, 10_000, True),         # never trained, enough rows
    (10 * H, None, 9_999, False),         # never trained, too few rows
    (25 * H, 1 * H, 50_000, True),        # a day since the last training
    (24 * H, 1 * H, 50_000, False),       # not yet
    (50 * H, 1 * H, 10, False),           # due by time, but the window is (nearly) empty
])
def test_retrain_policy(now: int, last: int | None, rows: int, due: bool) -> None:
    policy = RetrainPolicy(interval_ms=24 * H, min_rows=10_000)
    assert policy.due(now, last, rows) is due


def test_retrain_policy_window_and_next_due() -> None:
    policy = RetrainPolicy(interval_ms=6 * H, min_rows=1, lookback_ms=48 * H)
    assert policy.window(100 * H) == (52 * H, 100 * H)
    assert policy.next_due_ms(None, 7) == 7 and policy.next_due_ms(10 * H, 11 * H) == 16 * H
