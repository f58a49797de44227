"""citycc.settings: defaults, CITYCC_* parsing, errors naming the variable, ClickHouse URLs."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from citycc.settings import (PROJECT_ROOT, ClickHouseAddress, Settings, SettingsError,
                             load_settings)


def test_defaults() -> None:
    s = load_settings({})
    assert s == Settings()
    assert (s.broker_port, s.clickhouse_port, s.cockpit_port) == (19092, 19000, 8765)
    assert (s.max_lateness_s, s.max_future_s) == (3600.0, 300.0)
    assert s.max_batch_events == 10_000 and s.max_event_bytes == 16 * 1024
    assert s.run_dir == PROJECT_ROOT / ".run" and s.city == "changsha"
    assert s.local_broker and s.local_clickhouse
    assert s.bootstrap == "127.0.0.1:19092"
    assert s.clickhouse == ClickHouseAddress("127.0.0.1", 19000, "default", "", "citycc")
    assert s.cockpit_url == "http://127.0.0.1:8765/"
    assert s.topic("lifeline") == "citycc.lifeline"


def test_variables_are_parsed_by_the_type_of_their_default(tmp_path: Path) -> None:
    s = load_settings({
        "CITYCC_BROKER_PORT": "29092", "CITYCC_MAX_BATCH_EVENTS": " 42 ",
        "CITYCC_MAX_LATENESS_S": "60", "CITYCC_TAKE_WITHIN_S": "0.25",
        "CITYCC_SESSION_TIMEOUT_S": "1e1", "CITYCC_RUN_DIR": str(tmp_path / "a" / ".." / "run"),
        "CITYCC_CITY": "changsha", "CITYCC_TOPIC_PREFIX": "test", "CITYCC_LOG_LEVEL": "DEBUG",
    })
    assert s.broker_port == 29092 and type(s.broker_port) is int
    assert s.max_batch_events == 42
    assert s.max_lateness_s == 60.0 and type(s.max_lateness_s) is float
    assert s.take_within_s == 0.25 and s.session_timeout_s == 10.0
    assert s.run_dir == tmp_path / "run" and s.run_dir.is_absolute()
    assert (s.topic_prefix, s.log_level) == ("test", "DEBUG")
    assert s.topic("alerts") == "test.alerts"


def test_relative_and_home_paths_are_resolved(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert load_settings({"CITYCC_RUN_DIR": "rel/dir"}).run_dir == tmp_path / "rel" / "dir"
    assert load_settings({"CITYCC_RUN_DIR": "~/x"}).run_dir == tmp_path / "home" / "x"


def test_unrelated_and_misspelt_variables_are_ignored() -> None:
    assert load_settings({"BROKER_PORT": "1", "citycc_broker_port": "2", "CITYCC_": "3",
                          "CITYCC_NOT_A_SETTING": "4"}) == Settings()


def test_environ_defaults_to_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITYCC_COCKPIT_PORT", "9999")
    monkeypatch.setenv("CITYCC_KAFKA_BOOTSTRAP", "kafka.example:9092")
    s = load_settings()
    assert s.cockpit_port == 9999
    assert not s.local_broker and s.bootstrap == "kafka.example:9092"


def test_overrides_win_over_variables() -> None:
    s = load_settings({"CITYCC_BROKER_PORT": "1"}, broker_port=2, city="x")
    assert (s.broker_port, s.city) == (2, "x")


@pytest.mark.parametrize("name,value", [
    ("CITYCC_BROKER_PORT", "abc"), ("CITYCC_BROKER_PORT", ""), ("CITYCC_BROKER_PORT", "1.5"),
    ("CITYCC_MAX_EVENT_BYTES", "16k"), ("CITYCC_MAX_LATENESS_S", "an hour"),
    ("CITYCC_HEARTBEAT_INTERVAL_S", ""), ("CITYCC_CHECKPOINT_INTERVAL_S", "5s"),
])
def test_bad_value_raises_settings_error_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings({name: value})
    assert name in str(info.value) and repr(value) in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("url,expected", [
    ("clickhouse://alice:s3cret@ch.example:9440/city",
     ClickHouseAddress("ch.example", 9440, "alice", "s3cret", "city")),
    ("clickhouse://ch.example", ClickHouseAddress("ch.example", 9000, "default", "", "dflt")),
    ("clickhouse://ch.example/", ClickHouseAddress("ch.example", 9000, "default", "", "dflt")),
    ("tcp://bob@10.0.0.5:19000", ClickHouseAddress("10.0.0.5", 19000, "bob", "", "dflt")),
    ("clickhouse://u:p%40ss@[::1]:9000/db", ClickHouseAddress("::1", 9000, "u", "p%40ss", "db")),
])
def test_clickhouse_url_parsing(url: str, expected: ClickHouseAddress) -> None:
    assert ClickHouseAddress.parse(url, "dflt") == expected


def test_clickhouse_url_from_variables() -> None:
    s = load_settings({"CITYCC_CLICKHOUSE_URL": "clickhouse://u:p@db.local:9001",
                       "CITYCC_CLICKHOUSE_DATABASE": "other"})
    assert not s.local_clickhouse
    assert s.clickhouse == ClickHouseAddress("db.local", 9001, "u", "p", "other")


@pytest.mark.parametrize("url", [
    "http://ch.example:8123/db", "ch.example:9000", "clickhouse://", "clickhouse:///db",
    "clickhouse://h:notaport/db", "clickhouse://h:99999/db", "clickhouse://h:-1/db",
])
def test_bad_clickhouse_url_fails_at_load_naming_the_variable(url: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings({"CITYCC_CLICKHOUSE_URL": url})
    assert "CITYCC_CLICKHOUSE_URL" in str(info.value)


def test_settings_are_frozen() -> None:
    s = load_settings({})
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.broker_port = 1  # type: ignore[misc]
    changed = s.with_overrides(broker_port=1)
    assert (changed.broker_port, s.broker_port) == (1, 19092)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.clickhouse.port = 1  # type: ignore[misc]
    assert hash(s) == hash(load_settings({}))


def test_to_environ_round_trips(tmp_path: Path) -> None:
    s = load_settings({}, run_dir=tmp_path, broker_port=1234, max_future_s=1.5,
                      clickhouse_url="clickhouse://u:p@h:1/d", kafka_bootstrap="k:1")
    env = s.to_environ()
    assert all(k.startswith("CITYCC_") for k in env)
    assert load_settings(env) == s


def test_one_setting_drives_the_record_limit_and_the_largest_dead_letter_fits_it() -> None:
    from aiokafka.record.default_records import DefaultRecordBatchBuilder

    from schemas.records import Origin, dead_letter, dead_letter_headers, fit_dead_letter
    from schemas.topics import DEAD_LETTER_PREFIX_BYTES, HEADROOM_BYTES, broker_message_max_bytes

    assert Settings().broker_message_max_bytes == 4 * 1024 * 1024 + HEADROOM_BYTES
    s = load_settings({"CITYCC_MAX_MESSAGE_BYTES": "2000000"})
    assert s.broker_message_max_bytes == broker_message_max_bytes(2_000_000) > 2_000_000
    with pytest.raises(ValueError):
        broker_message_max_bytes(0)
    topic = "t" * 249                                  # Kafka's longest topic name
    for size in (s.max_message_bytes, s.max_message_bytes + 1, 3 * s.max_message_bytes):
        long = "长" * 100_000                          # reason, field, event id from the input
        record = fit_dead_letter(
            dead_letter(Origin(topic, 2**31 - 1, 2**63 - 1, 9_999), "unknown_field", long,
                        long, b"x" * size, 2**63 - 1, long),
            s.max_message_bytes, DEAD_LETTER_PREFIX_BYTES)
        framed = DefaultRecordBatchBuilder.estimate_size_in_bytes(
            topic.encode(), record["raw"], dead_letter_headers(record))
        assert framed <= s.broker_message_max_bytes, size


def test_an_alert_ttl_not_longer_than_the_reassert_interval_is_refused() -> None:
    s = load_settings({})
    assert (s.reassert_interval_s, s.alert_ttl_s) == (60.0, 300.0)
    assert load_settings({"CITYCC_REASSERT_INTERVAL_S": "5",
                          "CITYCC_ALERT_TTL_S": "20"}).alert_ttl_s == 20.0
    for env in ({"CITYCC_ALERT_TTL_S": "60"}, {"CITYCC_REASSERT_INTERVAL_S": "0"}):
        with pytest.raises(SettingsError, match="CITYCC_ALERT_TTL_S"):
            load_settings(env)
