"""Provision the dashboards (and, if asked, the data source) over Grafana's HTTP API.

With ``grafana-client`` (the maintained fork of the unmaintained ``grafana-api``). Idempotent:
everything is addressed by its uid, so a second run changes nothing but the dashboards'
version. The calls, in order (Grafana HTTP API):

1. ``GET /api/health``: the server answers and its database is ``ok``;
2. with a data source: ``GET /api/datasources/uid/<uid>``, then ``PUT`` to the same path if
   it exists, else ``POST /api/datasources``;
3. ``GET /api/folders/<uid>``, else ``POST /api/folders`` (``title``, ``uid``);
4. per dashboard ``POST /api/dashboards/db`` with ``overwrite: true`` into the folder
   (``id`` null: matched by uid);
5. ``GET /api/search?type=dash-db&folderUIDs=<uid>``: every dashboard is there.

Any failure is a :class:`SyncError` with a stable code; nothing half-done is hidden: the
summary lists what was done before it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import niquests
from grafana_client.api import GrafanaApi
from grafana_client.client import (GrafanaClientError, GrafanaException, GrafanaServerError,
                                   GrafanaTimeoutError, GrafanaUnauthorizedError)

from .build import FOLDER_TITLE, FOLDER_UID

MESSAGE = "citycc grafana sync"


class SyncError(Exception):
    """``code``: unreachable, unauthorized, unhealthy, rejected, missing, grafana_error."""

    def __init__(self, code: str, reason: str, done: Sequence[str] = ()) -> None:
        super().__init__(f"{code}: {reason}")
        self.code, self.reason, self.done = code, reason, list(done)


@dataclass
class Summary:
    grafana_version: str = ""
    done: list[str] = field(default_factory=list)
    dashboards: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"grafana_version": self.grafana_version, "done": self.done,
                "dashboards": self.dashboards}


def connect(url: str, *, token: str | None = None, user: str | None = None,
            password: str | None = None, timeout_s: float = 10.0) -> GrafanaApi:
    """A client of the Grafana at ``url`` (token, or basic auth ``user``/``password``)."""
    credential: str | tuple[str, str] | None = token
    if token is None and user is not None:
        credential = (user, password or "")
    return GrafanaApi.from_url(url, credential=credential, timeout=timeout_s)


def _missing(exc: GrafanaException) -> bool:
    return isinstance(exc, GrafanaClientError) and exc.status_code == 404


def sync(api: GrafanaApi, dashboards: Sequence[dict[str, Any]], *,
         datasource: dict[str, Any] | None = None, folder_uid: str = FOLDER_UID,
         folder_title: str = FOLDER_TITLE) -> Summary:
    """Steps 1-5 of the module docstring; :class:`SyncError` on the first failure."""
    out = Summary()
    try:
        _steps(api, dashboards, datasource, folder_uid, folder_title, out)
    except SyncError as exc:
        exc.done = out.done
        raise
    except GrafanaUnauthorizedError as exc:
        raise SyncError("unauthorized", str(exc.message), out.done) from exc
    except GrafanaTimeoutError as exc:
        raise SyncError("unreachable", str(exc.message), out.done) from exc
    except GrafanaException as exc:
        code = "rejected" if isinstance(exc, GrafanaClientError) else "grafana_error"
        raise SyncError(code, str(exc.message), out.done) from exc
    except (niquests.exceptions.RequestException, OSError) as exc:
        raise SyncError("unreachable", f"{type(exc).__name__}: {exc}", out.done) from exc
    return out


def _steps(api: GrafanaApi, dashboards: Sequence[dict[str, Any]],
           datasource: dict[str, Any] | None, folder_uid: str, folder_title: str,
           out: Summary) -> None:
    try:
        health = api.client.GET("/health")
    except GrafanaServerError as exc:       # 503 with "database": "failing"
        raise SyncError("unhealthy", f"GET /api/health: {exc.message}") from exc
    if not isinstance(health, dict) or health.get("database") != "ok":
        raise SyncError("unhealthy", f"GET /api/health answered {health!r}")
    out.grafana_version = str(health.get("version", ""))
    out.done.append("health")
    if datasource is not None:
        uid = datasource["uid"]
        try:
            api.datasource.get_datasource_by_uid(uid)
        except GrafanaException as exc:
            if not _missing(exc):
                raise
            api.datasource.create_datasource(datasource)
            out.done.append(f"datasource {uid} created")
        else:
            api.datasource.update_datasource_by_uid(uid, datasource)
            out.done.append(f"datasource {uid} updated")
    try:
        api.folder.get_folder(folder_uid)
        out.done.append(f"folder {folder_uid} exists")
    except GrafanaException as exc:
        if not _missing(exc):
            raise
        api.folder.create_folder(folder_title, uid=folder_uid)
        out.done.append(f"folder {folder_uid} created")
    for d in dashboards:
        got = api.dashboard.update_dashboard({"dashboard": {**d, "id": None},
                                              "folderUid": folder_uid, "overwrite": True,
                                              "message": MESSAGE})
        if not isinstance(got, dict) or got.get("status") != "success" or \
                got.get("uid") != d["uid"]:
            raise SyncError("rejected", f"dashboard {d['uid']}: {got!r}")
        out.dashboards.append({"uid": got["uid"], "url": got.get("url"),
                               "version": got.get("version")})
        out.done.append(f"dashboard {d['uid']} saved")
    found = api.search.search_dashboards(type_="dash-db", folder_uids=[folder_uid])
    have = {h.get("uid") for h in found if isinstance(h, dict)} if isinstance(found, list) \
        else set()
    lost = [d["uid"] for d in dashboards if d["uid"] not in have]
    if lost:
        raise SyncError("missing", f"not in folder {folder_uid} after saving: {lost}")
    out.done.append("search")
