"""schemas.records: deterministic ids, alerts, dead letters and their Kafka headers."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.records import (ALERT_FIELDS, Origin, dead_letter, dead_letter_from_headers,
                             dead_letter_headers, fingerprint, fit_dead_letter, make_alert,
                             stable_id)
from unit_helpers import ROOT


# --- stable ids -------------------------------------------------------------------------
def test_stable_id_is_deterministic_and_short_hex() -> None:
    a = stable_id("alert", "fp", 1, None)
    assert a == stable_id("alert", "fp", 1, None)
    assert len(a) == 20 and int(a, 16) >= 0


def test_stable_id_is_the_same_in_another_process() -> None:
    code = "from schemas.records import stable_id; print(stable_id('x', 1, '长沙'))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True, env={"PYTHONHASHSEED": "123", "PATH": ""})
    assert out.stdout.strip() == stable_id("x", 1, "长沙")


@given(st.lists(st.one_of(st.text(), st.integers(), st.none(), st.floats(allow_nan=False)),
                max_size=6))
@settings(max_examples=200, deadline=None)
def test_stable_id_is_the_blake2b_of_each_part_and_a_separator(parts: list[Any]) -> None:
    # ids already stored (ClickHouse rows, checkpoints' seen causes) must keep their
    # values whatever the implementation: the definition, one part at a time
    h = hashlib.blake2b(digest_size=10)
    for part in parts:
        h.update(str(part).encode())
        h.update(b"\x1f")
    assert stable_id(*parts) == h.hexdigest()


@pytest.mark.parametrize("a,b", [
    (("a", "b"), ("ab",)),
    (("a", "b"), ("b", "a")),
    (("ab", "c"), ("a", "bc")),
    (("a",), ("a", "")),
    ((1,), (2,)),
    (("x",), ("X",)),
])
def test_stable_id_differs_when_parts_differ(a: tuple[Any, ...], b: tuple[Any, ...]) -> None:
    assert stable_id(*a) != stable_id(*b)


def test_fingerprint_is_deterministic_and_depends_on_each_label() -> None:
    fp = fingerprint("limit", "gas_concentration_high", "GAS-1")
    assert fp == fingerprint("limit", "gas_concentration_high", "GAS-1")
    assert len({fp, fingerprint("other", "gas_concentration_high", "GAS-1"),
                fingerprint("limit", "gas_concentration_low", "GAS-1"),
                fingerprint("limit", "gas_concentration_high", "GAS-2")}) == 4


# --- alerts -----------------------------------------------------------------------------
def alert(**changes: Any) -> dict[str, Any]:
    args: dict[str, Any] = dict(
        detector="limit", kind="gas_concentration_high", status="firing", severity="critical",
        stream="lifeline", entity_id="GAS-1", district="yuelu", district_zh="岳麓区",
        district_en="Yuelu", lat=28.21, lon=112.89, event_time="2025-06-01T08:00:00.000Z",
        value=25.0, threshold=20.0, unit="%LEL", title_zh="燃气浓度超限",
        title_en="Gas concentration above alarm level", evidence=["ev-1"],
        detected_at="2025-06-01T08:00:01.000Z")
    args.update(changes)
    return make_alert(**args)


def test_make_alert_has_every_documented_field_in_order() -> None:
    a = alert()
    assert tuple(a) == ALERT_FIELDS
    assert a["fingerprint"] == fingerprint("limit", "gas_concentration_high", "GAS-1")
    assert a["evidence"] == ["ev-1"] and a["district_zh"] == "岳麓区"


def test_alert_id_is_stable_for_the_same_state_change() -> None:
    # detection time and the measured details do not change which state change it is
    assert alert()["alert_id"] == alert(detected_at="2025-06-01T09:00:00.000Z", value=30.0,
                                        lat=None, lon=None)["alert_id"]


def test_alert_id_differs_by_status_and_evidence_but_fingerprint_does_not() -> None:
    firing, resolved = alert(), alert(status="resolved")
    other = alert(evidence=["ev-2"])
    assert len({firing["alert_id"], resolved["alert_id"], other["alert_id"]}) == 3
    assert firing["fingerprint"] == resolved["fingerprint"] == other["fingerprint"]
    assert alert(entity_id="GAS-2")["alert_id"] != firing["alert_id"]


@pytest.mark.parametrize("status,severity", [("open", "major"), ("firing", "high"),
                                             ("FIRING", "major"), ("resolved", "")])
def test_make_alert_rejects_unknown_status_or_severity(status: str, severity: str) -> None:
    with pytest.raises(ValueError):
        alert(status=status, severity=severity)


# --- dead letters -----------------------------------------------------------------------
def test_dead_letter_record() -> None:
    origin = Origin("citycc.lifeline", 3, 42, 7)
    dl = dead_letter(origin, "bad_unit", "unit", "wrong", b"{}", 1000, "ev-1")
    assert dl == {"dl_id": stable_id("dl", "citycc.lifeline", 3, 42, 7),
                  "source_topic": "citycc.lifeline", "source_partition": 3,
                  "source_offset": 42, "batch_index": 7, "code": "bad_unit", "field": "unit",
                  "reason": "wrong", "event_id": "ev-1", "received_ms": 1000, "raw": b"{}",
                  "raw_size": 2, "raw_sha256": hashlib.sha256(b"{}").hexdigest()}
    # the id is the origin: the same item rejected twice is the same dead letter
    again = dead_letter(origin, "other", "", "later", b"x", 2000)
    assert again["dl_id"] == dl["dl_id"]
    assert dead_letter(Origin("citycc.lifeline", 3, 42), "c", "", "", b"", 0)["dl_id"] \
        != dl["dl_id"]
    assert Origin("t", 0, 0).index == -1


def test_dead_letter_header_round_trip_non_ascii_and_binary() -> None:
    raw = bytes(range(256)) + "长沙".encode("gbk")
    dl = dead_letter(Origin("citycc.hazmat", 1, 9_000_000_000, 12), "bad_unit", "unit",
                     "罐体压力 is measured in 'kPa', got 'bar' — ✗", raw, 1_748_764_800_000,
                     "事件-1")
    headers = dead_letter_headers(dl)
    assert all(k.startswith("citycc-") and isinstance(v, bytes) for k, v in headers)
    back = dead_letter_from_headers(raw, headers)
    assert back == dl
    assert back["raw"] is raw


def test_fit_dead_letter_keeps_a_prefix_size_and_digest_of_an_original_too_big() -> None:
    raw = b"{" + b"x" * 9_999
    dl = dead_letter(Origin("citycc.fire", 2, 77), "malformed_json", "", "not JSON", raw, 5)
    assert fit_dead_letter(dl, 10_000, 100) is dl            # fits: untouched
    fitted = fit_dead_letter(dl, 9_999, 100)
    assert fitted["raw"] == raw[:100] and fitted["code"] == "too_large"
    assert fitted["raw_size"] == 10_000
    assert fitted["raw_sha256"] == hashlib.sha256(raw).hexdigest()
    assert "10000 bytes" in fitted["reason"] and "(was malformed_json)" in fitted["reason"]
    assert fitted["dl_id"] == dl["dl_id"] and dl["raw"] is raw   # same letter; input kept
    back = dead_letter_from_headers(fitted["raw"], dead_letter_headers(fitted))
    assert back == fitted                    # the size and digest travel in the headers


def test_dead_letter_text_is_bounded_however_long_the_input() -> None:
    huge = "长" * 1_000_000
    dl = dead_letter(Origin("citycc.ems", 0, 1), "unknown_field", huge, huge, b"{}", 5, huge)
    headers = dead_letter_headers(dl)
    assert sum(len(k) + len(v) for k, v in headers) < 4096


def test_dead_letter_without_size_headers_carried_its_original_whole() -> None:
    raw = b"not json"
    old = [(k, v) for k, v in dead_letter_headers(
        dead_letter(Origin("citycc.ems", 0, 3), "malformed_json", "", "x", raw, 5))
        if k not in ("citycc-raw-size", "citycc-raw-sha256")]
    back = dead_letter_from_headers(raw, old)
    assert back["raw_size"] == len(raw)
    assert back["raw_sha256"] == hashlib.sha256(raw).hexdigest()


def test_dead_letter_header_round_trip_for_a_whole_message() -> None:
    dl = dead_letter(Origin("citycc.ems", 0, 0), "malformed_json", "", "not JSON",
                     b"\xff\xfe{", 5)
    back = dead_letter_from_headers(b"\xff\xfe{", dead_letter_headers(dl))
    assert back == dl
    assert back["batch_index"] == -1 and back["event_id"] == "" and back["field"] == ""


def test_dead_letter_from_headers_tolerates_missing_and_foreign_headers() -> None:
    back = dead_letter_from_headers(b"raw", [("traceparent", b"00-abc"),
                                             ("citycc-source-offset", b"not-a-number"),
                                             ("citycc-reason", b"\xff bad utf-8")])
    assert back["source_offset"] == -1 and back["source_partition"] == -1
    assert back["reason"] == "\ufffd bad utf-8"
    assert back["dl_id"] == stable_id("dl-nohdr", b"raw")
    assert back["raw"] == b"raw" and back["code"] == ""


# Header values are UTF-8: text without lone surrogates (which no decoded JSON contains).
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=50)


@settings(max_examples=100, deadline=None)
@given(topic=TEXT.filter(bool), partition=st.integers(0, 1000),
       offset=st.integers(0, 2 ** 62), index=st.integers(-1, 10_000),
       reason=TEXT, field=TEXT, event_id=TEXT, raw=st.binary(max_size=50),
       received=st.integers(0, 2 ** 50))
def test_dead_letter_header_round_trip_property(topic: str, partition: int, offset: int,
                                                index: int, reason: str, field: str,
                                                event_id: str, raw: bytes,
                                                received: int) -> None:
    dl = dead_letter(Origin(topic, partition, offset, index), "code", field, reason, raw,
                     received, event_id)
    assert dead_letter_from_headers(raw, dead_letter_headers(dl)) == dl


def test_a_bounded_memo_empties_when_full_and_keeps_the_new_entry() -> None:
    from schemas.memo import remember
    memo: dict[int, str] = {}
    for k in range(3):
        assert remember(memo, k, f"v{k}", 3) == f"v{k}"
    assert memo == {0: "v0", 1: "v1", 2: "v2"}
    assert remember(memo, 9, "v9", 3) == "v9" and memo == {9: "v9"}
