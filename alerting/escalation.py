"""Escalation: who is paged, and when, while an alert stays firing and unacknowledged.

A policy (PagerDuty-style) is a list of levels: level 1 is paged when the alert starts
firing; each level's ``after_s`` is how long it has to acknowledge before the next level
is paged; after the last level's time the policy loops, ``repeat`` more times. An ack,
a resolve or flapping stops it; an un-ack, a re-trigger or a new occurrence starts it again
from level 1; a severity change moves it to its new policy, going on from the round and
level it had reached (one policy per alert, no level paged twice). The
:class:`Escalator` follows the lifecycle's AlertEvents; time comes from the events and
from ``tick(now_ms)`` (a heap of deadlines, no scan). Also: the severity an
incident reaches as it grows. Pure, no I/O.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from alerting.escalation_config import (EscalationConfig, EscalationError, Level, Policy,
                                        SeverityRule, parse_escalation)
from alerting.labels import LabelMemo
from alerting.lifecycle import FIRE, FIRING, FLAPPING, FORGET, REFIRE, RETRIGGER, UNACK, \
    UNFLAPPING, AlertEvent
from alerting.timers import next_due
from schemas.records import SEVERITIES, stable_id

__all__ = ["RESTARTS", "EscalationConfig", "EscalationError", "Escalator", "Level", "Page",
           "Policy", "SeverityRule", "incident_severity", "parse_escalation", "severity_policy"]
RESTARTS = (FIRE, REFIRE, RETRIGGER, UNACK, UNFLAPPING)  # a new firing spell: level 1 again
_RESTARTS = RESTARTS


def incident_severity(base: str, alert_count: int, stream_count: int,
                      rules: Iterable[SeverityRule]) -> str:
    """The severity of an incident: the most severe of its own (``base``, e.g. its worst
    alert's) and of every rule its size meets. It only ever rises as the incident grows."""
    best = SEVERITIES.index(base)
    for r in rules:
        if alert_count >= r.min_alerts and stream_count >= r.min_streams:
            best = min(best, SEVERITIES.index(r.severity))
    return SEVERITIES[best]


@dataclass(frozen=True)
class Page:
    """One escalation step to send. ``key`` is deterministic (the event that started the
    escalation, and the step), so a page computed twice is delivered once."""

    key: str
    fingerprint: str
    occurrence: int
    policy: str
    round: int          # 0 = first pass through the levels
    level: int          # 1-based
    targets: tuple[str, ...]
    due_ms: int
    labels: tuple[tuple[str, str], ...]


@dataclass
class _Run:
    policy: str
    start_id: str       # event_id of the event that (re)started the escalation
    start_ms: int
    occurrence: int
    step: int           # the next page to send
    labels: tuple[tuple[str, str], ...]


class Escalator:
    """Running escalations by fingerprint; feed it every AlertEvent and tick it."""

    def __init__(self, config: EscalationConfig) -> None:
        self.config = config
        self._policy_for = LabelMemo((m.name for p in config.policies for m in p.matchers),
                                     config.policy_for)
        # config.policy(name), and when each of its levels is due within a round (one entry
        # per level, never per step: the steps of a policy are levels x (repeat + 1))
        self._by_name: dict[str, Policy] = {}
        self._level_ms: dict[str, tuple[int, ...]] = {}
        for p in config.policies:
            if p.name not in self._by_name:
                self._by_name[p.name] = p
                self._level_ms[p.name] = tuple(p.offset_ms(k) for k in range(len(p.levels) + 1))
        self._runs: dict[str, _Run] = {}
        self._flapping: set[str] = set()
        self._heap: list[tuple[int, int, str, str, int]] = []  # due, order, fp, start, step
        self._order = itertools.count()

    def observe(self, ev: AlertEvent, labels: Mapping[str, str] | None = None) -> list[Page]:
        """Start, restart or stop the alert's escalation; returns the page due right away
        (level 1) when one starts. ``labels``: ``dict(ev.labels)`` if the caller has it."""
        fp = ev.fingerprint
        if ev.action in (FLAPPING, UNFLAPPING, FORGET):
            self._flapping.discard(fp)
            if ev.action == FLAPPING:
                self._flapping.add(fp)
        run = self._runs.get(fp)
        held = ev.action in (FIRE, REFIRE, RETRIGGER) and not ev.notify  # lifecycle: flapping
        if ev.to_state != FIRING or fp in self._flapping or held or ev.action == FORGET:
            self._runs.pop(fp, None)
            return []
        policy = self._policy_for(dict(ev.labels) if labels is None else labels)
        if policy is None:
            self._runs.pop(fp, None)
            return []
        if run is not None and ev.action not in _RESTARTS:
            if run.policy == policy.name:
                run.labels = ev.labels
                return []
            # a severity change moves the run to its new policy (one run per alert): same
            # start, same place (round, level), so no level is paged twice in a round;
            # a new start id retires the old policy's queued steps and keeps keys distinct
            step = self._moved_step(run, policy)
            # (a step already overdue is sent now, and the next ones keep their spacing:
            # a move never pages several levels at once)
            start = run.start_ms if step >= policy.steps else \
                max(run.start_ms, ev.at_ms - self._offset(policy.name, step))
            self._runs[fp] = _Run(policy.name, ev.event_id, start, run.occurrence, step,
                                  ev.labels)
            return self._advance(fp, ev.at_ms)
        self._runs[fp] = _Run(policy.name, ev.event_id, ev.at_ms, ev.occurrence, 0, ev.labels)
        return self._advance(fp, ev.at_ms)

    def _moved_step(self, run: _Run, to: Policy) -> int:
        """The step of ``to`` at the place (round, level) ``run`` has reached: its next
        level, or the next round if ``to`` has no such level."""
        old = self._by_name.get(run.policy)
        if old is None:
            return min(run.step, to.steps)
        rnd, lvl = divmod(run.step, len(old.levels))
        n = len(to.levels)
        return min(rnd * n + lvl if lvl < n else (rnd + 1) * n, to.steps)

    def tick(self, now_ms: int) -> list[Page]:
        """Pages whose time has come (in due order; after a long pause, one per alert)."""
        out: list[Page] = []
        while self._heap and self._heap[0][0] <= now_ms:
            _, _, fp, start_id, step = heapq.heappop(self._heap)
            run = self._runs.get(fp)
            if run is not None and run.start_id == start_id and run.step == step:
                out.extend(self._advance(fp, now_ms))
        return out

    def _advance(self, fp: str, now_ms: int) -> list[Page]:
        """Send the step of ``fp`` due by ``now_ms``; schedule the next one. Steps that fell
        behind (the worker was down) are not all sent at once: the next keeps its spacing
        from now (``alerting.timers``), so each level still gets its time to acknowledge. A
        run that has sent its last step stays (so later events do not start it over)."""
        run = self._runs[fp]
        policy = self._by_name.get(run.policy)
        if policy is None or run.step >= policy.steps:
            return []
        due = run.start_ms + self._offset(run.policy, run.step)
        if due > now_ms:
            heapq.heappush(self._heap, (due, next(self._order), fp, run.start_id, run.step))
            return []
        rnd, lvl = divmod(run.step, len(policy.levels))
        page = Page(stable_id("page", run.start_id, run.step), fp, run.occurrence, policy.name,
                    rnd, lvl + 1, policy.levels[lvl].notify, due, run.labels)
        run.step += 1
        if run.step < policy.steps:   # the next step's time, resumed from now if it is past
            nxt = self._offset(run.policy, run.step)
            run.start_ms = next_due(due, nxt - self._offset(run.policy, run.step - 1),
                                    now_ms) - nxt
            heapq.heappush(self._heap, (run.start_ms + nxt, next(self._order),
                                        fp, run.start_id, run.step))
        return [page]

    def _offset(self, name: str, step: int) -> int:
        """:meth:`Policy.offset_ms` of the policy ``name``, from its table of levels."""
        table = self._level_ms[name]   # the levels' offsets, then the round's length
        rnd, lvl = divmod(step, len(table) - 1)
        return rnd * table[-1] + table[lvl]

    def running(self, fingerprint: str) -> dict[str, Any] | None:
        run = self._runs.get(fingerprint)
        return None if run is None else _dump(run)

    def snapshot(self) -> dict[str, Any]:
        """JSON-serialisable state; the heap is rebuilt on restore."""
        return {"version": 1, "flapping": sorted(self._flapping),
                "runs": [{"fingerprint": fp, **_dump(r)} for fp, r in sorted(self._runs.items())]}

    def restore(self, state: Mapping[str, Any]) -> None:
        """Inverse of :meth:`snapshot`. A run whose policy is no longer configured, or that
        is past its policy's last step (the config may have changed), sends nothing more."""
        if not isinstance(state, Mapping) or state.get("version") != 1:
            raise ValueError("Escalator.restore: expected a version 1 snapshot")
        self._runs, self._heap = {}, []
        self._flapping = set(state["flapping"])
        for d in state["runs"]:
            run = _Run(d["policy"], d["start_id"], d["start_ms"], d["occurrence"], d["step"],
                       tuple(sorted(d["labels"].items())))
            self._runs[d["fingerprint"]] = run
            policy = self.config.policy(run.policy)
            if policy is None or run.step >= policy.steps:
                continue
            heapq.heappush(self._heap, (run.start_ms + policy.offset_ms(run.step),
                                        next(self._order), d["fingerprint"], run.start_id,
                                        run.step))


def _dump(run: _Run) -> dict[str, Any]:
    return {"policy": run.policy, "start_id": run.start_id, "start_ms": run.start_ms,
            "occurrence": run.occurrence, "step": run.step, "labels": dict(run.labels)}


def severity_policy(rules: Sequence[SeverityRule]) -> Any:
    """``incident_severity`` as a callable over a context with ``base``, ``alerts`` and
    ``streams`` (the shape ``alerting.incidents`` passes to its escalation policy)."""
    frozen = tuple(rules)
    return lambda ctx: incident_severity(ctx.base, ctx.alerts, ctx.streams, frozen)
