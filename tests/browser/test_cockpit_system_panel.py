"""The cockpit's system panel shows the supervisor's process restarts (from
``run_dir/app/supervisor.json``), in both languages, refreshed while the page is open."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cockpit_harness import OPENED_MS, CommandRecorder, ServerThread, sign_in

from citycc.settings import Settings
from deploy.procs import free_port
from deploy.supervision import status_path


def write_status(run_dir: Path, processes: dict[str, Any]) -> None:
    path = status_path(run_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"supervisor_pid": 1, "updated_ms": OPENED_MS,
                                "processes": processes}))


def entry(restarts: int, reason: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"pid": 100 + restarts, "restarts": restarts,
            "last_restart_ms": OPENED_MS if restarts else None, "last_reason": reason,
            "next_start_ms": None}


@pytest.mark.browser
def test_restarts_on_the_system_panel(tmp_path: Path, chromium: Any) -> None:
    from playwright.sync_api import expect

    write_status(tmp_path, {"worker": entry(0), "cockpit": entry(0), "simulator": entry(0)})
    srv = ServerThread(Settings(cockpit_host="127.0.0.1", cockpit_port=free_port(),
                                run_dir=tmp_path), commands=CommandRecorder(),
                       audit=CommandRecorder())
    srv.start()
    try:
        errors: list[str] = []
        page = chromium.new_page(viewport={"width": 1600, "height": 900})
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(srv.settings.cockpit_url)
        sign_in(page)
        panel = page.locator("#sys")
        expect(panel).to_contain_text("进程重启0", timeout=10_000)
        expect(panel).to_contain_text("流处理进程0 次")

        killed = {"kind": "signal", "code": None, "signal": "SIGKILL"}
        write_status(tmp_path, {"worker": entry(2, killed),
                                "cockpit": entry(1, {"kind": "operator", "code": None,
                                                     "signal": None}),
                                "simulator": entry(1, {"kind": "exit", "code": 3,
                                                       "signal": None})})
        expect(panel).to_contain_text("进程重启4", timeout=10_000)  # the server re-reads it
        expect(panel).to_contain_text("流处理进程2 次 · 14:33:48 · 被强制终止")
        expect(panel).not_to_contain_text("SIG")   # the signal in words, not its name
        expect(panel).to_contain_text("大屏服务1 次 · 14:33:48 · 值班员重启")
        expect(panel).to_contain_text("城市模拟器1 次 · 14:33:48 · 退出码 3")

        page.locator("#lang-toggle").click()
        expect(panel).to_contain_text("Process restarts4")
        expect(panel).to_contain_text("Stream worker2 restarts · 14:33:48 · force-killed")
        expect(panel).not_to_contain_text("SIG")
        expect(panel).to_contain_text("Cockpit server1 restart · 14:33:48 · restarted by operator")
        expect(panel).to_contain_text("City simulator1 restart · 14:33:48 · exit code 3")
        assert "proc_" not in panel.inner_text() and "why_" not in panel.inner_text()

        status_path(tmp_path).write_text("{torn")  # a bad file: no rows, no crash
        expect(panel).not_to_contain_text("Process restarts", timeout=10_000)
        assert errors == []
    finally:
        srv.stop()
