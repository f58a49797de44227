"""Grafana file provisioning: the layout Grafana documents (datasources/*.yaml,
dashboards/*.yaml providers of type file, the dashboard JSON where the provider points),
no password in any file, and deploy/grafana/ is what ``citycc grafana provision`` writes
with the default settings (regenerate it when the dashboards change)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml

from citycc.cli import main
from citycc.settings import load_settings
from dashboards.build import DATASOURCE_UID, FOLDER_UID, PLUGIN_ID
from dashboards.provision import DASHBOARDS_PATH, PASSWORD_VARIABLE, PROVISIONING_ROOT

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy" / "grafana"


def tree(directory: Path) -> dict[str, str]:
    return {str(p.relative_to(directory)): p.read_text(encoding="utf-8")
            for p in sorted(directory.rglob("*")) if p.is_file()}


def defaults(monkeypatch: Any) -> None:
    for k in [k for k in os.environ if k.startswith("CITYCC_")]:
        monkeypatch.delenv(k)


def provision(tmp_path: Path, monkeypatch: Any, *args: str) -> dict[str, str]:
    defaults(monkeypatch)
    assert main(["grafana", "provision", str(tmp_path / "out"), *args]) == 0
    return tree(tmp_path / "out")


def test_the_layout_is_grafanas(tmp_path: Path, monkeypatch: Any) -> None:
    files = provision(tmp_path, monkeypatch)
    assert sorted(files) == ["dashboards/citycc.yaml", "dashboards/citycc/citycc-operations.json",
                             "dashboards/citycc/citycc-response.json",
                             "datasources/citycc-clickhouse.yaml"]
    ds = yaml.safe_load(files["datasources/citycc-clickhouse.yaml"])
    assert ds["apiVersion"] == 1
    (d,) = ds["datasources"]
    ch = load_settings({}).clickhouse
    assert (d["type"], d["uid"]) == (PLUGIN_ID, DATASOURCE_UID)
    assert d["jsonData"] == {"host": ch.host, "port": ch.port, "protocol": "native",
                             "secure": False, "username": ch.user,
                             "defaultDatabase": ch.database}
    assert d["secureJsonData"] == {"password": "${%s}" % PASSWORD_VARIABLE}
    (p,) = yaml.safe_load(files["dashboards/citycc.yaml"])["providers"]
    assert (p["type"], p["folderUid"], p["options"]["path"]) == ("file", FOLDER_UID,
                                                                 DASHBOARDS_PATH)
    # the provider's path is the JSON's place once the directory is Grafana's provisioning
    assert DASHBOARDS_PATH == f"{PROVISIONING_ROOT}/dashboards/citycc"
    for name in ("citycc-response", "citycc-operations"):
        assert json.loads(files[f"dashboards/citycc/{name}.json"])["uid"] == name


def test_options_change_the_host_and_the_dashboards_path(tmp_path: Path,
                                                         monkeypatch: Any) -> None:
    files = provision(tmp_path, monkeypatch, "--clickhouse-host", "clickhouse",
                      "--dashboards-path", "/var/lib/grafana/dashboards/citycc")
    (d,) = yaml.safe_load(files["datasources/citycc-clickhouse.yaml"])["datasources"]
    (p,) = yaml.safe_load(files["dashboards/citycc.yaml"])["providers"]
    assert d["jsonData"]["host"] == "clickhouse"
    assert p["options"]["path"] == "/var/lib/grafana/dashboards/citycc"


def test_deploy_grafana_is_what_provision_writes_now(tmp_path: Path, monkeypatch: Any) -> None:
    assert tree(DEPLOY) == provision(tmp_path, monkeypatch)


def test_build_writes_one_file_per_dashboard(tmp_path: Path, monkeypatch: Any) -> None:
    defaults(monkeypatch)
    assert main(["grafana", "build", "--out", str(tmp_path)]) == 0
    assert tree(tmp_path) == {k.split("/")[-1]: v for k, v in tree(DEPLOY).items()
                              if k.endswith(".json")}


def test_a_directory_that_cannot_be_written_is_a_clear_error(tmp_path: Path, capsys: Any,
                                                             monkeypatch: Any) -> None:
    defaults(monkeypatch)
    (tmp_path / "file").write_text("not a directory")
    for args in (["provision", str(tmp_path / "file" / "out")],
                 ["build", "--out", str(tmp_path / "file" / "out")]):
        assert main(["grafana", *args]) == 2
        assert "citycc: cannot write into" in capsys.readouterr().err
