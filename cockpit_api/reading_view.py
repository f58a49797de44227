"""An alert's reading as the cockpit shows it: the value with the precision it has, and the
threshold with the side it was crossed on -- or no threshold where the detector has none.

Why: detectors send ``value``, ``threshold`` and ``unit`` with no side, so the page showed
"0.14 MPa / 0.14 MPa" for a pressure of 0.136 MPa under a 0.14 MPa floor (both rounded to
two places, no side), "1 count / 1 count" for a cluster at its minimum and
"3 severity / 0 severity" for an accident whose 0 is no limit at all. Pure: one alert in,
one ``reading`` out (attached by :func:`cockpit_api.messages.normalize_alert`)::

    {"value": 0.136, "decimals": 3, "unit": "MPa",
     "threshold": 0.14, "threshold_decimals": 2, "op": "le"}

``op`` is the alarm condition: ``ge`` (alarm at or above the threshold), ``le`` (at or
below) or None (side unknown: the page shows the threshold with no side).

The side comes from the detector's own words where it gives them (an ``alarm_level`` above
or below its ``recover_level``; a kind ending ``_rise``/``_high`` or ``_drop``/``_low``),
else from which side of the threshold a firing value is on. A threshold of 0 on a count, a
level or a score with no unit is no limit (``threshold: None``). The unit stays a code
(``count``, ``s``, ``MPa``): the page says it in its language.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

MAX_DECIMALS = 3
# units of a number that is a count or a rank: a threshold of 0 there is "any", no limit
_NO_ZERO_LIMIT = frozenset({"", "count", "level", "severity", "ratio", "score"})
_UP = ("_rise", "_high", "_above", "_over", "_exceeded")
_DOWN = ("_drop", "_low", "_below", "_under")


def decimals(x: float) -> int:
    """The places a reading has as sent (0.136 -> 3, 27.5 -> 1, 3.0 -> 0), at most 3."""
    if not math.isfinite(x) or x == int(x):
        return 0
    text = f"{x:.{MAX_DECIMALS}f}".rstrip("0")
    return len(text.split(".")[1]) if "." in text else 0


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) if math.isfinite(v) else None


def _side(alert: Mapping[str, Any], value: float | None, threshold: float) -> str | None:
    """"up" when the alarm is at or above the threshold, "down" below, None unknown."""
    x = alert.get("explanation")
    if isinstance(x, Mapping):
        alarm, recover = _number(x.get("alarm_level")), _number(x.get("recover_level"))
        if alarm is not None and recover is not None and alarm != recover:
            return "up" if alarm > recover else "down"
    kind = str(alert.get("kind") or "")
    if kind.endswith(_UP):
        return "up"
    if kind.endswith(_DOWN):
        return "down"
    if value is None or alert.get("status", "firing") != "firing":
        return None
    return "down" if value < threshold else "up"


def reading_of(alert: Mapping[str, Any]) -> dict[str, Any] | None:
    """The reading of an alert, or None when it carries no number at all."""
    value, threshold = _number(alert.get("value")), _number(alert.get("threshold"))
    if value is None and threshold is None:
        return None
    raw_unit = alert.get("unit")
    unit = raw_unit if isinstance(raw_unit, str) else ""
    out: dict[str, Any] = {"value": value, "decimals": decimals(value or 0.0), "unit": unit,
                           "threshold": None, "threshold_decimals": 0, "op": None}
    if threshold is None or (threshold == 0 and unit.strip().lower() in _NO_ZERO_LIMIT):
        return out
    side = _side(alert, value, threshold)
    op = None if side is None else ("ge" if side == "up" else "le")   # the alarm condition
    out.update(threshold=threshold, threshold_decimals=decimals(threshold), op=op)
    return out
