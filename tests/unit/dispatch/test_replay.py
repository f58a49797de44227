"""Replay: any sequence of inputs, cut anywhere by a snapshot and a restore into a fresh
board, gives the same records (ids included) as one board that never stopped."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from board_helpers import GRID, T0, cmd, event, make_board, opened, row
from dispatch.board import Board

CATS = [("fire", ("fire_alarm",)), ("hazmat", ("hazmat_stopped",)), ("ems", ("ems_calls",)),
        ("traffic", ("traffic_accident",)), ("gas", ("gas_pressure_low",))]
STEP = st.tuples(st.sampled_from(["open", "confirm", "edit", "reject", "status", "gps",
                                  "tick", "resolve", "traffic", "moveup"]),
                 st.integers(0, 10_000))


def run(board: Board, steps: list[tuple[str, int]], start: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    units = [u.id for u in board.fleet.registry.units]
    for k, (op, x) in enumerate(steps, start=start):
        t = T0 + 10_000 * k
        incs = sorted(board.incidents.by_id)
        inc = board.incidents.by_id[incs[x % len(incs)]] if incs else None
        if op == "open" or inc is None:
            cat, kinds = CATS[x % len(CATS)]
            i = x % GRID.nodes
            out += board.observe_incident(opened(f"INC-{k}", cat, t, float(GRID.lat[i]),
                                                 float(GRID.lon[i]), kinds=kinds))
        elif op in ("confirm", "reject", "edit"):
            args: dict[str, Any] = {"incident_id": inc.incident_id,
                                    "package_id": inc.package_id}
            if op == "edit":
                args.update(add=[units[x % len(units)]], reason="closer")
            if op == "reject":
                args.update(reason="no")
            out += board.command(cmd(f"dispatch_{op}", f"c{k}", **args), t).records
        elif op == "status":
            u = board.fleet.registry.units[x % len(units)]
            if u.stream is not None:
                new = ["en_route", "on_scene", "available", "returning"][x % 4]
                kind = "unit_status" if u.stream == "ems" else "engine_status"
                new = "transporting" if (u.stream, new) == ("ems", "returning") else new
                out += board.observe(u.stream, event(u.stream, kind, u.id, t, status=new))
        elif op == "gps":
            u = board.fleet.registry.units[x % len(units)]
            i = x % GRID.nodes
            if u.stream is not None:
                out += board.observe(u.stream, event(u.stream, "unit_gps" if u.stream == "ems"
                                                     else "engine_gps", u.id, t,
                                                     lat=float(GRID.lat[i]),
                                                     lon=float(GRID.lon[i])))
        elif op == "tick":
            out += board.tick(t + x * 100)
        elif op == "resolve":
            out += board.observe_incident(row(inc.incident_id, "resolved", inc.seq + 1, t, {}))
        elif op == "traffic":
            e = x % GRID.edges
            out += board.observe("traffic", event("traffic", "segment",
                                                  GRID.edge_id[e].removesuffix(":r"), t,
                                                  lat=0.0, lon=0.0, speed_kmh=float(x % 60)))
        elif op == "moveup":
            ids = sorted(board.moveups)
            if ids:
                out += board.command(cmd("moveup_confirm", f"m{k}",
                                         moveup_id=ids[x % len(ids)]), t).records
    return out


@settings(max_examples=40, deadline=None)
@given(steps=st.lists(STEP, min_size=2, max_size=30), cut=st.integers(0, 30))
def test_a_restored_board_continues_exactly(steps: list[tuple[str, int]], cut: int) -> None:
    cut = min(cut, len(steps))
    whole = make_board(0.1)
    expected = run(whole, steps, 0)
    first = make_board(0.1)
    got = run(first, steps[:cut], 0)
    second = make_board(0.1)
    second.restore(json.loads(json.dumps(first.snapshot())))
    got += run(second, steps[cut:], cut)
    assert got == expected
    assert json.loads(json.dumps(second.snapshot())) == json.loads(json.dumps(
        whole.snapshot()))
