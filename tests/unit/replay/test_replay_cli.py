"""``citycc replay run``'s arguments: a bad window or session id is refused (exit 2, the
code and the zh/en message on stderr) before anything is read or written."""

from __future__ import annotations

import pytest

from citycc.cli import build_parser
from citycc.commands.common import speed_arg
from citycc.commands.replay import run_cmd
from citycc.settings import load_settings

SETTINGS = load_settings({}, clickhouse_port=1)   # nothing listens: nothing may be asked


@pytest.mark.parametrize("argv,code", [
    (["--from", "2026-11-25T10:00:00Z", "--to", "2026-11-25T09:00:00Z"], "empty_window"),
    (["--from", "2026-11-25T10:00:00", "--to", "2026-11-25T11:00:00Z"], "bad_time"),
    (["--from", "2026-11-25T10:00:00Z"], "missing_window"),
    (["--from", "2026-11-25T10:00:00Z", "--to", "2026-11-25T11:00:00Z", "--district", "x"],
     "unknown_district"),
    (["--from", "2026-11-25T10:00:00Z", "--to", "2026-11-25T11:00:00Z", "--stream", "rain"],
     "unknown_stream"),
    (["--from", "2026-11-25T10:00:00Z", "--to", "2026-11-25T11:00:00Z", "--session", "a b"],
     "bad_session"),
    (["--incident", "INC-1", "--from", "2026-11-25T10:00:00Z"], "missing_window"),
])
def test_a_bad_window_exits_2_with_its_code(argv: list[str], code: str, capsys) -> None:
    args = build_parser().parse_args(["replay", "run", "--no-progress", *argv])
    assert run_cmd(SETTINGS, args) == 2
    err = capsys.readouterr().err
    assert f"citycc replay: {code}" in err and " / " in err


def test_speed_is_a_factor_or_max() -> None:
    assert speed_arg("max") is None and speed_arg("4") == 4.0 and speed_arg("0.5") == 0.5
    for bad in ("0", "-1", "fast"):
        with pytest.raises(Exception):
            speed_arg(bad)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["replay", "run", "--speed", "0"])
    with pytest.raises(SystemExit):
        build_parser().parse_args(["replay"])   # an action is required


def test_serve_on_a_taken_port_exits_2_before_replaying(capsys) -> None:
    """The port is checked before the window is read (SETTINGS' ClickHouse is closed: a
    read would fail with another error), and said in both languages."""
    import socket

    from citycc.commands.replay_serve import serve_cmd
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = build_parser().parse_args(
            ["replay", "serve", "--no-progress", "--from", "2026-11-25T10:00:00Z",
             "--to", "2026-11-25T11:00:00Z", "--port", str(port), "--host", "127.0.0.1"])
        assert serve_cmd(SETTINGS, args) == 2
    err = capsys.readouterr().err
    assert f"127.0.0.1:{port}" in err and "已被占用" in err and "--port" in err
