"""The alerting engine (``alerting.engine.Engine``, what the alerting agents run): a sequence
of alert batches, operator commands, dispatch batches and ticks on a fresh engine.

The oracle: every input is applied or refused with a code (``Rejected``), never an
exception; valid ones are applied whatever came before them (a good record after a bad one
still goes in); a resent ``command_id`` is answered as applied and changes nothing; what
the engine emits can be published, and its state can still be checkpointed and restored.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson
from hypothesis import strategies as st

from alerting.config import default_config
from alerting.engine import Engine, Output

from ..strategies import NOW_MS, PROFILE, free_text, ids, materialise, names
from ..verdict import BROKEN, Expect, Hung, LOST, Tally, WRONG_ACCEPT, bounded, ok, refuse
from .alerts import HOWS, alert, alert_mutations, alert_specs, spoil
from .records import (COMMAND_HOWS, DISPATCH_HOWS, command_mutations, dispatch_events,
                      dispatch_mutations, dispatch_record, silences, spoil_command,
                      spoil_record)

CONFIG = default_config()
STEP_MS = 1000


@dataclass(frozen=True)
class Step:
    """One call into the engine: ``kind`` alerts | dispatch (``inputs`` is the batch),
    command | resend (one command), tick; ``expects``: one per input."""

    kind: str
    inputs: tuple[Any, ...] = ()
    expects: tuple[Expect, ...] = ()


@dataclass(frozen=True)
class EngineCase:
    steps: tuple[Step, ...]


class _Sequence:
    """What the generator knows while it writes a case: serials, the alerts that fired
    (by fingerprint: acknowledged or not), the commands applied."""

    def __init__(self, group: str) -> None:
        self.group = group
        self.serial = 0
        self.fired: dict[str, bool] = {}
        self.applied: list[dict[str, Any]] = []

    def next(self) -> int:
        self.serial += 1
        return self.serial


def _alerts(draw: st.DrawFn, seq: _Sequence) -> Step:
    msgs, expects = [], []
    for _ in range(draw(st.integers(1, 5))):
        msg = alert(draw(alert_specs()), seq.next())
        if draw(st.integers(0, 2)) or seq.group not in HOWS:   # two in three are valid
            seq.fired.setdefault(msg["fingerprint"], False)
            msgs.append(msg)
            expects.append(ok())
        else:
            m = draw(alert_mutations(seq.group))
            msgs.append(spoil(msg, m))
            expects.append(m.expect)
    return Step("alerts", tuple(msgs), tuple(expects))


def _command(draw: st.DrawFn, seq: _Sequence) -> Step:
    base = {"command_id": f"cmd-{seq.next()}", "actor": draw(names())}
    unacked = sorted(fp for fp, acked in seq.fired.items() if not acked)
    choice = draw(st.sampled_from(("comment", "ack", "silence", "unknown_alert")))
    acks = ""
    if choice == "comment" and seq.fired:
        fp = draw(st.sampled_from(sorted(seq.fired)))
        cmd = {**base, "action": "comment", "fingerprint": fp, "comment": draw(free_text(40, 1))}
    elif choice == "ack" and unacked:
        acks = draw(st.sampled_from(unacked))
        cmd = {**base, "action": "ack", "fingerprint": acks}
    elif choice == "unknown_alert" and seq.group in ("schema", "all"):
        cmd = {**base, "action": "comment", "fingerprint": f"nowhere-{draw(ids(20))}",
               "comment": "x"}
        return Step("command", (cmd,), (refuse(why="command on an alert nobody raised"),))
    else:
        cmd = {**base, **draw(silences())}
    if seq.group in COMMAND_HOWS and not draw(st.integers(0, 2)):   # one in three is spoilt
        if acks:   # (a spoilt ack taken by mistake would make the next valid ack illegal)
            cmd = {**base, "action": "comment", "fingerprint": acks, "comment": "x"}
        field, value, expect = draw(command_mutations(seq.group))
        return Step("command", (spoil_command(cmd, field, value),), (expect,))
    if acks:
        seq.fired[acks] = True
    seq.applied.append(cmd)
    return Step("command", (cmd,), (ok(),))


def _dispatch(draw: st.DrawFn, seq: _Sequence) -> Step:
    recs, expects = [], []
    for _ in range(draw(st.integers(1, 4))):
        stream, event, is_call = draw(dispatch_events())
        rec = dispatch_record(stream, event, seq.next())
        if draw(st.booleans()) or seq.group not in DISPATCH_HOWS:
            recs.append(rec)
            expects.append(ok())
            continue
        where, value, expect, calls_only = draw(dispatch_mutations(seq.group))
        if calls_only and not is_call:
            where, value, expect = "stream", 5, refuse("bad_dispatch", why="stream 5")
        recs.append(spoil_record(rec, where, value))
        expects.append(expect)
    return Step("dispatch", tuple(recs), tuple(expects))


# what each group adds to valid inputs (alerts.HOWS, records.COMMAND_HOWS, DISPATCH_HOWS);
# "duplicates": valid commands sent again with their command_id
GROUPS = ("valid", "schema", "characters", "window", "decode", "duplicates", "arbitrary",
          "all")


@lru_cache(maxsize=None)
@st.composite
def engine_cases(draw: st.DrawFn, group: str = "all") -> EngineCase:
    seq, steps = _Sequence(group), []
    for _ in range(draw(st.integers(1, 7))):
        kind = draw(st.sampled_from(("alerts", "alerts", "command", "command", "dispatch",
                                     "tick", "resend")))
        if kind == "alerts":
            steps.append(_alerts(draw, seq))
        elif kind == "command":
            steps.append(_command(draw, seq))
        elif kind == "dispatch":
            steps.append(_dispatch(draw, seq))
        elif kind == "resend" and seq.applied and group in ("duplicates", "all"):
            cmd = draw(st.sampled_from(seq.applied))
            steps.append(Step("resend", (cmd,), (ok("resent command_id"),)))
        else:
            steps.append(Step("tick"))
    return EngineCase(tuple(steps))


def check_engine(case: EngineCase) -> Tally:
    tally = Tally()
    engine = Engine(CONFIG, PROFILE)
    for k, step in enumerate(case.steps):
        now, where = NOW_MS + k * STEP_MS, f"step {k} ({step.kind})"
        try:
            with bounded(2, where):
                out = _run(engine, step, now)
        except (Exception, Hung) as exc:
            tally.inputs += len(step.inputs)
            tally.crash(where, exc)
            return tally
        _judge(tally, where, step, out)
        _publishable(tally, where, out)
    try:
        state = orjson.dumps(engine.snapshot())
        Engine(CONFIG, PROFILE).restore(orjson.loads(state))
    except Exception as exc:   # the worker could no longer checkpoint, or not restart
        tally.add(BROKEN, "checkpoint", f"{type(exc).__name__}: {exc}")
    return tally


def _run(engine: Engine, step: Step, now: int) -> Output:
    inputs = [materialise(x) for x in step.inputs]   # (Deep markers made real)
    if step.kind == "alerts":
        return engine.alerts(inputs, now)
    if step.kind == "dispatch":
        return engine.dispatch(inputs, now)
    if step.kind in ("command", "resend"):
        return engine.command(inputs[0], now)
    return engine.tick(now)


def _judge(tally: Tally, where: str, step: Step, out: Output) -> None:
    if step.kind in ("alerts", "dispatch"):
        for i, (item, expect) in enumerate(zip(step.inputs, step.expects)):
            refused = [r for r in out.rejected if r.index == i]
            if len(refused) > 1:
                tally.add(LOST, f"{where} #{i}", f"refused {len(refused)} times: "
                                                 f"{[r.code for r in refused]}")
            if step.kind == "alerts" and expect.accept and not refused and not any(
                    e.fingerprint == item["fingerprint"] for e in out.alert_events):
                tally.add(LOST, f"{where} #{i}", "a valid new alert was neither applied nor "
                                                 "refused")
            tally.judge(expect, f"{where} #{i}", accepted=not refused,
                        code=refused[0].code if refused else "",
                        note=refused[0].reason if refused else "")
        stray = [r for r in out.rejected if not 0 <= r.index < len(step.inputs)]
        if stray:
            tally.add(LOST, where, f"refusals of no input: {stray}")
    elif step.kind in ("command", "resend"):
        cmd = step.inputs[0]
        cid = str(cmd.get("command_id", "")) if isinstance(cmd, dict) else ""
        applied = bool(cid) and cid in out.applied
        if applied == bool(out.rejected) and (cid or out.rejected):
            tally.add(LOST, where, f"applied {out.applied}, refused {out.rejected}")
        r = out.rejected[0] if out.rejected else None
        tally.judge(step.expects[0], where, accepted=not out.rejected,
                    code=r.code if r else "", note=r.reason if r else "")
        if step.kind == "resend" and (out.alert_events or out.incident_events or
                                      out.silence_events):
            tally.add(WRONG_ACCEPT, where, f"a resent command_id changed state again: "
                      f"{len(out.alert_events)} alert, {len(out.incident_events)} incident, "
                      f"{len(out.silence_events)} silence events")


def _publishable(tally: Tally, where: str, out: Output) -> None:
    """What the alerting agent sends for ``out`` must encode (``streams.outputs``, the
    worker's and replay's one way of making those records)."""
    from streams.outputs import engine_records
    try:
        engine_records(out, 0)
    except Exception as exc:
        tally.add(BROKEN, where, f"output cannot be published: {type(exc).__name__}: {exc}")
