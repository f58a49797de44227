"""Naming another ClickHouse database must hold whether or not CITYCC_CLICKHOUSE_URL names
one: an SF import, a replay cockpit or a drill writing into the live database because the
URL's path won over the override would mix history or drills with live operations."""

from __future__ import annotations

import pytest

from citycc.settings import Settings
from warehouse.cad_load import history_settings


@pytest.mark.parametrize("url", ["", "clickhouse://ops:pw@10.0.0.5:9000/citycc",
                                 "clickhouse://ops:pw@10.0.0.5:9000"])
def test_another_database_is_named_whatever_the_url_says(url: str) -> None:
    s = Settings(clickhouse_url=url)
    other = s.with_database("citycc_replay_abc")
    assert other.clickhouse.database == "citycc_replay_abc"
    assert (other.clickhouse.host, other.clickhouse.user, other.clickhouse.password) == (
        s.clickhouse.host, s.clickhouse.user, s.clickhouse.password)
    assert s.clickhouse.database == "citycc"


def test_the_sf_history_database_is_never_the_live_one_named_by_the_url() -> None:
    live = Settings(clickhouse_url="clickhouse://ops:pw@10.0.0.5:9000/citycc")
    assert history_settings(live, "sf").clickhouse.database == "citycc_hist_sf"
