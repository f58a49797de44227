"""The worker's routing around the dispatch board (streams.dispatch_intake): which records
reach the board and which the alerting engine, in what order, and how dispatch commands are
answered. The board here is a recorder of what it is given (the contract's methods only)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import orjson
import pytest

from alerting.config import default_config
from alerting.engine import Engine
from schemas.records import make_alert
from schemas.validate import format_event_time
from streams.dispatch_intake import (BOARD_TYPES, forwarded, follow_incidents,
                                     route_commands, route_dispatch_events)

T0 = 1_795_600_800_000
ACTIONS = ("dispatch_confirm", "dispatch_edit", "dispatch_reject", "unit_status",
           "moveup_confirm")
AT = format_event_time(T0)


@dataclass
class Result:
    records: list[dict[str, Any]]
    code: str = ""
    field: str = ""
    reason: str = ""


@dataclass
class RecordingBoard:
    """Writes down every call; a command of ``refuse`` is refused, one of ``crash`` raises."""

    log: list[tuple[str, Any]] = field(default_factory=list)
    crash_on: str = ""

    def observe(self, stream: str, event: Mapping[str, Any]) -> list[dict[str, Any]]:
        if event.get("event_id") == self.crash_on:
            raise RuntimeError("a bug in the board")
        self.log.append(("observe", (stream, event.get("type"), event.get("event_id"))))
        return [record(f"obs-{event.get('event_id')}")]

    def observe_incident(self, row: Mapping[str, Any]) -> list[dict[str, Any]]:
        self.log.append(("incident", (row["kind"], row["incident_id"], row["lsn"])))
        return [record(f"inc-{row['event_id']}")] if row["kind"] == "opened" else []

    def command(self, cmd: Mapping[str, Any], now_ms: int) -> Result:
        self.log.append(("command", cmd["command_id"]))
        if cmd.get("package_id") == "crash":
            raise RuntimeError("a bug in the board")
        if cmd.get("package_id") == "stale":
            return Result([], "stale_package", "package_id", "a newer package exists")
        return Result([record(f"cmd-{cmd['command_id']}")])

    def tick(self, now_ms: int) -> list[dict[str, Any]]:
        return []


def record(rid: str) -> dict[str, Any]:
    return {"record_id": rid, "kind": "unit_status", "at": AT, "at_ms": T0,
            "incident_id": "", "unit_id": "U1", "actor": "", "payload": {}}


def gas_alert(entity: str = "GASC-H-1") -> dict[str, Any]:
    return make_alert(detector="limit", kind="gas_concentration_high", status="firing",
                      severity="critical", stream="lifeline", entity_id=entity,
                      district="furong", district_zh="芙蓉区", district_en="Furong",
                      lat=28.19, lon=112.99, event_time=format_event_time(T0), value=30.0,
                      threshold=20.0, unit="%LEL", title_zh="燃气浓度超限",
                      title_en="Gas above alarm level", evidence=[entity],
                      detected_at=format_event_time(T0))


def wire(stream: str, **event: Any) -> bytes:
    base = {"event_id": f"ev-{event.get('entity_id', 'x')}", "entity_id": "x",
            "event_time": format_event_time(T0), "source": "test"}
    return orjson.dumps({"stream": stream, "event": {**base, **event}})


def test_the_board_is_forwarded_positions_and_traffic_besides_the_engines_kinds() -> None:
    assert forwarded("ems", "unit_gps") and forwarded("fire", "engine_gps")
    assert forwarded("traffic", "segment") and forwarded("traffic", "accident")
    assert forwarded("fire", "call") and forwarded("ems", "unit_status")
    assert not forwarded("lifeline", "reading") and not forwarded("traffic", "reading")
    assert ("hazmat", "reading") not in BOARD_TYPES


def test_positions_and_traffic_reach_the_board_and_never_the_engine() -> None:
    engine, board = Engine(default_config()), RecordingBoard()
    values = [wire("ems", type="unit_gps", entity_id="AMB-1", lat=28.2, lon=112.9),
              wire("traffic", type="segment", entity_id="R1:0", speed_kmh=12.0),
              wire("traffic", type="accident", entity_id="ACC-1", lat=28.2, lon=112.9)]
    before = dict(engine.counters)
    out, made, dead = route_dispatch_events(engine.dispatch, board, values, T0,
                                            engine.counters)
    assert dead == [] and out.incident_events == [] and out.rejected == []
    assert engine.counters == before   # the engine was not asked (no rejects counted)
    assert [entry for entry, _ in board.log] == ["observe"] * 3
    assert [r["record_id"] for r in made.records] == ["obs-ev-AMB-1", "obs-ev-R1:0",
                                                      "obs-ev-ACC-1"]


def test_a_call_reaches_the_board_then_the_engine_whose_incident_events_follow() -> None:
    engine, board = Engine(default_config()), RecordingBoard()
    opened = engine.alerts([gas_alert()], T0)
    board.log.clear()
    call = wire("fire", type="call", entity_id="C119-1", lat=28.1901, lon=112.99,
                district="furong", category="hazmat")
    out, made, dead = route_dispatch_events(engine.dispatch, board, [call], T0 + 1000,
                                            engine.counters)
    assert dead == []
    linked = [e for e in out.incident_events if e.kind == "call_linked"]
    assert linked, out.incident_events
    assert board.log == [("observe", ("fire", "call", "ev-C119-1"))] + [
        ("incident", (e.kind, e.incident_id, e.lsn)) for e in out.incident_events]
    assert {e.incident_id for e in linked} == {opened.incident_events[0].incident_id}


def test_a_record_that_is_not_one_is_dead_lettered_as_before_and_the_rest_go_on() -> None:
    engine, board = Engine(default_config()), RecordingBoard(crash_on="ev-AMB-2")
    values = [b"{not json", orjson.dumps({"event": {"event_id": "e1"}}),
              wire("ems", type="unit_gps", entity_id="AMB-2", lat=28.2, lon=112.9),
              wire("ems", type="unit_gps", entity_id="AMB-3", lat=28.2, lon=112.9)]
    out, made, dead = route_dispatch_events(engine.dispatch, board, values, T0,
                                            engine.counters)
    assert [(r.index, r.code) for r in dead] == [(0, "malformed_json"),
                                                 (1, "alerting_bad_dispatch"),
                                                 (2, "dispatch_internal")]
    assert dead[2].ident == "ev-AMB-2" and "a bug in the board" in dead[2].reason
    assert engine.counters["dispatch_internal_errors"] == 1
    assert [r["record_id"] for r in made.records] == ["obs-ev-AMB-3"]


def test_incident_events_of_any_input_follow_in_the_engines_order() -> None:
    engine, board = Engine(default_config()), RecordingBoard()
    out = engine.alerts([gas_alert("GASC-H-1"), gas_alert("GASC-H-2")], T0)
    made = follow_incidents(board, out, engine.counters)
    assert [lsn for _, (_, _, lsn) in board.log] == [e.lsn for e in out.incident_events]
    assert [r["record_id"] for r in made] == \
        [f"inc-{e.event_id}" for e in out.incident_events if e.kind == "opened"]


def cmd(cid: str | None, action: str, **args: Any) -> bytes:
    body = {"action": action, "actor": "消防调度", "at": AT, **args}
    return orjson.dumps(body if cid is None else {"command_id": cid, **body})


def test_dispatch_commands_go_to_the_board_the_others_to_the_engine() -> None:
    engine, board = Engine(default_config()), RecordingBoard()
    iid = engine.alerts([gas_alert()], T0).incident_events[0].incident_id
    values = [cmd("c1", "dispatch_confirm", incident_id=iid, package_id="P1"),
              cmd("c2", "add_note", incident_id=iid, text="到场"),
              cmd("c3", "dispatch_reject", incident_id=iid, package_id="stale", reason="x")]
    out, made, dead = route_commands(engine.command, board, ACTIONS, engine.command_ids,
                                     values, T0 + 1000, AT, engine.counters)
    assert dead == [] and out.applied == ["c2"]
    assert [e.kind for e in out.incident_events] == ["note_added"]
    assert board.log == [("command", "c1"), ("incident", ("note_added", iid,
                                                          out.incident_events[0].lsn)),
                         ("command", "c3")]
    assert [(a["command_id"], a["ok"], a["code"], a["events"]) for a in made.answers] == [
        ("c1", True, "", ["cmd-c1"]), ("c3", False, "stale_package", [])]
    assert made.answers[1]["field"] == "package_id" and made.answers[0]["at"] == AT
    assert [r["record_id"] for r in made.records] == ["cmd-c1"]


def test_a_resent_dispatch_command_is_answered_not_applied_again() -> None:
    engine, board = Engine(default_config()), RecordingBoard()
    first = cmd("c1", "dispatch_confirm", incident_id="INC-1", package_id="P1")
    resent = orjson.dumps({**orjson.loads(first), "at": format_event_time(T0 + 5000)})
    other = cmd("c1", "dispatch_confirm", incident_id="INC-1", package_id="P2")
    _, made, dead = route_commands(engine.command, board, ACTIONS, engine.command_ids,
                                   [first, resent, other], T0, AT, engine.counters)
    assert board.log == [("command", "c1")] and dead == []
    assert [(a["ok"], a["code"], a["duplicate"]) for a in made.answers] == [
        (True, "", False), (True, "", True), (False, "reused_command_id", False)]


@pytest.mark.parametrize("package,code", [("stale", "stale_package"), ("crash", "internal")])
def test_a_refused_dispatch_command_is_not_remembered(package: str, code: str) -> None:
    engine, board = Engine(default_config()), RecordingBoard()
    value = cmd("c1", "dispatch_confirm", incident_id="INC-1", package_id=package)
    _, made, dead = route_commands(engine.command, board, ACTIONS, engine.command_ids,
                                   [value, value], T0, AT, engine.counters)
    assert [a["code"] for a in made.answers] == [code, code]   # tried again, not "done"
    assert [r.code for r in dead] == (["dispatch_internal"] * 2 if code == "internal" else [])


def test_a_dispatch_command_without_an_id_is_dead_lettered_unanswered() -> None:
    engine, board = Engine(default_config()), RecordingBoard()
    _, made, dead = route_commands(engine.command, board, ACTIONS, engine.command_ids,
                                   [cmd(None, "dispatch_confirm", incident_id="I",
                                        package_id="P")], T0, AT, engine.counters)
    assert made.answers == [] and board.log == []
    assert [(r.index, r.code, r.field) for r in dead] == [(0, "missing_field", "command_id")]


# --- one checkpoint for the engine and the board ------------------------------------------
def test_the_board_is_checkpointed_and_restored_with_the_engine(tmp_path: Any) -> None:
    import asyncio

    from city.dispatch_config import load_runcards, registry_for
    from city.profile import load_profile
    from dispatch.board import Board
    from streams.alerting_agent import EngineStore
    from streams.notifiers import Delivery

    profile = load_profile("changsha")

    def stage() -> tuple[Engine, Board, EngineStore]:
        engine = Engine(default_config(), profile)
        board = Board(profile, None, registry_for(profile, 0.05), load_runcards("changsha"))
        delivery = Delivery(engine.outbox, lambda r: asyncio.sleep(0))
        return engine, board, EngineStore(tmp_path / "alerting.json", engine, delivery,
                                          board)  # type: ignore[arg-type]

    engine, board, store = stage()
    out = engine.alerts([gas_alert()], T0)
    follow_incidents(board, out, engine.counters)
    unit = board.fleet.registry.units[0]
    board.observe(unit.stream or "ems", {"event_id": "g1", "type": "unit_gps",
                                         "entity_id": unit.id, "lat": 28.2, "lon": 112.95,
                                         "event_time": format_event_time(T0)})
    asyncio.run(store.save())
    engine2, board2, store2 = stage()
    assert board2.snapshot() != board.snapshot()
    assert store2.load()
    assert board2.snapshot() == board.snapshot()
    assert engine2.snapshot() == engine.snapshot()
    # a checkpoint from before the board was kept: the engine restores, the board starts anew
    state = orjson.loads((tmp_path / "alerting.json").read_bytes())
    del state["board"]
    (tmp_path / "alerting.json").write_bytes(orjson.dumps(state))
    engine3, board3, store3 = stage()
    fresh = board3.snapshot()
    assert store3.load() and board3.snapshot() == fresh
    assert engine3.snapshot() == engine.snapshot()


# --- where the board's output goes --------------------------------------------------------
class FakeTopic:
    """A topic's ``send``: records what it was given; its delivery resolves at once."""

    def __init__(self, name: str, log: list[tuple[str, bytes, dict[str, Any]]]) -> None:
        self.name, self.log = name, log

    async def send(self, key: bytes, value: bytes) -> Any:
        import asyncio
        self.log.append((self.name, key, orjson.loads(value)))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


@pytest.mark.parametrize("through", ["send_now", "buffer"])
def test_records_go_to_dispatch_preemptions_also_to_signal_requests_answers_to_results(
        through: str) -> None:
    import asyncio

    from streams.dispatch_agent import DispatchStage
    from streams.dispatch_intake import BoardOut, answer
    from streams.flush import send_now

    log: list[tuple[str, bytes, dict[str, Any]]] = []
    stage = DispatchStage.__new__(DispatchStage)
    stage.topics = {n: FakeTopic(n, log) for n in ("dispatch", "signal_requests",
                                                    "command_results")}
    stage.published = 0
    status = {**record("r1"), "incident_id": "INC-1"}
    preempt = {**record("r2"), "kind": "preemption_request", "incident_id": "INC-1",
               "payload": {"node": 417, "seq": 0}}
    stale = {**record("r3"), "incident_id": ""}
    made = BoardOut([status, preempt, stale], [answer("c1", "", "", "", AT, [status])])
    started: list[Any] = []

    async def buffered(start: Any) -> None:   # a FlushBuffer's send: started now
        started.append(await start())

    asyncio.run(stage.publish(made, send_now if through == "send_now" else buffered))
    assert [(topic, key) for topic, key, _ in log] == [
        ("dispatch", b"INC-1"), ("dispatch", b"INC-1"), ("signal_requests", b"417"),
        ("dispatch", b"U1"), ("command_results", b"c1")]
    assert log[2][2] == preempt and log[4][2]["events"] == ["r1"]
    assert stage.published == 3
