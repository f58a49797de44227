"""What a replay reads (pure): a :class:`Window` of event time, an area (districts and/or a
bounding box) and a subset of the input streams, or an incident's own window and area.

A bad window is refused with a :class:`WindowError` carrying a stable code, the field and a
reason (zh-CN and en, :data:`MESSAGES`), never a crash: the start must come before the end,
both ISO 8601 with an offset, at most :data:`MAX_WINDOW_MS` apart (a replay is of an
incident's hours or a day, not of a year); every district must be the city's; every stream
an input stream; an incident must exist.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import orjson

from city.profile import CityProfile
from schemas.catalog import INPUT_STREAMS
from schemas.errors import ValidationError
from schemas.validate import format_event_time, parse_event_time

MAX_WINDOW_MS = 7 * 24 * 3600 * 1000
# an incident's window: from this long before its first event (the detectors' baselines
# and silence timers need history to say what they said live) to this long after its last
INCIDENT_BEFORE_MS = 30 * 60 * 1000
INCIDENT_AFTER_MS = 10 * 60 * 1000

MESSAGES: dict[str, tuple[str, str]] = {
    "bad_time": ("时间须为带时区的 ISO 8601", "time must be ISO 8601 with an offset"),
    "empty_window": ("开始时间须早于结束时间", "the start must come before the end"),
    "window_too_long": ("回放窗口过长", "the replay window is too long"),
    "unknown_district": ("本市没有该区县", "no such district in this city"),
    "unknown_stream": ("没有该数据流", "no such input stream"),
    "bad_bbox": ("范围须为 南,西,北,东 四个数", "the box must be four numbers: "
                                              "south,west,north,east"),
    "unknown_incident": ("仓库中没有该事件", "no such incident in the warehouse"),
    "missing_window": ("须给出时间范围或事件编号", "give a time range or an incident id"),
    "bad_session": ("会话编号只能含字母、数字和下划线（至多 32 个）",
                    "a session id is letters, digits and underscores (at most 32)"),
}
_SESSION = re.compile(r"[A-Za-z0-9_]{1,32}")


class WindowError(ValueError):
    """A window that cannot be replayed: ``code`` (stable, :data:`MESSAGES`), ``field``
    (the option at fault) and ``reason`` (the detail, English)."""

    def __init__(self, code: str, field: str, reason: str) -> None:
        super().__init__(f"{code} ({field}): {reason}")
        self.code, self.field, self.reason = code, field, reason

    def message(self, lang: str = "zh") -> str:
        zh, en = MESSAGES.get(self.code, (self.code, self.code))
        return f"{zh if lang == 'zh' else en}: {self.reason}"


@dataclass(frozen=True)
class Window:
    start_ms: int
    end_ms: int                        # exclusive
    districts: tuple[str, ...] = ()    # () = the whole city
    bbox: tuple[float, float, float, float] | None = None   # south, west, north, east
    streams: tuple[str, ...] = INPUT_STREAMS
    incident_id: str = ""

    def key(self) -> bytes:
        """The window's canonical form (what makes two windows the same replay)."""
        return orjson.dumps([self.start_ms, self.end_ms, sorted(self.districts),
                             list(self.bbox) if self.bbox else None, sorted(self.streams),
                             self.incident_id])

    def session_id(self) -> str:
        """A session id derived from the window alone: the same window, the same id."""
        return hashlib.sha256(self.key()).hexdigest()[:12]

    def as_dict(self) -> dict[str, Any]:
        return {"from": format_event_time(self.start_ms), "to": format_event_time(self.end_ms),
                "districts": list(self.districts), "bbox": list(self.bbox) if self.bbox
                else None, "streams": list(self.streams), "incident_id": self.incident_id}


def check_session(session_id: str) -> str:
    """A session id given by hand (it names the session's database)."""
    if not _SESSION.fullmatch(session_id):
        raise WindowError("bad_session", "session", f"{session_id[:40]!r}")
    return session_id


def parse_time(text: str, field: str) -> int:
    try:
        return parse_event_time(text)
    except ValidationError as exc:
        raise WindowError("bad_time", field, exc.reason) from exc


def parse_bbox(text: str) -> tuple[float, float, float, float]:
    try:
        s, w, n, e = (float(x) for x in text.split(","))
    except ValueError as exc:
        raise WindowError("bad_bbox", "bbox", f"{text[:60]!r}") from exc
    if not (-90 <= s < n <= 90 and -180 <= w < e <= 180):
        raise WindowError("bad_bbox", "bbox", f"{text[:60]!r}: south < north, west < east")
    return s, w, n, e


def make_window(profile: CityProfile, start: str | int, end: str | int,
                districts: Iterable[str] = (), bbox: str | Sequence[float] | None = None,
                streams: Iterable[str] = (), incident_id: str = "",
                max_ms: int = MAX_WINDOW_MS) -> Window:
    """A checked window (times as ISO 8601 text or epoch ms)."""
    start_ms = parse_time(start, "from") if isinstance(start, str) else int(start)
    end_ms = parse_time(end, "to") if isinstance(end, str) else int(end)
    if start_ms >= end_ms:
        raise WindowError("empty_window", "to", f"{format_event_time(start_ms)} is not before "
                                                f"{format_event_time(end_ms)}")
    if end_ms - start_ms > max_ms:
        raise WindowError("window_too_long", "to", f"{(end_ms - start_ms) / 3600_000:.1f} h "
                                                   f"> {max_ms / 3600_000:.0f} h")
    codes = tuple(sorted(set(districts)))
    unknown = [c for c in codes if c not in profile.district_codes]
    if unknown:
        raise WindowError("unknown_district", "district", f"{', '.join(unknown)} (the city's: "
                                                          f"{', '.join(sorted(profile.district_codes))})")
    names = tuple(dict.fromkeys(streams)) or INPUT_STREAMS
    bad = [s for s in names if s not in INPUT_STREAMS]
    if bad:
        raise WindowError("unknown_stream", "stream", f"{', '.join(bad)} (streams: "
                                                      f"{', '.join(INPUT_STREAMS)})")
    box = parse_bbox(bbox) if isinstance(bbox, str) else \
        (parse_bbox(",".join(str(float(x)) for x in bbox)) if bbox is not None else None)
    return Window(start_ms, end_ms, codes, box, tuple(s for s in INPUT_STREAMS if s in names),
                  incident_id)


def incident_window(profile: CityProfile, incident_id: str,
                    rows: Sequence[tuple[str, int, str]], streams: Iterable[str] = (),
                    before_ms: int = INCIDENT_BEFORE_MS, after_ms: int = INCIDENT_AFTER_MS,
                    max_ms: int = MAX_WINDOW_MS) -> Window:
    """An incident's window and area from its ``incident_events`` rows ``(kind, at_ms,
    payload_json)``: from ``before_ms`` before its first event to ``after_ms`` after its
    last, over the districts of the alerts attached to it (the whole city when none
    names one)."""
    if not rows:
        raise WindowError("unknown_incident", "incident", f"{incident_id!r}")
    times = [at for _, at, _ in rows]
    districts = set()
    for kind, _, payload in rows:
        if kind != "alert_attached":
            continue
        try:
            member = orjson.loads(payload).get("member") or {}
        except (orjson.JSONDecodeError, AttributeError):
            continue
        code = member.get("district") if isinstance(member, dict) else None
        if isinstance(code, str) and code in profile.district_codes:
            districts.add(code)
    return make_window(profile, min(times) - before_ms, max(times) + after_ms, districts,
                       None, streams, incident_id, max_ms)
