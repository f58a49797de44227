"""The ClickHouse data source definition and Grafana's file provisioning for it.

Grafana reads ``<provisioning>/datasources/*.yaml`` (``apiVersion: 1``, ``datasources:``)
and ``<provisioning>/dashboards/*.yaml`` (``providers:`` of ``type: file`` whose
``options.path`` holds the dashboard JSON files) at start. :func:`write` lays out a
provisioning directory that way: mount it as Grafana's provisioning directory
(``/etc/grafana/provisioning`` in the packages and the image) and the dashboards are found
in ``dashboards/citycc`` below it (``dashboards_path``). The ClickHouse password is not
written: the data source file names ``${CITYCC_GRAFANA_CLICKHOUSE_PASSWORD}``, which
Grafana replaces from its environment when it reads the file.

The data source is the ClickHouse plugin (id ``grafana-clickhouse-datasource``) with the
``jsonData`` its documentation lists: ``host``, ``port``, ``protocol`` (``native``: the
TCP port, as the citycc warehouse uses), ``secure``, ``username``, ``defaultDatabase``;
``secureJsonData.password``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from citycc.settings import ClickHouseAddress

from .build import DATASOURCE_UID, FOLDER_TITLE, FOLDER_UID, PLUGIN_ID

DATASOURCE_NAME = "citycc ClickHouse"
PASSWORD_VARIABLE = "CITYCC_GRAFANA_CLICKHOUSE_PASSWORD"
PROVISIONING_ROOT = "/etc/grafana/provisioning"
DASHBOARDS_PATH = f"{PROVISIONING_ROOT}/dashboards/citycc"


def datasource(ch: ClickHouseAddress, password: str, *, host: str | None = None,
               uid: str = DATASOURCE_UID, name: str = DATASOURCE_NAME) -> dict[str, Any]:
    """The data source as Grafana's HTTP API and provisioning take it. ``host``: the
    ClickHouse host as Grafana reaches it (default: the warehouse's)."""
    return {"name": name, "uid": uid, "type": PLUGIN_ID, "access": "proxy",
            "isDefault": False, "editable": True,
            "jsonData": {"host": host or ch.host, "port": ch.port, "protocol": "native",
                         "secure": False, "username": ch.user,
                         "defaultDatabase": ch.database},
            "secureJsonData": {"password": password}}


def dashboard_json(dashboard: dict[str, Any]) -> str:
    """A dashboard file: stable (sorted keys), readable, UTF-8."""
    return json.dumps(dashboard, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def _yaml(doc: dict[str, Any]) -> str:
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, default_flow_style=False)


def files(dashboards: Sequence[dict[str, Any]], ch: ClickHouseAddress, *,
          host: str | None = None, dashboards_path: str = DASHBOARDS_PATH
          ) -> dict[str, str]:
    """Relative path -> text of every provisioning file."""
    ds = datasource(ch, "${" + PASSWORD_VARIABLE + "}", host=host)
    out = {"datasources/citycc-clickhouse.yaml": _yaml({"apiVersion": 1, "datasources": [ds]}),
           "dashboards/citycc.yaml": _yaml({"apiVersion": 1, "providers": [{
               "name": "citycc", "orgId": 1, "folder": FOLDER_TITLE, "folderUid": FOLDER_UID,
               "type": "file", "disableDeletion": False, "allowUiUpdates": False,
               "updateIntervalSeconds": 60,
               "options": {"path": dashboards_path, "foldersFromFilesStructure": False}}]})}
    for d in dashboards:
        out[f"dashboards/citycc/{d['uid']}.json"] = dashboard_json(d)
    return out


def write(directory: Path, dashboards: Sequence[dict[str, Any]], ch: ClickHouseAddress, *,
          host: str | None = None, dashboards_path: str = DASHBOARDS_PATH) -> list[Path]:
    """Write :func:`files` under ``directory``; the paths written."""
    written = []
    for rel, text in files(dashboards, ch, host=host, dashboards_path=dashboards_path).items():
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
