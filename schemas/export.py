"""Export the catalogue as JSON Schema (draft 2020-12) so outside producers validate first.

Some rules cannot be said in JSON Schema (the unit must match the kind, city bounds and
the lateness window depend on configuration); the export names them in descriptions.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .catalog import MEASUREMENTS, STREAMS, SUPPORTED_VERSIONS, EventType, Field
from .wire import BATCH_KEY

DRAFT = "https://json-schema.org/draft/2020-12/schema"


def _field_schema(f: Field) -> dict[str, Any]:
    if f.kind == "enum":
        s: dict[str, Any] = {"type": "string", "enum": list(f.choices)}
    elif f.kind in ("float", "int"):
        s = {"type": "number" if f.kind == "float" else "integer"}
        if f.lo is not None:
            s["minimum"] = f.lo
        if f.hi is not None:
            s["maximum"] = f.hi
    elif f.kind == "time":
        s = {"type": "string", "format": "date-time",
             "description": "ISO 8601 with an explicit offset; UTC ('Z') preferred."}
    else:
        s = {"type": "string", "minLength": 1, "maxLength": f.max_len}
        if f.pattern:
            s["pattern"] = f.pattern
    if f.doc and "description" not in s:
        s["description"] = f.doc
    return s


def event_type_schema(etype: EventType) -> dict[str, Any]:
    props = {f.name: _field_schema(f) for f in etype.all_fields}
    props["type"] = {"const": etype.name}
    props["v"] = {"type": "integer", "enum": sorted(SUPPORTED_VERSIONS),
                  "description": "Schema version (default 1)."}
    doc = etype.doc
    if etype.measured:
        units = {k: MEASUREMENTS[k].unit for k in props["kind"]["enum"]}
        doc += f" The unit must be the kind's unit: {units}; value within the kind's " \
               f"physical range."
    return {
        "title": f"{etype.stream}.{etype.name}", "description": doc, "type": "object",
        "properties": props, "required": [f.name for f in etype.all_fields if f.required],
        "additionalProperties": False,
    }


def stream_schema(stream: str) -> dict[str, Any]:
    """Schema of one input topic's message: one event, or a batch of events."""
    s = STREAMS[stream]
    one = {"oneOf": [event_type_schema(t) for t in s.types.values()]}
    return {
        "$schema": DRAFT, "$id": f"citycc/{stream}.schema.json",
        "title": f"citycc {stream} ({s.zh} / {s.en}) v1",
        "oneOf": [one, {"type": "object", "required": [BATCH_KEY],
                        "additionalProperties": False,
                        "properties": {BATCH_KEY: {"type": "array", "items": one}}}],
    }


def export(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for stream in STREAMS:
        path = directory / f"{stream}.schema.json"
        path.write_text(json.dumps(stream_schema(stream), ensure_ascii=False, indent=2),
                        encoding="utf-8")
        written.append(path)
    return written
