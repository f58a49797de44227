"""Incident enrichment: places near an incident, responders, and hazmat cargo guidance."""

from __future__ import annotations

import functools
import json
from typing import Any

import pytest

from alerting.enrich import CARGO, GUIDES, cargo_info, enrich, warning_radius_km
from alerting.incident_model import KM_PER_DEG
from alerting.incidents import Correlator, Incident
from schemas.records import make_alert
from schemas.validate import format_event_time
from simulator.world import CARGOES
from unit_helpers import NOW_MS, PROFILE

T0 = NOW_MS


def alert(kind: str, lat: float | None, lon: float | None, *, entity: str = "E1",
          expl: dict[str, Any] | None = None, district: str = "", t_s: int = 0) -> dict[str, Any]:
    t = T0 + t_s * 1000
    return make_alert(detector="test", kind=kind, status="firing", severity="critical",
                      stream="hazmat", entity_id=entity, district=district, district_zh="",
                      district_en="", lat=lat, lon=lon, event_time=format_event_time(t),
                      value=1.0, threshold=0.0, unit="", title_zh="t", title_en="t",
                      evidence=[f"ev-{entity}-{t}"], detected_at=format_event_time(t),
                      explanation=expl)


def incident_at(lat: float | None, lon: float | None, **kw: Any) -> Incident:
    c = Correlator()
    c.observe(alert("hazmat_stopped", lat, lon, **kw), T0)
    return c.open_incidents()[0]


@pytest.mark.parametrize("un,hclass", [(c[0], c[1]) for c in CARGOES])
def test_every_simulator_cargo_has_bilingual_guidance(un: str, hclass: str) -> None:
    info = cargo_info(un, hclass)
    assert info["known"] and info["hazard_class"] == hclass and not info["class_mismatch"]
    assert info["name_zh"] and info["name_en"] and info["hazard_class_zh"] != "未知类别"
    assert info["isolation_m"] >= 50 and info["fire_isolation_m"] >= info["isolation_m"]
    for key in ("fire", "spill", "first_aid"):
        assert len(info[key]["zh"]) > 10 and len(info[key]["en"]) > 20


@pytest.mark.parametrize("un,name_en,guide", [
    ("1075", "Liquefied petroleum gas", "115"), ("1017", "Chlorine", "124"),
    ("1005", "Ammonia, anhydrous", "125"), ("1203", "Gasoline (motor spirit)", "128"),
    ("UN1830", "Sulfuric acid", "137")])
def test_known_cargoes(un: str, name_en: str, guide: str) -> None:
    info = cargo_info(un)
    assert (info["name_en"], info["guide"]) == (name_en, guide)


@pytest.mark.parametrize("un", ["9999", "12", "abcd", ""])
def test_an_unknown_un_number_is_a_clear_unknown_cargo_entry(un: str) -> None:
    info = cargo_info(un, "3")
    assert not info["known"] and info["guide"] == "111"
    assert "Unknown cargo" in info["name_en"] and "未知货物" in info["name_zh"]
    assert info["isolation_m"] == GUIDES["111"]["isolation_m"]


def test_a_class_that_contradicts_the_table_is_flagged() -> None:
    assert cargo_info("1075", "3")["class_mismatch"]


def test_the_table_and_the_guides_agree() -> None:
    assert all(row[3] in GUIDES for row in CARGO.values())


def test_places_near_an_incident_with_distances() -> None:
    school = next(z for z in PROFILE.schools if z.id == "S-CJ")
    e = enrich(incident_at(school.lat, school.lon), PROFILE)
    (first, *_) = e["nearby"]["schools"]
    assert first["id"] == "S-CJ" and first["distance_km"] == 0 and first["inside"]
    assert all(r["distance_km"] <= 1.0 for v in e["nearby"].values() for r in v)
    stations = e["nearest"]["fire_stations"]
    assert len(stations) == 3 and stations == sorted(stations, key=lambda r: r["distance_km"])
    assert stations[0]["engines"] > 0 and e["district"]["zh"].endswith("区")
    json.dumps(e)  # stored in the opened event


def test_a_tunnel_is_measured_along_its_axis() -> None:
    t = next(z for z in PROFILE.tunnels if z.id == "T-YPL")
    lat, lon = t.path[0]  # the tunnel's west portal, 1.5 km from its centre point
    rows = enrich(incident_at(lat, lon), PROFILE)["nearby"]["tunnels"]
    assert rows[0]["id"] == "T-YPL" and rows[0]["distance_km"] < 0.01 and rows[0]["inside"]


def test_a_toxic_cargo_widens_the_search_to_its_warning_distance() -> None:
    school = next(z for z in PROFILE.schools if z.id == "S-CJ")
    lat = school.lat + 1.3 / KM_PER_DEG
    plain = enrich(incident_at(lat, school.lon), PROFILE)
    chlorine = enrich(incident_at(lat, school.lon, expl={"un_number": "1017",
                                                         "hazard_class": "2.3"}), PROFILE)
    assert "S-CJ" not in [r["id"] for r in plain["nearby"]["schools"]]
    assert "S-CJ" in [r["id"] for r in chlorine["nearby"]["schools"]]
    assert chlorine["radius_km"] == 1.6 == warning_radius_km(chlorine["hazmat"], 1.0)
    assert chlorine["hazmat"][0]["name_zh"] == "液氯"


def test_cargo_from_the_vehicle_registry_when_the_alert_has_none() -> None:
    inc = incident_at(28.2, 112.98, entity="HZV-1")
    e = enrich(inc, PROFILE, cargo={"HZV-1": ("1075", "2.1")})
    assert [h["un_number"] for h in e["hazmat"]] == ["1075"] and e["assets"] == ["HZV-1"]


def test_an_incident_without_a_location_is_enriched_without_crashing() -> None:
    e = enrich(incident_at(None, None, district="yuelu"), PROFILE)
    assert e["location"] is None and e["district"]["en"] == "Yuelu"
    assert e["nearest"] == {"fire_stations": [], "hospitals": []}


def test_the_correlator_stores_the_enrichment_and_refreshes_it_for_new_cargo() -> None:
    c = Correlator(enricher=functools.partial(enrich, profile=PROFILE))
    (opened,) = c.observe(alert("tank_gas_high", 28.2, 112.98, entity="HZV-1-T1"), T0)
    assert opened.payload["enrichment"]["hazmat"] == []
    events = c.observe(alert("hazmat_stopped", 28.2, 112.98, entity="HZV-1", t_s=30,
                             expl={"un_number": "1075", "hazard_class": "2.1"}), T0)
    assert "enriched" in [e.kind for e in events]
    inc = c.open_incidents()[0]
    assert [h["un_number"] for h in inc.enrichment["hazmat"]] == ["1075"]
    assert "enriched" not in [e.kind for e in c.observe(
        alert("hazmat_stopped", 28.2, 112.98, entity="HZV-2", t_s=40,
              expl={"un_number": "1075"}), T0)]  # nothing new: no second refresh


def test_a_failing_enricher_does_not_stop_the_incident_opening() -> None:
    def broken(incident: Incident) -> dict[str, Any]:
        raise KeyError("no such district")

    c = Correlator(enricher=broken)
    (opened,) = c.observe(alert("tank_gas_high", 28.2, 112.98), T0)
    assert "KeyError" in opened.payload["enrichment"]["error"]
    assert c.counters["enrich_failed"] == 1


def test_an_enricher_returning_non_json_is_an_error_entry_not_a_lost_alert() -> None:
    c = Correlator(config=None, enricher=lambda incident: {"when": object()})
    (opened,) = c.observe(alert("tank_gas_high", 28.2, 112.98), T0)
    assert "TypeError" in opened.payload["enrichment"]["error"] and c.open_incidents()
