"""schemas.export: JSON Schema (2020-12) of every input stream, agreeing with the validator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from schemas.catalog import MEASUREMENTS, STREAMS
from schemas.export import DRAFT, event_type_schema, export, stream_schema
from unit_helpers import ALL_TYPES, MEASURED_KINDS, REQUIRED_FIELDS, valid_event


@pytest.mark.parametrize("stream", list(STREAMS))
def test_stream_schema_shape(stream: str) -> None:
    s = stream_schema(stream)
    assert s["$schema"] == DRAFT == "https://json-schema.org/draft/2020-12/schema"
    assert s["$id"] == f"citycc/{stream}.schema.json"
    assert STREAMS[stream].zh in s["title"] and STREAMS[stream].en in s["title"]
    one, batch = s["oneOf"]
    assert [t["title"] for t in one["oneOf"]] == [f"{stream}.{t}" for t in STREAMS[stream].types]
    assert batch["required"] == ["events"] and batch["additionalProperties"] is False
    assert batch["properties"]["events"] == {"type": "array", "items": one}
    json.dumps(s)  # plain JSON


@pytest.mark.parametrize("stream,type_", ALL_TYPES)
def test_event_type_schema_matches_the_catalogue(stream: str, type_: str) -> None:
    et = STREAMS[stream].types[type_]
    s = event_type_schema(et)
    assert s["type"] == "object" and s["additionalProperties"] is False
    assert list(s["properties"]) == [f.name for f in et.all_fields]
    assert s["required"] == [n for st_, t, n in REQUIRED_FIELDS if (st_, t) == (stream, type_)]
    assert s["properties"]["type"] == {"const": type_}
    for f in et.all_fields:
        p = s["properties"][f.name]
        if f.kind == "enum":
            assert p["enum"] == list(f.choices)
        if f.name == "v":
            assert p["enum"] == [1]
        elif f.kind in ("int", "float"):
            assert p.get("minimum") == f.lo and p.get("maximum") == f.hi


@pytest.mark.parametrize("stream,type_,kind", MEASURED_KINDS)
def test_measured_description_names_each_unit(stream: str, type_: str, kind: str) -> None:
    desc = event_type_schema(STREAMS[stream].types[type_])["description"]
    assert f"'{kind}': '{MEASUREMENTS[kind].unit}'" in desc


def test_export_writes_one_file_per_stream(tmp_path: Path) -> None:
    out = tmp_path / "nested" / "schemas"
    paths = export(out)
    assert sorted(p.name for p in paths) == sorted(f"{s}.schema.json" for s in STREAMS)
    for p in paths:
        text = p.read_text(encoding="utf-8")
        assert json.loads(text) == stream_schema(p.name.split(".")[0])
        assert "城市生命线" in text or p.name != "lifeline.schema.json"  # not \\u-escaped
    assert export(out) == paths  # idempotent: overwrites


# --- with jsonschema: the exported schemas accept what the validator accepts ------------------
_VALIDATORS: dict[str, Any] = {}


def schema_validator(stream: str) -> Any:
    """A Draft 2020-12 validator of the exported schema (skips when jsonschema is absent)."""
    jsonschema = pytest.importorskip("jsonschema")
    if stream not in _VALIDATORS:
        s = stream_schema(stream)
        jsonschema.Draft202012Validator.check_schema(s)
        _VALIDATORS[stream] = jsonschema.Draft202012Validator(s)
    return _VALIDATORS[stream]


@pytest.mark.parametrize("stream", list(STREAMS))
def test_exported_schema_is_a_valid_2020_12_schema(stream: str) -> None:
    schema_validator(stream)


@pytest.mark.parametrize("full", [False, True], ids=["required", "full"])
@pytest.mark.parametrize("stream,type_", ALL_TYPES)
def test_valid_events_validate_against_the_exported_schema(stream: str, type_: str,
                                                           full: bool) -> None:
    v = schema_validator(stream)
    ev = valid_event(stream, type_, full=full)
    assert list(v.iter_errors(ev)) == []
    assert list(v.iter_errors({"events": [ev, ev]})) == []


@pytest.mark.parametrize("stream,type_,kind", MEASURED_KINDS)
def test_every_measured_kind_validates(stream: str, type_: str, kind: str) -> None:
    assert schema_validator(stream).is_valid(valid_event(stream, type_, kind=kind))


@pytest.mark.parametrize("stream,type_", ALL_TYPES)
def test_schema_rejects_what_the_validator_rejects(stream: str, type_: str) -> None:
    v = schema_validator(stream)
    ev = valid_event(stream, type_, full=True)
    assert not v.is_valid({**ev, "colour": "red"})
    assert not v.is_valid({"events": [ev, {**ev, "colour": "red"}]})
    assert not v.is_valid({"events": [ev], "source": "gw"})
    assert not v.is_valid({**ev, "type": "nope"})
    assert not v.is_valid({**ev, "event_id": ""})
    assert not v.is_valid({**ev, "v": 2})
    for name in [n for s, t, n in REQUIRED_FIELDS if (s, t) == (stream, type_)]:
        assert not v.is_valid({k: x for k, x in ev.items() if k != name}), name


@pytest.mark.parametrize("stream,type_,name,value", [
    ("ems", "call", "priority", 2.5), ("ems", "call", "priority", 5),
    ("ems", "call", "complaint", "headache"), ("ems", "call", "lat", "28.2"),
    ("ems", "call", "lat", 91.0), ("traffic", "segment", "occupancy", 1.5),
    ("hazmat", "vehicle_gps", "un_number", "12a4"), ("ems", "call", "source", "s" * 129),
])
def test_schema_rejects_bad_values(stream: str, type_: str, name: str, value: Any) -> None:
    assert not schema_validator(stream).is_valid(valid_event(stream, type_, **{name: value}))
