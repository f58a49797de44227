"""``citycc grafana sync`` against a recorded exchange of Grafana's documented HTTP API,
served on a real socket (tests/fixtures/grafana): what it sends, in which order, with which
credentials and bodies, and how each failure is reported (stable code, what was done)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from grafana_exchange import load, serving

from citycc.cli import main
from citycc.settings import load_settings
from dashboards.build import PLUGIN_ID, dashboards
from dashboards.panels import Context
from dashboards.provision import datasource
from dashboards.sync import SyncError, connect, sync
from deploy import procs

BOARDS = dashboards(Context("citycc_test", {"yuelu": "岳麓区"}, {"R1": 50.0}))
CH = load_settings({}).clickhouse


def test_a_first_sync_creates_the_datasource_the_folder_and_the_dashboards() -> None:
    with serving(load("sync_first_run.json")["exchanges"]) as (url, replay):
        summary = sync(connect(url, token="glsa_test_token"), BOARDS,
                       datasource=datasource(CH, "pw"))
    assert replay.mismatches == []
    assert len(replay.received) == len(replay.exchanges)
    assert summary.grafana_version == "11.3.0"
    assert summary.done == ["health", "datasource citycc-clickhouse created",
                            "folder citycc created", "dashboard citycc-response saved",
                            "dashboard citycc-operations saved", "search"]
    sent = [r["body"] for r in replay.received if r["path"] == "/api/dashboards/db"]
    assert [b["dashboard"] for b in sent] == [{**d, "id": None} for d in BOARDS]
    ds = replay.received[2]["body"]
    assert ds["type"] == PLUGIN_ID and ds["secureJsonData"] == {"password": "pw"}
    assert ds["jsonData"] == {"host": CH.host, "port": CH.port, "protocol": "native",
                              "secure": False, "username": CH.user,
                              "defaultDatabase": CH.database}


def test_a_second_sync_updates_by_uid_and_overwrites() -> None:
    with serving(load("sync_second_run.json")["exchanges"]) as (url, replay):
        summary = sync(connect(url, user="admin", password="s3cret"), BOARDS,
                       datasource=datasource(CH, "pw"))
    assert replay.mismatches == []
    assert len(replay.received) == len(replay.exchanges)
    assert summary.done[1:3] == ["datasource citycc-clickhouse updated", "folder citycc exists"]
    assert [d["version"] for d in summary.dashboards] == [2, 2]
    assert [r["method"] for r in replay.received] == ["GET", "GET", "PUT", "GET", "POST",
                                                      "POST", "GET"]


@pytest.mark.parametrize("scenario, code, done", [
    ("unauthorized", "unauthorized", []),
    ("refused", "rejected", ["health", "folder citycc exists"]),
    ("lost", "missing", ["health", "folder citycc exists", "dashboard citycc-response saved",
                         "dashboard citycc-operations saved"]),
    ("unhealthy", "unhealthy", []),
])
def test_failures_have_a_stable_code_and_say_what_was_done(scenario: str, code: str,
                                                           done: list[str]) -> None:
    exchanges = load("sync_errors.json")["scenarios"][scenario]
    token = "glsa_wrong" if scenario == "unauthorized" else "t"
    with serving(exchanges) as (url, replay):
        with pytest.raises(SyncError) as err:
            sync(connect(url, token=token), BOARDS)
    assert replay.mismatches == []
    assert len(replay.received) == len(exchanges)
    assert (err.value.code, err.value.done) == (code, done)


def test_an_unreachable_grafana_is_reported_not_raised() -> None:
    port = procs.free_port()            # nothing listens there
    with pytest.raises(SyncError) as err:
        sync(connect(f"http://127.0.0.1:{port}", token="t", timeout_s=3), BOARDS)
    assert err.value.code == "unreachable"


def test_the_cli_syncs_and_prints_a_summary(tmp_path: Path, capsys: Any,
                                            monkeypatch: Any) -> None:
    monkeypatch.setenv("CITYCC_CLICKHOUSE_URL", "clickhouse://default@127.0.0.1:19000/citycc")
    token = tmp_path / "token"
    token.write_text("glsa_test_token\n")
    with serving(load("sync_first_run.json")["exchanges"]) as (url, replay):
        rc = main(["grafana", "sync", "--url", url, "--token-file", str(token),
                   "--datasource"])
    out = capsys.readouterr()
    assert (rc, replay.mismatches) == (0, []), out.err
    assert json.loads(out.out)["done"][-1] == "search"
    sent = replay.received[5]["body"]["dashboard"]["panels"]
    assert any("citycc.events_ems" in t["rawSql"] for p in sent for t in p.get("targets", ()))


def test_the_cli_without_credentials_is_refused(capsys: Any) -> None:
    assert main(["grafana", "sync", "--url", "http://127.0.0.1:9"]) == 2
    assert "--token" in capsys.readouterr().err
