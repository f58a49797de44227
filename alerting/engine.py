"""The alerting pipeline, assembled as data in one function (Alertmanager's ``pipeline``).

    detector alert ─► lifecycle (AlertBook) ─► AlertEvents ─┬► silences / inhibition (who is muted)
                                                            ├► grouping (routing tree) ─► group flushes
                                                            └► escalation ─────────────► pages
                   └► incidents (Correlator) ─► IncidentEvents
    operator command ─► lifecycle | silences | incidents (by action)
    tick(now) ─► ack timeouts, flapping, alerts not re-asserted by their ends_at resolving
                 (their incidents hear it too), mutes ending (re-notify), due groups, due
                 pages, incidents resolving; notifications go to the Outbox (retry, dedup)

Pure: no I/O, no clock. Time is what the caller passes: a detector alert is applied at its
own ``detected_at`` (never later than ``now``), so redelivering the same alerts after a
restart yields the same events and notification keys; ticks use ``now``. Every input that
cannot be applied comes back as a :class:`Rejected` with a code, never an exception: one
whose times lie outside the accepted window too (``alerting.window``). A command is applied
once per ``command_id`` (``alerting.command_ids``): a resend is answered as a duplicate.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Mapping, Sequence

from alerting.command_ids import CommandIds, command_id
from alerting.config import AlertingConfig, ConfigError
from alerting.engine_output import Output, Rejected
from alerting.enrich import enrich
from alerting.escalation import Escalator, parse_escalation, severity_policy
from alerting.grouping import Grouper
from alerting.incident_model import IncidentError, IncidentEvent, grow_escalation, \
    member_from_alert
from alerting.incidents import Correlator
from alerting.inhibit import Inhibitor
from alerting.intake import admit, check_alert, check_command_id, check_dispatch, \
    check_matchers, text_of
from alerting.intake import command_text as _text, command_time as _time
from alerting.labels import LabelError, parse_matchers
from alerting.matchers import check_silence_matchers
from alerting.alert_model import alert_fields, check_id
from alerting.lifecycle import COMMANDS, FIRE, NOT_REASSERTED, REFIRE, RESOLVE, RESOLVED, \
    SYSTEM, UNFLAPPING, UPDATE, AlertBook, AlertEvent, CommandError, LifecycleConfig
from alerting.notify import Outbox, for_group, for_page
from alerting.regex import REGEX_CODES
from alerting.routing import Route
from alerting.silence_log import silence_event
from alerting.silences import Silence, SilenceError, Silencer, silence_id
from alerting.window import TimeWindow
from city.profile import CityProfile
from schemas.errors import ValidationError
from schemas.validate import parse_event_time

SILENCE_ACTIONS = ("silence", "expire_silence", "extend_silence")
INCIDENT_ACTIONS = ("merge_incidents", "split_incident", "link_call", "add_note",
                    "resolve_incident")
ACTIONS = COMMANDS + SILENCE_ACTIONS + INCIDENT_ACTIONS
# the lifecycle actions that change what receivers should hear (grouping sees these; a
# re-trigger after an ack timeout is escalation's to page, restarting at level 1)
_GROUPED = (FIRE, REFIRE, RESOLVE, UNFLAPPING)


class Engine:
    """Alerts and commands in, events and notifications out; state snapshots to JSON."""

    def __init__(self, config: AlertingConfig, profile: CityProfile | None = None, *,
                 lifecycle: LifecycleConfig | None = None, outbox: Outbox | None = None,
                 window: TimeWindow | None = None) -> None:
        self.config = config
        self.window = window or TimeWindow()   # event times accepted (alerting.window)
        self.command_ids = CommandIds()        # applied commands, so a resend is a no-op
        self.book = AlertBook(lifecycle)
        self.silencer = Silencer(config.maintenance_windows, config.silence_expire_unused_ms)
        self.inhibitor = Inhibitor(config.inhibit_rules)
        self.grouper = Grouper(Route.build(config.route))
        escalation = parse_escalation(config.escalation)
        self.escalator = Escalator(escalation)
        self.correlator = Correlator(
            escalation=severity_policy(escalation.severity) if escalation.severity else
            grow_escalation,
            enricher=partial(enrich, profile=profile) if profile is not None else None)
        self.outbox = outbox or Outbox()
        self.counters: dict[str, int] = {}

    # -- inputs -----------------------------------------------------------------------------
    # Each input is admitted (alerting.intake: a JSON object, not too deep, clean ids) and
    # fully checked before anything changes; a refusal is a Rejected with a code. A bug an
    # input sets off (any other exception) refuses that input alone (code ``internal``,
    # counted in ``internal_errors``); what changed before it stays, and the events of
    # those changes are still in the Output (the logs agree with the state).
    def alerts(self, messages: Sequence[Mapping[str, Any]], now_ms: int) -> Output:
        """Detector alert messages (``schemas.records.make_alert``), in arrival order."""
        out = Output()
        for i, msg in enumerate(messages):
            try:
                self._alert(msg, now_ms, out)
            except CommandError as exc:
                out.rejected.append(Rejected(text_of(msg, "alert_id"), exc.code, exc.field,
                                             exc.reason, i))
            except IncidentError as bad:   # (not ``exc``: see command())
                self._count("incident_rejects")
                out.rejected.append(Rejected(text_of(msg, "alert_id"), "bad_alert", "",
                                             str(bad)[:500], i))
            except Exception as bug:  # noqa: BLE001 - a bug: this input only
                out.rejected.append(self._internal(text_of(msg, "alert_id"), bug, i))
        return out

    def _alert(self, msg: Any, now_ms: int, out: Output) -> None:
        check_alert(admit(msg, "bad_alert", "an alert"))
        self.window.check_alert(msg, now_ms)
        alert_fields(msg)             # what the book will refuse (naming the field) and
        m = member_from_alert(msg)    # what the correlator will: refused before either changes
        at = _alert_time(msg, now_ms)
        events = self.book.apply(msg, at)
        self._after(events, at, out)
        out.incident_events += self.correlator.observe(msg, at, m)

    def dispatch(self, records: Sequence[Mapping[str, Any]], now_ms: int) -> Output:
        """120/119 calls, 119 incidents and unit status changes (the ``dispatch_events``
        topic's ``{"stream", "event"}`` records): linked to incidents, on their timelines.
        A record that is not one is refused with its event id."""
        out = Output()
        for i, rec in enumerate(records):
            ev = rec.get("event") if isinstance(rec, Mapping) else None
            eid = text_of(ev, "event_id")
            try:
                admit(rec, "bad_dispatch", "a dispatch record")
                if not isinstance(ev, Mapping) or not isinstance(rec.get("stream"), str):
                    raise IncidentError("a dispatch record is {\"stream\": str, \"event\": {...}}")
                check_dispatch(ev)
                self.window.check_dispatch(ev, now_ms)
                out.incident_events += self.correlator.observe_dispatch(ev, rec["stream"],
                                                                        now_ms)
            except CommandError as refused:
                out.rejected.append(Rejected(eid, refused.code, refused.field, refused.reason,
                                             i))
            except IncidentError as exc:
                self._count("dispatch_rejects")
                out.rejected.append(Rejected(eid, "bad_dispatch", "", str(exc)[:500], i))
            except Exception as bug:  # noqa: BLE001 - a bug: this input only
                out.rejected.append(self._internal(eid, bug, i))
        return out

    def command(self, cmd: Mapping[str, Any], now_ms: int) -> Output:
        """One operator command (the ``commands`` topic's wire form)."""
        out = Output()
        cid = ""
        try:
            admitted = admit(cmd, "bad_command", "a command")
            cid = check_command_id(admitted)   # its characters checked; "" when absent
            if self.command_ids.seen(command_id(admitted), admitted):   # a resend: not redone
                out.applied.append(cid)
                out.duplicates.append(cid)
                return out
            action = cmd.get("action")
            if action not in ACTIONS:
                raise CommandError("unknown_action", f"{action!r} is not one of {ACTIONS}"[:300],
                                   "action")
            if action in COMMANDS:
                events = self.book.apply({k: cmd[k] for k in (
                    "action", "fingerprint", "actor", "comment", "command_id", "occurrence")
                    if k in cmd}, now_ms)
                self._after(events, now_ms, out)
            elif action in SILENCE_ACTIONS:
                out.silence_events.append(self._silence(cmd, now_ms))
            else:
                out.incident_events += self._incident(cmd, now_ms)
        except CommandError as exc:
            out.rejected.append(Rejected(cid, exc.code, exc.field, exc.reason))
            return out
        except (IncidentError, SilenceError, LabelError, ConfigError) as refused:
            # (its own name: compiled code types a name by its first except clause)
            code = "incident_refused" if isinstance(refused, IncidentError) \
                else "silence_refused"
            out.rejected.append(Rejected(cid, code, getattr(refused, "field", "") or "",
                                         str(refused)[:500]))
            return out
        except Exception as bug:  # noqa: BLE001 - a bug: this input only
            out.rejected.append(self._internal(cid, bug))
            return out
        out.applied.append(cid)
        self.command_ids.remember(cid, cmd, now_ms)
        return out

    def _internal(self, ident: str, bug: Exception, index: int = -1) -> Rejected:
        self._count("internal_errors")
        try:
            why = f"{type(bug).__name__}: {bug}"[:500]
        except Exception:  # noqa: BLE001 - an exception that cannot say what it is
            why = type(bug).__name__
        return Rejected(ident, "internal", "", why, index)

    def tick(self, now_ms: int) -> Output:
        """What time alone causes; call it every second or so (and at next_due_ms())."""
        out = Output()
        self._after(self.book.tick(now_ms), now_ms, out)
        for window in self.silencer.opened_windows(now_ms):
            out.silence_events.append(silence_event(window, "created", window.starts_ms,
                                                    SYSTEM))
        for ended in self.silencer.ended(now_ms):
            self.grouper.renotify(ended.still_firing, now_ms)
            out.silence_events.append(silence_event(ended.silence, "ended",
                                                    ended.silence.ends_ms or now_ms, SYSTEM,
                                                    ended.reason))
        for flush in self.grouper.due(now_ms, muted=self._muted(now_ms)):
            out.offered += self.outbox.offer(for_group(flush), now_ms)
        for page in self.escalator.tick(now_ms):
            out.offered += self.page(page, now_ms)
        out.incident_events += self.correlator.tick(now_ms)
        return out

    # -- wiring -----------------------------------------------------------------------------
    def _after(self, events: list[AlertEvent], now_ms: int, out: Output) -> None:
        """Lifecycle events -> mute bookkeeping, grouping and escalation. (The events are
        in ``out`` first: the book made them, whatever happens after.)"""
        out.alert_events += events
        for ev in events:
            labels = dict(ev.labels)
            status = "resolved" if ev.to_state == RESOLVED else "firing"
            self.silencer.observe(labels, ev.fingerprint, status, now_ms)
            self.inhibitor.observe(labels, ev.fingerprint, status)
            if (ev.action in _GROUPED and (ev.notify or status == "resolved")) or \
                    (ev.action == UPDATE and ev.notify):   # a severity rise: new routes
                self.grouper.add(labels, ev.fingerprint, status, now_ms)
            for page in self.escalator.observe(ev, labels):
                out.offered += self.page(page, now_ms)
            if ev.action == RESOLVE and ev.comment == NOT_REASSERTED and ev.actor == SYSTEM:
                # no detector message says so: the incident hears it from the lifecycle
                out.incident_events += self.correlator.expire(ev.fingerprint, ev.event_id,
                                                              ev.at_ms)

    def page(self, page: Any, now_ms: int) -> int:
        """Offer an escalation page to its targets unless it is muted; how many were new."""
        labels = dict(page.labels)
        if self.inhibitor.mutes(labels, page.fingerprint) or self.silencer.mutes(labels, now_ms):
            self._count("pages_muted")
            return 0
        return sum(self.outbox.offer(for_page(page, t, labels.get("severity", "")), now_ms)
                   for t in page.targets)

    def _muted(self, now_ms: int) -> Any:
        inhibited, silenced = self.inhibitor.mutes, self.silencer.muter(now_ms)

        def muted(labels: Mapping[str, str], fp: str) -> bool:
            return inhibited(labels, fp) or bool(silenced(labels))
        return muted

    def _silence(self, cmd: Mapping[str, Any], now_ms: int) -> dict[str, Any]:
        actor = _text(cmd, "actor", required=True)
        if cmd["action"] == "expire_silence":
            s = self.silencer.expire(_text(cmd, "silence_id", required=True), now_ms)
            return silence_event(s, "expired", now_ms, actor)
        if cmd["action"] == "extend_silence":   # a new end (None: until expired)
            s = self.silencer.extend(_text(cmd, "silence_id", required=True),
                                     self._ends(cmd, now_ms), now_ms)
            return silence_event(s, "extended", now_ms, actor)
        try:
            matchers = parse_matchers(cmd.get("matchers"))
        except LabelError as bad_rx:   # (its own name: see command())
            if bad_rx.code not in REGEX_CODES:
                raise
            raise CommandError(bad_rx.code, bad_rx.reason, "matchers") from bad_rx
        check_matchers(matchers)
        if not matchers:
            raise CommandError("bad_command", "a silence needs at least one matcher",
                               "matchers")
        try:
            check_silence_matchers(matchers)   # (the cockpit asks the same)
        except LabelError as everything:
            raise CommandError(everything.code, everything.reason, "matchers") from everything
        s = Silence(silence_id(actor, matchers, now_ms), matchers, now_ms,
                    self._ends(cmd, now_ms), actor,
                    _text(cmd, "reason", required=True), bool(cmd.get("until_resolved", False)))
        self.silencer.add(s, now_ms)
        return silence_event(s, "created", now_ms, actor)

    def _ends(self, cmd: Mapping[str, Any], now_ms: int) -> int | None:
        """A silence command's ``ends_at`` (None: until expired), within the window."""
        ends = cmd.get("ends_at")
        if ends in (None, ""):
            return None
        ms = _time(ends, "ends_at")
        self.window.check(ms, now_ms, "ends_at", deadline=True)
        return ms

    def _incident(self, cmd: Mapping[str, Any], now_ms: int) -> list[IncidentEvent]:
        c, actor, action = self.correlator, _text(cmd, "actor", required=True), cmd["action"]
        if action == "merge_incidents":
            return c.merge(_text(cmd, "target", True), _text(cmd, "source", True), actor=actor,
                           at_ms=now_ms)
        if action == "split_incident":
            fps = cmd.get("fingerprints")
            if not isinstance(fps, list) or not all(isinstance(f, str) for f in fps):
                raise CommandError("bad_command", "a list of fingerprints", "fingerprints")
            for f in fps:
                check_id(f, "fingerprints")
            return c.split(_text(cmd, "incident_id", True), fps, actor=actor, at_ms=now_ms)
        if action == "link_call":
            return c.link_call(_text(cmd, "incident_id", True), _text(cmd, "call_id", True),
                               stream=_text(cmd, "stream", True), actor=actor, at_ms=now_ms)
        if action == "add_note":
            return c.add_note(_text(cmd, "incident_id", True), _text(cmd, "text", True),
                              actor=actor, at_ms=now_ms)
        return c.resolve(_text(cmd, "incident_id", True), actor=actor, at_ms=now_ms,
                         reason=_text(cmd, "comment") or "closed by operator")

    def _count(self, key: str) -> None:
        self.counters[key] = self.counters.get(key, 0) + 1

    def next_due_ms(self) -> int | None:
        dues = [d for d in (self.grouper.next_due_ms(), self.silencer.next_change_ms(),
                            self.outbox.next_due_ms()) if d is not None]
        return min(dues) if dues else None

    # -- checkpoints ------------------------------------------------------------------------
    PARTS = ("book", "silencer", "inhibitor", "grouper", "escalator", "correlator", "outbox")

    def snapshot(self) -> dict[str, Any]:
        return {"version": 1, **{p: getattr(self, p).snapshot() for p in self.PARTS},
                "command_ids": self.command_ids.snapshot()}

    def restore(self, state: Mapping[str, Any]) -> None:
        if not isinstance(state, Mapping) or state.get("version") != 1:
            raise ValueError("Engine.restore: expected a version 1 snapshot")
        for p in self.PARTS:
            getattr(self, p).restore(state[p])
        self.command_ids.restore(state.get("command_ids"))   # (absent from older ones)


def _alert_time(msg: Any, now_ms: int) -> int:
    """When the detector decided (``detected_at``), never later than ``now``."""
    try:
        return min(parse_event_time(msg.get("detected_at")), now_ms)
    except (ValidationError, AttributeError, TypeError):
        return now_ms
