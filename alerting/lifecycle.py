"""The alert lifecycle: an event-sourced state machine per fingerprint.

Detector alerts and operator commands go in; immutable :class:`AlertEvent` records come out
(their vocabulary: :mod:`alerting.alert_model`). Deciding (``apply``/``tick``) only computes
events and ``_evolve`` is the only thing that changes state, so ``AlertBook.from_events(log)``
rebuilds the live book exactly, and an input delivered twice yields the same event id (an
idempotent sink drops it) or nothing at all. Pure: no I/O, no clock (``now_ms`` is passed in).
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Mapping

from alerting.alert_model import (  # noqa: F401 (the lifecycle's names, re-exported)
    ACK, ACKNOWLEDGED, ACTIONS, CLAIM, COMMANDS, COMMENT, FIRE, FIRING, FLAPPING, FORGET,
    MAX_ACTOR, MAX_COMMENT, MAX_ID, NOT_REASSERTED, REFIRE, RESOLVE, RESOLVED, RETRIGGER,
    STATES, SYSTEM, TRANSITIONS, UNACK, UNCLAIM, UNFLAPPING, UPDATE, AlertEvent, Command,
    DETECTOR_ACTOR, CommandError, LifecycleConfig, alert_ends_ms, alert_fields)
from alerting.labels import label_set
from alerting.records import maker
from schemas.records import SEVERITIES, stable_id

_CHANGES = (FIRE, REFIRE, RESOLVE)  # firing <-> resolved: what flap detection counts
_SCHEDULED = _CHANGES + (FLAPPING, ACK)  # actions after which deadlines may move
_new_event = maker(AlertEvent)


@dataclass
class _Alert:
    """The live state of one fingerprint (snapshot form: ``asdict``)."""

    fingerprint: str
    occurrence: int = 0
    occurrence_id: str = ""
    seq: int = 0
    state: str = ""
    severity: str = ""
    kind: str = ""
    entity_id: str = ""
    district: str = ""
    labels: tuple[tuple[str, str], ...] = ()
    alert_id: str = ""
    owner: str = ""
    acked_by: str = ""
    ack_deadline: int | None = None
    resolved_at: int | None = None
    notified: str = ""            # FIRING/RESOLVED: what receivers last heard
    ends_ms: int = 0              # resolves unless re-asserted by then (0: never)
    # the rest of its last event (from_state, action, actor, comment, at_ms, cause_id,
    # notify): small, where keeping the event itself costs ~10% of the lifecycle's time
    last: tuple[Any, ...] = ()
    flapping: bool = False
    changes: list[int] = field(default_factory=list)  # times of recent _CHANGES
    causes: dict[str, None] = field(default_factory=dict)  # ordered set of recent inputs


def _status(state: str) -> str:
    return RESOLVED if state == RESOLVED else FIRING


class AlertBook:
    """Every known alert by fingerprint, with a heap of deadlines (ack timeouts, flapping
    quiet periods, forgetting resolved alerts) so ``tick`` never scans the book."""

    def __init__(self, config: LifecycleConfig | None = None) -> None:
        self.config = config or LifecycleConfig()
        self._alerts: dict[str, _Alert] = {}
        self._heap: list[tuple[int, int, str, str]] = []  # (due, order, kind, fingerprint)
        self._order = itertools.count()
        self._queued: dict[tuple[str, str], int] = {}  # (kind, fp) -> earliest due queued

    # --- deciding ----------------------------------------------------------------------
    def apply(self, item: Command | Mapping[str, Any], now_ms: Any) -> list[AlertEvent]:
        """A detector alert (``make_alert`` dict) or an operator command (a :class:`Command`
        or its dict, told apart by ``action``) -> the events it caused. Raises only
        :class:`CommandError`; nothing changes when it raises. (``now_ms`` is typed Any, and
        checked here: compiled code would refuse a float with a bare TypeError.)"""
        if isinstance(now_ms, bool) or not isinstance(now_ms, int):
            raise CommandError("bad_time", f"now_ms must be int epoch ms, got {now_ms!r}")
        try:
            if isinstance(item, Command):
                return self._command(item, now_ms)
            if type(item) is dict or isinstance(item, Mapping):
                if "action" in item:
                    return self._command(Command.from_dict(item), now_ms)
                return self._detector(item, now_ms)
        except CommandError:
            raise
        except Exception as exc:  # the promise to callers: a named error, never a crash
            raise CommandError("internal", f"cannot apply {type(item).__name__}: {exc!r}") \
                from exc
        raise CommandError("bad_input", f"expected a Command or an alert message, "
                                        f"got {type(item).__name__}")

    def _detector(self, msg: Mapping[str, Any], now: int) -> list[AlertEvent]:
        fp, status, alert_id, severity, ev_ms = alert_fields(msg)
        # alert_id alone repeats for evidence-less alerts (NoData): the event time tells apart
        cause = stable_id("delivery", alert_id, ev_ms)
        a = self._alerts.get(fp)
        if a is not None and cause in a.causes:
            return []
        info = (severity, str(msg.get("kind", "")), str(msg.get("entity_id", "")),
                str(msg.get("district", "")), label_set(msg), alert_id,
                0 if msg.get("ends_at") is None else alert_ends_ms(msg))
        actor = f"{DETECTOR_ACTOR}{msg.get('detector', '')}"
        if status == RESOLVED:
            if a is None or a.state == RESOLVED:
                return []
            return self._change(a, RESOLVE, actor, "", now, cause, info)
        if a is None or a.state == RESOLVED:
            return self._change(a or _Alert(fp), REFIRE if a else FIRE, actor, "", now, cause,
                                info)
        rose = SEVERITIES.index(severity) < SEVERITIES.index(a.severity)
        return [self._emit(a, UPDATE, a.state, actor, "", now, rose and not a.flapping, cause,
                           info)]

    def _command(self, cmd: Command, now: int) -> list[AlertEvent]:
        cmd.check()
        a = self._alerts.get(cmd.fingerprint)
        if a is None:
            raise CommandError("unknown_alert", f"no alert with fingerprint {cmd.fingerprint!r}",
                               "fingerprint")
        if cmd.command_id and cmd.command_id in a.causes:
            return []
        if cmd.occurrence and cmd.occurrence != a.occurrence:
            raise CommandError("stale_occurrence", f"occurrence {cmd.occurrence} is over; "
                               f"the alert is now at occurrence {a.occurrence}", "occurrence")
        to = TRANSITIONS.get((a.state, cmd.action))
        if to is None:
            raise CommandError("illegal_transition", f"cannot {cmd.action} an alert that is "
                               f"{a.state}", "action")
        if cmd.action == CLAIM and a.owner:
            raise CommandError("already_claimed", f"claimed by {a.owner!r}; unclaim it first",
                               "action")
        if cmd.action == UNCLAIM and not a.owner:
            raise CommandError("not_claimed", "nobody has claimed this alert", "action")
        actor = cmd.actor.strip()
        if cmd.action == RESOLVE:
            return self._change(a, RESOLVE, actor, cmd.comment, now, cmd.command_id, None)
        return [self._emit(a, cmd.action, to, actor, cmd.comment, now, False, cmd.command_id)]

    def _change(self, a: _Alert, action: str, actor: str, comment: str, now: int, cause: str,
                info: tuple[Any, ...] | None) -> list[AlertEvent]:
        """A firing <-> resolved change, and the start of flapping if it makes one too many."""
        cfg = self.config
        since = now - cfg.flap_window_ms
        recent = len([t for t in a.changes if t > since]) + 1
        starts = not a.flapping and recent > cfg.flap_changes
        to = RESOLVED if action == RESOLVE else FIRING
        notify = not (a.flapping or starts) and (action != RESOLVE or a.notified == FIRING)
        out = [self._emit(a, action, to, actor, comment, now, notify, cause, info)]
        if starts:
            out.append(self._emit(self._alerts[a.fingerprint], FLAPPING, to, SYSTEM,
                                  f"{recent} state changes within {cfg.flap_window_ms} ms",
                                  now, False, ""))
        return out

    def tick(self, now_ms: int) -> list[AlertEvent]:
        """Deadlines that have passed: ack timeouts re-trigger, quiet flapping alerts settle,
        alerts not re-asserted by their ``ends_at`` resolve (at that time, with the reason
        NOT_REASSERTED), old resolved alerts are forgotten. Only due heap entries are
        looked at."""
        cfg, out = self.config, []
        while self._heap and self._heap[0][0] <= now_ms:
            due, _, kind, fp = heapq.heappop(self._heap)
            if self._queued.get((kind, fp)) == due:
                del self._queued[kind, fp]
            a = self._alerts.get(fp)
            if a is None:
                continue
            if kind == "ack" and a.state == ACKNOWLEDGED and a.ack_deadline == due:
                out.append(self._emit(a, RETRIGGER, FIRING, SYSTEM, "acknowledgement timed out",
                                      now_ms, not a.flapping, ""))
            elif kind == "flap" and a.flapping and a.changes[-1] + cfg.flap_quiet_ms == due:
                out.append(self._emit(a, UNFLAPPING, a.state, SYSTEM, "quiet again", now_ms,
                                      _status(a.state) != a.notified, ""))
            elif kind == "expire" and a.state != RESOLVED and a.ends_ms == due:
                out.extend(self._change(a, RESOLVE, SYSTEM, NOT_REASSERTED, due, "", None))
            elif kind == "forget" and a.state == RESOLVED and a.resolved_at is not None \
                    and a.resolved_at + cfg.resolved_ttl_ms == due:
                out.append(self._emit(a, FORGET, RESOLVED, SYSTEM, "", now_ms, False, ""))
            else:   # an entry that came before its deadline moved: queue the current one
                self._schedule(a)
        return out

    def _emit(self, a: _Alert, action: str, to: str, actor: str, comment: str, now: int,
              notify: bool, cause: str, info: tuple[Any, ...] | None = None) -> AlertEvent:
        """Build the event for ``a`` (``info``: a detector alert's fields) and evolve by it."""
        sev, kind, ent, dist, labels, alert_id, ends = info or (
            a.severity, a.kind, a.entity_id, a.district, a.labels, a.alert_id, a.ends_ms)
        if action in (FIRE, REFIRE):
            occ, seq = a.occurrence + 1, 1
            occ_id = stable_id("occurrence", a.fingerprint, occ, cause)
        else:
            occ, occ_id, seq = a.occurrence, a.occurrence_id, a.seq + 1
        ev = _new_event(stable_id("alert-event", occ_id, seq), a.fingerprint, occ, occ_id, seq,
                        a.state, to, action, actor, comment, now, sev, kind, ent, dist, labels,
                        alert_id, cause, notify, 0 if to == RESOLVED else ends)
        self._evolve(ev)
        return ev

    # --- evolving: the only code that changes state ------------------------------------
    def _evolve(self, ev: AlertEvent) -> None:
        cfg, fp = self.config, ev.fingerprint
        a = self._alerts.get(fp)
        if a is not None and (ev.occurrence, ev.seq) <= (a.occurrence, a.seq):
            return  # already absorbed (a replayed log may hold duplicates)
        if ev.action == FORGET:
            self._alerts.pop(fp, None)
            return
        if a is None:
            a = self._alerts[fp] = _Alert(fp)
        if ev.seq == 1:  # a new occurrence: ownership and acknowledgement start afresh
            a.owner = a.acked_by = ""
            a.ack_deadline = a.resolved_at = None
        a.occurrence, a.occurrence_id, a.seq, a.state = ev.occurrence, ev.occurrence_id, \
            ev.seq, ev.to_state
        a.severity, a.kind, a.entity_id, a.district, a.labels, a.alert_id, a.ends_ms = \
            ev.severity, ev.kind, ev.entity_id, ev.district, ev.labels, ev.alert_id, ev.ends_ms
        a.last = (ev.from_state, ev.action, ev.actor, ev.comment, ev.at_ms, ev.cause_id,
                  ev.notify)
        if ev.cause_id:
            a.causes[ev.cause_id] = None
            if len(a.causes) > cfg.remember_causes:
                del a.causes[next(iter(a.causes))]
        if ev.action in _CHANGES:
            a.changes = [t for t in a.changes if t > ev.at_ms - cfg.flap_window_ms][
                -cfg.flap_changes:] + [ev.at_ms]
        if ev.action in (FLAPPING, UNFLAPPING):
            a.flapping = ev.action == FLAPPING
        if ev.action in (CLAIM, UNCLAIM):
            a.owner = ev.actor if ev.action == CLAIM else ""
        if ev.action == ACK:
            a.acked_by = ev.actor
            a.ack_deadline = None if cfg.ack_timeout_ms is None else ev.at_ms + cfg.ack_timeout_ms
        elif ev.to_state != ACKNOWLEDGED:
            a.acked_by, a.ack_deadline = "", None
        if ev.to_state == RESOLVED and ev.from_state != RESOLVED:
            a.resolved_at = ev.at_ms
        if ev.notify:
            a.notified = _status(ev.to_state)
        if ev.action in _SCHEDULED:
            self._schedule(a)
        elif ev.ends_ms:   # a re-assertion moved the end
            self._queue(ev.ends_ms, "expire", fp)

    def _schedule(self, a: _Alert) -> None:
        """Queue the alert's deadlines. ``tick`` drops entries that no longer match its
        state (lazy deletion); an entry due no later than the new deadline is already
        queued, and when it comes ``tick`` queues the deadline then current. So the heap
        holds about one entry per alert and kind, not one per change (a resolve every few
        minutes would otherwise queue a day's worth of forget entries per alert)."""
        fp, cfg = a.fingerprint, self.config
        if a.state == ACKNOWLEDGED and a.ack_deadline is not None:
            self._queue(a.ack_deadline, "ack", fp)
        if a.flapping and a.changes:
            self._queue(a.changes[-1] + cfg.flap_quiet_ms, "flap", fp)
        if a.state == RESOLVED and a.resolved_at is not None:
            self._queue(a.resolved_at + cfg.resolved_ttl_ms, "forget", fp)
        elif a.ends_ms and a.state != RESOLVED:
            self._queue(a.ends_ms, "expire", fp)

    def _queue(self, due: int, kind: str, fp: str) -> None:
        queued = self._queued.get((kind, fp))
        if queued is not None and queued <= due:
            return
        self._queued[kind, fp] = due
        heapq.heappush(self._heap, (due, next(self._order), kind, fp))

    # --- reading, replay, checkpoints --------------------------------------------------
    def get(self, fingerprint: str) -> dict[str, Any] | None:
        """The state of one alert (the snapshot form), or None."""
        a = self._alerts.get(fingerprint)
        return _dump(a) if a is not None else None

    def active(self) -> list[str]:
        """Fingerprints that are firing or acknowledged."""
        return [fp for fp, a in self._alerts.items() if a.state != RESOLVED]

    def current(self) -> list[AlertEvent]:
        """The last event of every alert firing or acknowledged: published again when a
        worker starts, so whoever follows the events (the cockpit) holds every alert this
        book holds, even if the broker lost them (their ids are the same: nothing doubles)."""
        out = []
        for fp in sorted(self._alerts):
            a = self._alerts[fp]
            if a.state == RESOLVED or len(a.last) != 7:
                continue
            frm, action, actor, comment, at, cause, notify = a.last
            out.append(_new_event(stable_id("alert-event", a.occurrence_id, a.seq), fp,
                                  a.occurrence, a.occurrence_id, a.seq, frm, a.state, action,
                                  actor, comment, at, a.severity, a.kind, a.entity_id,
                                  a.district, a.labels, a.alert_id, cause, notify, a.ends_ms))
        return out

    def __len__(self) -> int:
        return len(self._alerts)

    def state_counts(self) -> dict[str, int]:
        """How many alerts the book holds in each state (every state, zeros included)."""
        counts = dict.fromkeys(STATES, 0)
        for a in self._alerts.values():
            counts[a.state] = counts.get(a.state, 0) + 1
        return counts

    @classmethod
    def from_events(cls, events: Iterable[AlertEvent | Mapping[str, Any]],
                    config: LifecycleConfig | None = None) -> AlertBook:
        """The book that emitted ``events`` (in emitted order, or per fingerprint by seq)."""
        book = cls(config)
        for ev in events:
            book._evolve(ev if isinstance(ev, AlertEvent) else AlertEvent.from_dict(ev))
        return book

    def snapshot(self) -> dict[str, Any]:
        """JSON-serialisable state (the heap is rebuilt from the deadlines on restore)."""
        return {"version": 1, "alerts": [_dump(self._alerts[fp]) for fp in sorted(self._alerts)]}

    def restore(self, state: Mapping[str, Any]) -> None:
        if not isinstance(state, Mapping) or state.get("version") != 1:
            raise ValueError("AlertBook.restore: expected a version 1 snapshot")
        self._alerts, self._heap, self._queued = {}, [], {}
        for d in state["alerts"]:
            a = _Alert(**{**d, "labels": tuple(sorted(d["labels"].items())),
                          "changes": list(d["changes"]), "causes": dict.fromkeys(d["causes"]),
                          "last": tuple(d.get("last", ()))})
            self._alerts[a.fingerprint] = a
            self._schedule(a)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AlertBook):
            return NotImplemented
        return self.config == other.config and self.snapshot() == other.snapshot()


def _dump(a: _Alert) -> dict[str, Any]:
    d = asdict(a)
    d["labels"], d["causes"] = dict(a.labels), list(a.causes)
    return d
