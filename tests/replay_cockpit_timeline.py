"""A small replay timeline for the replay cockpit's tests (unit and browser): gas leaks in
three districts in turn over an hour of event time, through the real alerting engine, every
output the record the worker publishes (:mod:`streams.outputs`), stamped like a replay's
(:func:`replay.timeline.stamped`). Incidents open, grow and resolve along it.

(Importable from every test: ``tests/`` is on the path of the project's root conftest.)
"""

from __future__ import annotations

from typing import Any

import orjson

from alerting.config import default_config
from alerting.engine import Engine
from city.profile import load_profile
from replay.timeline import OutRecord, stamped
from schemas.records import make_alert
from schemas.validate import format_event_time
from streams.outputs import output_records

T0 = 1_795_600_800_000          # 2026-11-25T10:00:00Z (18:00 in Changsha)
MIN = 60_000
END = T0 + 60 * MIN
PLACES = (("furong", "芙蓉区", "Furong", 28.19, 112.99),
          ("yuelu", "岳麓区", "Yuelu", 28.23, 112.93),
          ("tianxin", "天心区", "Tianxin", 28.11, 112.98))


def gas(entity: str, place: tuple[str, str, str, float, float], t: int, status: str,
        severity: str = "critical") -> dict[str, Any]:
    code, zh, en, lat, lon = place
    return make_alert(detector="limit", kind="gas_concentration_high", status=status,
                      severity=severity, stream="lifeline", entity_id=entity, district=code,
                      district_zh=zh, district_en=en, lat=lat, lon=lon,
                      event_time=format_event_time(t), value=27.5 if status == "firing"
                      else 5.0, threshold=20.0, unit="%LEL", title_zh="燃气浓度超限",
                      title_en="Gas concentration high", evidence=["e1"],
                      detected_at=format_event_time(t))


def timeline() -> list[OutRecord]:
    """The records, sorted by ``at_ms``: a gas leak in each district in turn (at 2, 22 and
    42 min), its alerts resolved 5 min later and its incident 10 min after that (one open
    incident at a time); the engine ticked every 30 s."""
    engine = Engine(default_config(), load_profile("changsha"))
    plan: dict[int, list[dict[str, Any]]] = {}
    for i, place in enumerate(PLACES):
        start = T0 + (2 + 20 * i) * MIN
        plan.setdefault(start, []).append(gas(f"GAS-{i}", place, start, "firing"))
        plan.setdefault(start + 30_000, []).append(gas(f"GAS-{i}b", place, start + 30_000,
                                                         "firing", "major"))
        end = start + 5 * MIN
        plan.setdefault(end, []).append(gas(f"GAS-{i}", place, end, "resolved"))
        plan.setdefault(end, []).append(gas(f"GAS-{i}b", place, end, "resolved", "major"))
    out: list[OutRecord] = []
    for t in range(T0, END + 1, 30_000):
        alerts = plan.get(t, [])
        if alerts:
            out += [OutRecord(t, "alerts", a["fingerprint"].encode(), orjson.dumps(a))
                    for a in alerts]
            out += stamped(t, output_records(engine.alerts(alerts, t), t))
        out += stamped(t, output_records(engine.tick(t), t))
    return out
