"""Issue 12, item 6: one silence muted the whole city.

``matchers: ["kind!=fire_alarm,district=kaifu"]`` was read as one matcher on ``kind`` with
the value ``fire_alarm,district=kaifu``, so it muted every alert but that impossible kind, a
gas alert in Yuelu included, and the cockpit's own check let it through. A list item holds
comma-separated matchers (Alertmanager's grammar), and a silence whose matchers all match
an alert without labels is refused, by the engine and by the cockpit with one function.
"""

from __future__ import annotations

from typing import Any

import pytest

from alerting.config import default_config
from alerting.engine import Engine
from alerting.labels import labels_of
from cockpit_api.commands import validate_command
from cockpit_api.errors import CommandRejected
from cockpit_api.silence_view import SilenceBoard, normalize_silence_event
from schemas.records import make_alert
from schemas.validate import format_event_time
from unit_helpers import NOW_MS, PROFILE

THE_SILENCE = ["kind!=fire_alarm,district=kaifu"]


def labels(kind: str, district: str, stream: str) -> dict[str, str]:
    return labels_of(make_alert(
        detector="limit", kind=kind, status="firing", severity="major", stream=stream,
        entity_id=f"{kind}-{district}", district=district, district_zh="区", district_en="D",
        lat=28.2, lon=112.9, event_time=format_event_time(NOW_MS), value=1.0, threshold=0.0,
        unit="", title_zh="测试", title_en="test", evidence=["e1"],
        detected_at=format_event_time(NOW_MS)))


# (alert labels, muted by THE_SILENCE?)
CASES = [
    (labels("gas_concentration_high", "kaifu", "lifeline"), True),
    (labels("gas_concentration_high", "yuelu", "lifeline"), False),
    (labels("fire_alarm", "kaifu", "fire"), False),
]


def silence_command(matchers: Any) -> dict[str, Any]:
    return {"command_id": "c-1", "action": "silence", "actor": "值班长", "reason": "开福区燃气检修",
            "matchers": matchers, "ends_at": format_event_time(NOW_MS + 3_600_000)}


def test_the_engine_mutes_only_what_the_silence_says() -> None:
    e = Engine(default_config(), PROFILE)
    out = e.command(silence_command(THE_SILENCE), NOW_MS)
    assert out.rejected == [] and len(out.silence_events) == 1
    assert len(out.silence_events[0]["matchers"]) == 2   # recorded as two matchers
    for lbls, muted in CASES:
        assert bool(e.silencer.mutes(lbls, NOW_MS + 1000)) is muted, lbls


def test_the_cockpit_accepts_it_and_marks_alerts_as_the_engine_mutes_them() -> None:
    valid = validate_command(silence_command(THE_SILENCE), NOW_MS)
    e = Engine(default_config(), PROFILE)
    (created,) = e.command(valid.command, NOW_MS).silence_events
    board = SilenceBoard()
    board.apply(normalize_silence_event(created))
    for lbls, muted in CASES:
        assert bool(board.matching(lbls)) is muted, lbls


@pytest.mark.parametrize("matchers", [
    ["kind!=fire_alarm"],                       # every other kind, in every district
    ["kind!=fire_alarm", "district!=yuelu"],
    ['kind=~".*"'], ['district=""'], ["{kind!~gas_.*}"],
    ["kind!=fire_alarm, district=~\"kaifu|\""],  # the district may be absent
])
def test_a_silence_that_matches_an_alert_without_labels_is_refused_by_both(
        matchers: list[str]) -> None:
    with pytest.raises(CommandRejected) as refused:
        validate_command(silence_command(matchers), NOW_MS)
    assert (refused.value.code, refused.value.field) == ("matches_everything", "matchers")
    out = Engine(default_config(), PROFILE).command(silence_command(matchers), NOW_MS)
    assert out.silence_events == []
    assert [(r.code, r.field) for r in out.rejected] == [("matches_everything", "matchers")]
