"""Exercises (drills): a scenario file, or a replayed incident's events, shifted to start now.

Pure: text, events and ``now`` come in, the drill's events go out; the CLI runs them through
an isolated replay session (:class:`replay.engine.Replayer`) whose exports say
``status=Exercise`` (:func:`cap_exports`).

Scenario file (YAML)::

    version: 1
    name: 岳麓区学校旁燃气泄漏              # shown to the trainees
    name_en: Gas leak by a school in Yuelu
    events:                                # any order; run in the order of their offsets
      - at: "+0s"                          # offset from the drill's start: +90s, +2m, +1h30m
        stream: lifeline                   # an input stream (schemas.catalog.STREAMS)
        type: reading                      # then the event's own fields, as on the wire,
        entity_id: GAS-YL-0107             # without event_time (the offset gives it);
        lat: 28.1889                       # event_id and source are optional
        lon: 112.9427
        kind: gas_concentration
        value: 24.0
        unit: "%LEL"

Every event is validated by the live input's validator (:class:`schemas.validate.
EventValidator`, the city's bounds and districts); a mistake is a :class:`ScenarioError`
with the validator's code (``missing_field``, ``outside_city``...) or ``scenario_*``, the
path (``events[2].value``) and the line in the file.

Ids. Every event id is rewritten to ``EX-<stable_id(exercise id, original id)>``:
deterministic (the same drill twice has the same ids) and never a real event's id (live ids
never start with ``EX-``, and the hash differs per exercise). Entity ids (sensors, units,
calls) are kept: a drill is about the city's real assets (the fleet knows its units by id, a
sensor keeps its place and its limits), and an exercise is kept apart by its session and
database (``<db>_exercise_<id>``) and marked by CAP ``status=Exercise``, not by renamed
assets. Prefixing them would make every unit unknown to the board and every sensor new,
and break the references between events (a unit status's ``call_id``, an engine's
``incident_id``), which name entity ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import yaml

from alerting.config import ConfigError, duration_ms
from alerting.config_yaml import YamlRefused, safe_load_bounded
from alerting.history import export_incident
from schemas.catalog import STREAMS
from schemas.errors import ValidationError
from schemas.records import stable_id
from schemas.validate import EventValidator, Policy, format_event_time, parse_event_time

NOT_YAML, UNKNOWN_KEY, BAD_VALUE = "scenario_not_yaml", "scenario_unknown_key", \
    "scenario_bad_value"
TOP_KEYS = ("version", "name", "name_en", "description", "events")
EVENT_KEYS = ("at", "stream")     # the rest of an item is the event
MAX_EVENTS = 100_000
EXERCISE_SOURCE = "exercise"


class ScenarioError(ValueError):
    """A scenario that cannot run: ``code`` (stable), ``path``, ``reason``, ``line`` (1-based,
    0 when unknown)."""

    def __init__(self, code: str, path: str, reason: str, line: int = 0) -> None:
        where = f"line {line}: " if line else ""
        super().__init__(f"{where}{path or '(top)'}: {reason} [{code}]")
        self.code, self.path, self.reason, self.line = code, path, reason, line


@dataclass(frozen=True)
class ScenarioEvent:
    offset_ms: int
    stream: str
    fields: Mapping[str, Any]      # the event without event_time
    index: int = 0                 # its position in the file (for errors)


@dataclass(frozen=True)
class Scenario:
    name: str
    name_en: str
    events: tuple[ScenarioEvent, ...]      # in offset order (stable for equal offsets)


def parse_scenario(text: str, policy: Policy, source: str = "scenario") -> Scenario:
    """Parse and check a scenario; every event is validated as live input would be (at a
    notional start, :data:`CHECK_START_MS`: the time checks pass, the rest is the schema's)."""
    try:
        raw = safe_load_bounded(text)
    except (yaml.YAMLError, YamlRefused) as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", -1) + 1
        raise ScenarioError(NOT_YAML, source, f"not a YAML document: {exc}", line) from exc
    try:
        scenario = _scenario(raw)
        drill_events(scenario, "check", CHECK_START_MS, policy)
    except ScenarioError as exc:
        raise ScenarioError(exc.code, exc.path, exc.reason, _line(text, exc.path)) from exc
    return scenario


CHECK_START_MS = 1_767_225_600_000    # 2026-01-01T00:00:00Z: any start checks the same


def _scenario(raw: Any) -> Scenario:
    top = _mapping(raw, "", TOP_KEYS)
    if top.get("version", 1) != 1:
        raise ScenarioError(BAD_VALUE, "version", f"must be 1, got {top.get('version')!r}")
    name = top.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ScenarioError(BAD_VALUE, "name", "required: the drill's name")
    items = top.get("events")
    if not isinstance(items, list) or not items:
        raise ScenarioError(BAD_VALUE, "events", "must be a non-empty list of events")
    if len(items) > MAX_EVENTS:
        raise ScenarioError(BAD_VALUE, "events", f"at most {MAX_EVENTS} events")
    events = []
    for i, item in enumerate(items):
        path = f"events[{i}]"
        if not isinstance(item, dict):
            raise ScenarioError(BAD_VALUE, path, "must be a mapping (at, stream, fields)")
        at = item.get("at")
        if not isinstance(at, str) or not at.startswith("+"):
            raise ScenarioError(BAD_VALUE, f"{path}.at", f"write the offset from the start "
                                                         f"as '+90s', '+2m', not {at!r}")
        try:
            offset = duration_ms(at[1:], f"{path}.at")
        except ConfigError as exc:
            raise ScenarioError(BAD_VALUE, exc.path, exc.reason) from exc
        stream = item.get("stream")
        if stream not in STREAMS:
            raise ScenarioError(BAD_VALUE, f"{path}.stream", f"must be one of "
                                                             f"{sorted(STREAMS)}, not {stream!r}")
        if "event_time" in item:
            raise ScenarioError(UNKNOWN_KEY, f"{path}.event_time", "the offset ('at') gives "
                                                                  "the event's time")
        fields = {k: v for k, v in item.items() if k not in EVENT_KEYS}
        events.append(ScenarioEvent(offset, str(stream), fields, i))
    events.sort(key=lambda e: e.offset_ms)      # stable: equal offsets keep the file's order
    return Scenario(name, str(top.get("name_en") or name), tuple(events))


def _mapping(raw: Any, path: str, keys: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ScenarioError(BAD_VALUE, path, f"must be a mapping, not {type(raw).__name__}")
    for k in raw:
        if k not in keys:
            raise ScenarioError(UNKNOWN_KEY, f"{path}.{k}" if path else str(k),
                                f"unknown key; expected one of {', '.join(keys)}")
    return raw


def exercise_event_id(exercise_id: str, original: str) -> str:
    """The drill's id of an event: deterministic, prefixed, never a live event's id."""
    return "EX-" + stable_id("exercise", exercise_id, original)


def drill_events(scenario: Scenario, exercise_id: str, start_ms: int, policy: Policy
                 ) -> list[tuple[str, dict[str, Any]]]:
    """The scenario's events as (stream, validated event), timed from ``start_ms``."""
    validators = {s: EventValidator(s, policy) for s in STREAMS}
    out = []
    for ev in scenario.events:
        t = start_ms + ev.offset_ms
        event = dict(ev.fields)
        event["event_id"] = exercise_event_id(exercise_id, str(event.get("event_id", ev.index)))
        event.setdefault("source", EXERCISE_SOURCE)
        event["event_time"] = format_event_time(t)
        try:
            checked, _ = validators[ev.stream].validate(event, t)
        except ValidationError as exc:
            path = f"events[{ev.index}]"
            raise ScenarioError(exc.code, f"{path}.{exc.field}" if exc.field else path,
                                exc.reason) from exc
        out.append((ev.stream, checked))
    return out


def shift_events(events: Sequence[tuple[str, Mapping[str, Any]]], exercise_id: str,
                 now_ms: int) -> list[tuple[str, dict[str, Any]]]:
    """A replayed incident's events (stream, validated event; in event-time order) moved by
    (``now_ms`` - the first event's time), ids rewritten: the relative timing is kept to the
    millisecond."""
    if not events:
        return []
    first = min(parse_event_time(e["event_time"]) for _, e in events)
    delta = now_ms - first
    out = []
    for stream, e in events:
        moved = dict(e)
        moved["event_time"] = format_event_time(parse_event_time(e["event_time"]) + delta)
        moved["event_id"] = exercise_event_id(exercise_id, str(e["event_id"]))
        out.append((stream, moved))
    return out


def cap_exports(incident_events: Sequence[Mapping[str, Any]], sent_ms: int) -> dict[str, str]:
    """The CAP 1.2 export of every incident a drill opened (``IncidentEvent`` rows), each
    with ``status=Exercise``: a drill's exports can never pass for a real warning."""
    ids = sorted({e["incident_id"] for e in incident_events if e["kind"] == "opened"})
    return {iid: export_incident(incident_events, iid, "cap", sent_ms, exercise=True)
            for iid in ids}


def _line(text: str, path: str) -> int:
    """The 1-based line of ``path`` (``events[2].value``) in the YAML text (0: unknown)."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return 0
    line = node.start_mark.line + 1 if node is not None else 0
    for part in path.replace("[", ".[").split("."):
        if not part or node is None:
            continue
        if part.startswith("[") and isinstance(node, yaml.SequenceNode):
            i = int(part[1:-1])
            node = node.value[i] if i < len(node.value) else None
        elif isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == part), None)
            if node is None:
                break
        else:
            break
        if node is not None:
            line = node.start_mark.line + 1
    return line
