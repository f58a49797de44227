"""detectors.seasonal: Changsha-local buckets, the weekly profile and its hour-of-day
fallback, robustness to spikes and stuck hours, and explanations."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from detectors.seasonal import SeasonalBaseline

CST = timezone(timedelta(hours=8))
MIN = 60_000


def ms(*args: int, tz: timezone = CST) -> int:
    return int(datetime(*args, tzinfo=tz).timestamp() * 1000)


# (event time, day bucket, weekday (Mon = 0)) with hourly buckets, in Changsha time
BUCKETS = [
    (ms(2025, 6, 2, 0, 0), 0, 0),          # Monday 00:00
    (ms(2025, 6, 2, 0, 59, 59), 0, 0),
    (ms(2025, 6, 2, 8, 30), 8, 0),
    (ms(2025, 6, 1, 8, 0, tz=timezone.utc), 16, 6),   # 16:00 Sunday in Changsha
    (ms(2025, 6, 1, 16, 0, tz=timezone.utc), 0, 0),   # UTC Sunday = Monday 00:00 locally
    (ms(2025, 6, 7, 23, 59), 23, 5),       # Saturday
    (ms(1969, 12, 31, 23, 0), 23, 2),      # before the epoch: a Wednesday
]


@pytest.mark.parametrize("t,hour,weekday", BUCKETS)
def test_buckets_are_in_changsha_local_time(t: int, hour: int, weekday: int) -> None:
    det = SeasonalBaseline()
    day, week = det.buckets(np.array([t]))
    assert day[0] == hour
    assert det.describe(int(week[0]))["weekday"] == weekday
    assert det.describe(int(week[0]))["start"] == f"{hour:02d}:00"


def test_the_offset_is_a_hyperparameter() -> None:
    t = np.array([ms(2025, 6, 2, 8, 0)])
    assert SeasonalBaseline(tz_offset_hours=0).buckets(t)[0][0] == 0   # 00:00 UTC
    assert SeasonalBaseline(period="day").buckets(t)[1][0] == -1      # no weekly buckets


def test_finer_buckets() -> None:
    det = SeasonalBaseline(bucket_minutes=15)
    day, week = det.buckets(np.array([ms(2025, 6, 3, 17, 40)]))
    assert day[0] == 17 * 4 + 2
    assert det.describe(int(week[0])) == {"bucket": int(week[0]), "weekday": 1,
                                          "start": "17:30", "minutes": 15}


@pytest.mark.parametrize("bad", [{"period": "month"}, {"bucket_minutes": 7},
                                 {"bucket_minutes": 0}, {"alpha": 0.0}, {"side": "x"},
                                 {"min_samples": 0}])
def test_bad_hyperparameters_are_rejected(bad: dict) -> None:
    with pytest.raises(ValueError):
        SeasonalBaseline(**bad)


def traffic_speed(days: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A road segment every 5 minutes: 60 km/h, down to 25 in the weekday rush hours."""
    t = ms(2025, 6, 2, 0, 0) + np.arange(days * 288) * 5 * MIN
    local = datetime(2025, 6, 2, tzinfo=CST)
    hours = np.array([(local + timedelta(minutes=5 * i)).hour for i in range(len(t))])
    weekday = (np.arange(len(t)) // 288) % 7 < 5
    rush = weekday & (((hours >= 7) & (hours < 9)) | ((hours >= 17) & (hours < 19)))
    speed = np.where(rush, 25.0, 60.0) + np.random.default_rng(seed).normal(0, 2.0, len(t))
    return speed, t


@pytest.mark.parametrize("period", ["week", "day"])
def test_rush_hour_is_normal_at_rush_hour_only(period: str) -> None:
    speed, t = traffic_speed(21)
    det = SeasonalBaseline(period=period)
    det.process_many(speed, t)
    monday_rush, monday_night = ms(2025, 6, 23, 8, 0), ms(2025, 6, 23, 3, 0)
    assert det.score_one(25.0, monday_rush) < 2.0
    assert det.score_one(25.0, monday_night) > 10.0
    if period == "week":  # only the weekly profile knows Saturday has no rush hour
        assert det.score_one(25.0, ms(2025, 6, 28, 8, 0)) > 10.0


def test_the_hour_of_day_profile_stands_in_while_a_weekday_is_cold() -> None:
    speed, t = traffic_speed(3)  # Monday to Wednesday: Thursday's buckets are empty
    det = SeasonalBaseline(min_samples=5)
    det.process_many(speed, t)
    assert det.score_one(60.0, ms(2025, 6, 5, 3, 0)) < 2.0
    assert det.explain()["weekday"] is None
    det.score_one(60.0, ms(2025, 6, 4, 3, 0))
    assert det.explain()["weekday"] == 2


def test_no_score_before_min_samples() -> None:
    det = SeasonalBaseline(min_samples=4)
    scores = det.process_many(np.array([10.0, 11.0, 10.0, 11.0, 500.0]),
                              ms(2025, 6, 2, 9, 0) + np.arange(5) * MIN)
    assert (scores[:4] == 0).all() and scores[4] > 100
    assert det.score_one(500.0, ms(2025, 6, 2, 10, 0)) == 0.0  # 10:00 has no data yet


def test_a_spike_barely_moves_the_baseline() -> None:
    rng = np.random.default_rng(1)
    t = ms(2025, 6, 2, 9, 0) + np.arange(50) * MIN
    det = SeasonalBaseline(period="day")
    det.process_many(50 + rng.normal(size=50), t)
    det.score_one(50.0, int(t[-1]))
    before = det.explain()["baseline"]
    det.process_many(np.array([1e6]), t[-1:] + MIN)
    det.score_one(50.0, int(t[-1]))
    spread = det.explain()["spread"]
    assert abs(det.explain()["baseline"] - before) <= det.clip * spread * det.alpha * 1.01


def test_a_stuck_hour_does_not_make_normal_data_look_extreme() -> None:
    rng = np.random.default_rng(2)
    t = ms(2025, 6, 2, 0, 0) + np.arange(3 * 1440) * MIN
    xs = 50 + rng.normal(size=len(t))
    xs[9 * 60:10 * 60] = 50.0  # 09:00-10:00 on the first day: a constant
    scores = SeasonalBaseline(period="day").process_many(xs, t)
    assert scores[1440:].max() < 10


def test_side_low_scores_only_drops() -> None:
    speed, t = traffic_speed(7)
    det = SeasonalBaseline(period="day", side="low")
    det.process_many(speed, t)
    night = ms(2025, 6, 9, 3, 0)
    assert det.score_one(90.0, night) == 0.0 and det.score_one(30.0, night) > 5


def test_explain_gives_bucket_baseline_and_spread() -> None:
    speed, t = traffic_speed(8)
    det = SeasonalBaseline()
    det.process_many(speed, t)
    s = det.score_one(40.0, ms(2025, 6, 10, 8, 10))  # Tuesday rush hour
    e = det.explain()
    assert e["weekday"] == 1 and e["start"] == "08:00" and e["minutes"] == 60
    assert e["baseline"] == pytest.approx(25.0, abs=1.5)
    assert 1.0 < e["spread"] < 4.0
    assert e["score"] == s and e["deviation"] == pytest.approx(40.0 - e["baseline"])
    assert e["window"] >= det.min_samples
