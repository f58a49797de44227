"""What the cockpit's server side tells the page is text, not internals (issue 15): an
alert's reading with its side and precision, an incident's emergency guidance from its
enrichment, its unit status records, and every refusal code in the page's words."""

from __future__ import annotations

import json
import re
from pathlib import Path

from alerting.enrich import cargo_info
from cockpit_api.incident_view import IncidentBoard, normalize_incident_event
from cockpit_api.messages import normalize_alert

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "cockpit_api" / "static"


def _alert(**kw: object) -> dict[str, object]:
    return {"fingerprint": "fp", "status": "firing", "kind": "water_pressure_low",
            "value": 0.136, "threshold": 0.14, "unit": "MPa", **kw}


def test_a_pressure_under_its_floor_keeps_its_precision_and_says_which_side() -> None:
    r = normalize_alert(_alert())["reading"]
    assert (r["value"], r["decimals"], r["threshold"], r["threshold_decimals"], r["op"]) == \
        (0.136, 3, 0.14, 2, "le")


def test_the_side_comes_from_the_alarm_and_recover_levels_where_the_detector_gives_them() -> None:
    high = normalize_alert(_alert(kind="gas_concentration", value=27.5, threshold=20.0,
                                  unit="%LEL", explanation={"alarm_level": 20.0,
                                                            "recover_level": 10.0}))
    assert high["reading"]["op"] == "ge" and high["reading"]["decimals"] == 1
    low = normalize_alert(_alert(kind="pressure", status="resolved", value=0.2,
                                 explanation={"alarm_level": 0.14, "recover_level": 0.16}))
    assert low["reading"]["op"] == "le"   # resolved above its floor: still a floor


def test_a_count_at_its_minimum_is_at_or_above_it_and_a_zero_rank_is_no_threshold() -> None:
    count = normalize_alert(_alert(kind="ems_calls", value=1.0, threshold=1.0, unit="count"))
    assert count["reading"]["op"] == "ge" and count["reading"]["threshold"] == 1.0
    rank = normalize_alert(_alert(kind="traffic_accident", value=3.0, threshold=0.0,
                                  unit="severity"))
    assert rank["reading"]["threshold"] is None and rank["reading"]["op"] is None
    assert rank["reading"]["value"] == 3.0 and rank["reading"]["decimals"] == 0


def test_an_alert_without_numbers_has_no_reading() -> None:
    assert normalize_alert({"fingerprint": "x"})["reading"] is None


def _ev(seq: int, kind: str, payload: dict[str, object], iid: str = "INC-1") -> dict[str, object]:
    return normalize_incident_event({
        "event_id": f"e{seq}", "incident_id": iid, "seq": seq, "kind": kind,
        "at_ms": 1000 * seq, "actor": "correlator", "payload_json": json.dumps(payload)})


AMMONIA = cargo_info("1005")
ENRICHMENT = {"version": 1, "city": {"zh": "长沙市", "en": "Changsha"},
              "district": {"code": "furong", "zh": "芙蓉区", "en": "Furong"},
              "assets": ["HZ-0001"], "calls": [], "hazmat": [AMMONIA], "radius_km": 1.0,
              "nearby": {"schools": [{"id": "sch-1", "zh": "长郡中学", "en": "Changjun School",
                                      "district": "furong", "distance_km": 0.4,
                                      "inside": False}],
                         "hospitals": [], "water_sources": [], "tunnels": []},
              "nearest": {"fire_stations": [{"id": "fs-1", "zh": "芙蓉消防站",
                                             "en": "Furong fire station", "district": "furong",
                                             "distance_km": 1.2, "engines": 3}],
                          "hospitals": []}}


def test_an_incident_carries_the_guidance_of_its_enrichment_not_its_keys() -> None:
    board = IncidentBoard()
    view, _ = board.apply(_ev(1, "opened", {"category": "hazmat", "severity": "critical",
                                             "members": [], "enrichment": ENRICHMENT}))
    g = view["guidance"]
    cargo = g["hazmat"][0]
    assert cargo["un_number"] == "1005" and cargo["guide"] == "125"
    assert cargo["name"] == {"zh": "液氨（无水氨）", "en": "Ammonia, anhydrous"}
    assert cargo["isolation_m"] == 100 and cargo["first_aid"]["zh"].startswith("将伤员")
    assert g["nearby"]["schools"][0]["name"]["zh"] == "长郡中学"
    assert g["nearest"]["fire_stations"][0]["distance_km"] == 1.2
    _, entry = board.apply(_ev(2, "enriched", {"enrichment": ENRICHMENT}))
    assert "keys" not in entry["detail"]
    assert entry["detail"]["guidance"]["hazmat"][0]["guide"] == "125"


def test_a_unit_status_record_is_shown_by_unit_and_status_not_as_its_fields() -> None:
    board = IncidentBoard()
    board.apply(_ev(1, "opened", {"category": "fire", "members": []}))
    _, entry = board.apply(_ev(2, "unit_status", {
        "unit": "EMS-FR-01", "status": "en_route", "stream": "ems", "call_id": "EMS-CALL-7",
        "event_id": "x", "lat": 28.1, "lon": 112.9}))
    assert entry["detail"] == {"unit": "EMS-FR-01", "status": "en_route", "stream": "ems",
                               "call_id": "EMS-CALL-7"}


def _words(name: str) -> str:
    return (STATIC / name).read_text(encoding="utf-8")


def _vocabulary() -> str:
    return "".join(_words(p.name) for p in STATIC.glob("*.js"))


def _refusal_codes() -> set[str]:
    """Every code a command can be refused with (a ``command_error`` of the cockpit or a
    ``command_result`` of the worker): the refusals raised in the cockpit, the alerting
    engine and the dispatch board, the input checks' codes, and what the engine folds its
    own errors into."""
    import schemas.errors as schema_errors
    from alerting.matchers import MATCHES_EVERYTHING
    from alerting.window import OUT_OF_WINDOW
    from dispatch.actions import REFUSALS
    codes = {v for k, v in vars(schema_errors).items() if k.isupper() and isinstance(v, str)}
    codes |= {*REFUSALS, MATCHES_EVERYTHING, OUT_OF_WINDOW, "bad_regex", "too_long",
              "bad_matcher", "incident_refused", "silence_refused", "internal"}
    from cockpit_api.replay import controls   # a replay cockpit's own (named constants)
    codes |= {controls.NOT_REPLAY, controls.READ_ONLY, controls.OUTSIDE_WINDOW,
              controls.NO_REWIND}
    raised = re.compile(r'(?:CommandError|CommandRejected|ActionError|AuthRefused)\(\s*"([a-z_]+)"')
    for folder in ("cockpit_api", "cockpit_api/auth", "cockpit_api/replay", "alerting",
                   "dispatch"):
        for src in (ROOT / folder).glob("*.py"):
            codes.update(raised.findall(src.read_text(encoding="utf-8")))
    return codes


def test_every_refusal_code_the_server_can_send_has_words_in_both_languages() -> None:
    codes = _refusal_codes()
    assert {"forbidden", "rate_limited", "unknown_incident"} <= codes, codes
    vocab = _vocabulary()
    missing = sorted(c for c in codes if vocab.count(f"why_{c}:") < 2)
    assert missing == [], missing


def test_every_sign_in_refusal_has_words_in_both_languages() -> None:
    details = set()
    for src in [*(ROOT / "cockpit_api").glob("*.py"), *(ROOT / "cockpit_api" / "auth").glob("*.py")]:
        details.update(re.findall(r'AuthRefused\(\s*"[a-z_]+",\s*"([a-z_]+)"',
                                  src.read_text(encoding="utf-8")))
    assert {"no_users", "expired", "locked"} <= details, details
    vocab = _vocabulary()
    assert sorted(d for d in details if vocab.count(f"login_{d}:") < 2) == []


def _has_both(prefix: str, codes: object) -> list[str]:
    vocab = _vocabulary()
    return sorted(c for c in codes if vocab.count(f"{prefix}{c}:") < 2)  # type: ignore[attr-defined]


def test_every_code_the_page_says_has_words_in_both_languages() -> None:
    """The codes the server sends the console, each said through the vocabulary: incident
    timeline kinds (with the correlator's unit status record), dispatch record kinds, unit
    statuses, capabilities, detectors (a silence's matchers) and the routing tree's
    receivers (notifications)."""
    import yaml
    from alerting.incident_calls import UNIT_RECORD
    from alerting.incident_model import EVENT_KINDS
    from dispatch.records import RECORD_KINDS
    from dispatch.status import BASE_STATUSES
    from dispatch.units import CAPABILITIES
    assert _has_both("k_", [*EVENT_KINDS, UNIT_RECORD]) == []
    assert _has_both("dk_", RECORD_KINDS) == []
    assert _has_both("st_", BASE_STATUSES) == []
    assert _has_both("cap_", CAPABILITIES) == []
    detectors = set()
    for src in (ROOT / "detectors").glob("*.py"):
        text = src.read_text(encoding="utf-8")
        detectors.update(re.findall(r'^\s+name = "([a-z_]+)"', text, flags=re.M))
        detectors.update(re.findall(r'^FAMILY = "([a-z_]+)"', text, flags=re.M))
    assert {"clusters", "data_quality", "service_level"} <= detectors
    assert _has_both("det_", detectors) == []
    routes = yaml.safe_load((ROOT / "alerting" / "changsha.yaml").read_text(encoding="utf-8"))
    receivers: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("receiver"), str):
                receivers.add(node["receiver"].split(":")[0])
            if isinstance(node.get("notify"), list):   # escalation levels' targets
                receivers.update(str(x).split(":")[0] for x in node["notify"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(routes)
    assert {"city_duty", "fire119", "district_duty", "duty_dispatcher"} <= receivers
    assert _has_both("rcv_", receivers) == []
