"""The Silencer: every silence not yet ended, what each mutes, and the recurring windows.

Muting never drops anything: :meth:`Silencer.observe` answers which silences mute an alert
state change (a resolve included), so the lifecycle records it as ``muted_by``; and when a
silence ends, :meth:`Silencer.ended` says which of the alerts it muted are still firing
(and not muted by another silence), so the pipeline re-notifies them at once
(``Grouper.renotify``).

Beyond Alertmanager: ``until_resolved`` silences end when every alert they muted has
resolved; silences that muted nothing for ``expire_unused_ms`` expire; recurring windows
(``alerting.maintenance``) become ordinary silences for each occurrence. Equality matchers
are indexed by (label, value), so 1,000 silences cost a few dict looks per alert.
"""

from __future__ import annotations

import heapq
from dataclasses import replace
from typing import Any, Callable, Mapping, Sequence

from alerting.labels import matches_all
from alerting.maintenance import MaintenanceWindow, WindowSchedule
from alerting.silence_index import SilenceIndex
from alerting.silence_model import REFUSED_PATTERN, Silence, SilenceEnded, SilenceError

FIRING, RESOLVED = "firing", "resolved"
WINDOW_PREFIX = "maintenance:"  # ids of window occurrences; they never expire unused


class Silencer:
    """Every silence not yet ended, what each mutes, and the recurring windows."""

    def __init__(self, windows: Sequence[MaintenanceWindow] = (),
                 expire_unused_ms: int | None = None) -> None:
        self.windows, self.expire_unused_ms = tuple(windows), expire_unused_ms
        self._reset()

    def _reset(self) -> None:
        self._silences: dict[str, Silence] = {}
        self._index = SilenceIndex()
        # silence -> the firing fingerprints it mutes; a key once the silence has started
        self._tracked: dict[str, set[str]] = {}
        self._by_fp: dict[str, set[str]] = {}
        self._idle_since: dict[str, int] = {}       # silence -> since when it mutes nothing
        self._end_reason: dict[str, str] = {}
        self._firing: dict[str, dict[str, str]] = {}
        self._starts: list[tuple[int, str]] = []     # heaps of (time, silence id); entries
        self._ends: list[tuple[int, str]] = []       # are checked when popped (lazy delete)
        self._idle: list[tuple[int, str]] = []
        self._idle_queued: dict[str, int] = {}   # silence -> earliest idle deadline queued
        self._windows = WindowSchedule(self.windows)
        self._opened_windows: list[Silence] = []   # until taken by opened_windows()
        self._refused: set[str] = set()   # restored with a regex refused now: end them

    # -- commands ------------------------------------------------------------------------
    def add(self, silence: Silence, now_ms: int) -> None:
        self._advance(now_ms)
        if silence.id.startswith(WINDOW_PREFIX):
            raise SilenceError("id", f"{WINDOW_PREFIX!r} ids are the maintenance windows'")
        if silence.id in self._silences:
            raise SilenceError("id", f"silence {silence.id!r} exists: extend or expire it")
        if silence.ends_ms is not None and silence.ends_ms <= now_ms:
            raise SilenceError("ends_ms", "already over")
        self._insert(silence, now_ms)

    def expire(self, silence_id: str, now_ms: int) -> Silence:
        """End a silence now (reported by the next :meth:`ended`)."""
        s = self._current(silence_id, now_ms)
        start = min(s.starts_ms, now_ms)  # a silence not yet started never starts
        return self._set_end(replace(s, starts_ms=start, ends_ms=now_ms), "expired_by_command")

    def extend(self, silence_id: str, ends_ms: int | None, now_ms: int) -> Silence:
        """Move a silence's end (``None``: open-ended); it counts as used from now."""
        s = self._current(silence_id, now_ms)
        if ends_ms is not None and ends_ms <= now_ms:
            raise SilenceError("ends_ms", "must be later than now (use expire to end it)")
        self._end_reason.pop(silence_id, None)
        if silence_id in self._idle_since:
            self._set_idle(silence_id, now_ms)
        return self._set_end(replace(s, ends_ms=ends_ms), "")

    def get(self, silence_id: str) -> Silence | None:
        return self._silences.get(silence_id)

    def silences(self) -> list[Silence]:
        """Every silence not yet reported by :meth:`ended`, by start."""
        return sorted(self._silences.values(), key=lambda s: (s.starts_ms, s.id))

    # -- alerts --------------------------------------------------------------------------
    def mutes(self, labels: Mapping[str, str], now_ms: int) -> tuple[str, ...]:
        """Ids of the silences muting an alert with ``labels`` at ``now_ms``."""
        self._advance(now_ms)
        return self._matching(labels, now_ms)

    def muter(self, now_ms: int) -> Callable[[Mapping[str, str]], tuple[str, ...]]:
        """``mutes(labels, now_ms)`` for many alerts at one time (advanced once)."""
        self._advance(now_ms)
        return lambda labels: self._matching(labels, now_ms)

    def observe(self, labels: Mapping[str, str], fingerprint: str, status: str,
                now_ms: int) -> tuple[str, ...]:
        """Record an alert state change; answers which silences mute it (its ``muted_by``:
        a resolve that ends an until_resolved silence is still muted by it)."""
        if status not in (FIRING, RESOLVED):
            raise SilenceError("status", f"{status!r} is not 'firing' or 'resolved'")
        self._advance(now_ms)
        ids = self._matching(labels, now_ms)
        if not ids and fingerprint not in self._by_fp:   # (most alerts: nothing to track)
            if status == FIRING:
                self._firing[fingerprint] = dict(labels)
            else:
                self._firing.pop(fingerprint, None)
            return ids
        old = set(self._by_fp.get(fingerprint, ()))
        if status == FIRING:
            self._firing[fingerprint] = dict(labels)
            new = {i for i in ids if i in self._tracked}
            for i in old - new:
                self._untrack(i, fingerprint, now_ms, resolved=False)
            for i in new - old:
                self._track(i, fingerprint)
        else:
            self._firing.pop(fingerprint, None)
            for i in old:
                self._untrack(i, fingerprint, now_ms, resolved=True)
        return ids

    def ended(self, now_ms: int) -> list[SilenceEnded]:
        """The silences that ended by ``now_ms`` (each reported once, then forgotten)."""
        self._advance(now_ms)
        done: dict[str, tuple[int, str]] = {}
        for i in sorted(self._refused):   # (muting nothing since restored)
            was = self._silences[i]
            self._silences[i] = replace(was, starts_ms=min(was.starts_ms, now_ms),
                                        ends_ms=now_ms)
            done[i] = (now_ms, REFUSED_PATTERN)
        while self._ends and self._ends[0][0] <= now_ms:
            _, i = heapq.heappop(self._ends)
            s = self._silences.get(i)
            if s is not None and s.ends_ms is not None and s.ends_ms <= now_ms:
                done.setdefault(i, (s.ends_ms, self._end_reason.get(i, "expired")))
        while self._idle and self._idle[0][0] <= now_ms:
            t, i = heapq.heappop(self._idle)
            if self._idle_queued.get(i) == t:
                del self._idle_queued[i]
            since = self._idle_since.get(i)
            if since is not None and since + (self.expire_unused_ms or 0) == t:
                done.setdefault(i, (t, "unused"))
            elif since is not None:   # idle again since: queue the deadline now current
                self._set_idle(i, since)
        ended = [(replace(self._silences[i], ends_ms=t), why, self._tracked.get(i, set()))
                 for i, (t, why) in sorted(done.items(), key=lambda kv: (kv[1][0], kv[0]))]
        for s, _, _ in ended:
            self._remove(s.id)
        return [SilenceEnded(s, why, tuple(sorted(
            fp for fp in muted if fp in self._firing and
            not self._matching(self._firing[fp], now_ms)))) for s, why, muted in ended]

    def opened_windows(self, now_ms: int) -> list[Silence]:
        """The maintenance-window silences begun since the last call (each once)."""
        self._advance(now_ms)
        out, self._opened_windows = self._opened_windows, []
        return out

    def next_change_ms(self) -> int | None:
        """The earliest time a silence may start or end (for the caller's timer)."""
        heads = [h[0][0] for h in (self._starts, self._ends, self._idle) if h]
        heads += self._windows.next_ms()
        return min(heads) if heads else None

    # -- internals -----------------------------------------------------------------------
    def _advance(self, now_ms: int) -> None:
        """Materialise window occurrences and start silences whose time has come."""
        for w, start, end in self._windows.due(now_ms):
            sid = f"{WINDOW_PREFIX}{w.name}:{start}"
            if sid not in self._silences:
                window = Silence(sid, w.matchers, start, end, w.author, w.reason)
                self._insert(window, now_ms)
                self._opened_windows.append(window)
        while self._starts and self._starts[0][0] <= now_ms:
            t, i = heapq.heappop(self._starts)
            s = self._silences.get(i)
            if s is not None and s.starts_ms == t and i not in self._tracked:
                self._start(i)  # (expiring a silence not yet started moves its start)

    def _insert(self, s: Silence, now_ms: int) -> None:
        self._store(s)
        if s.starts_ms <= now_ms:
            self._start(s.id)
        else:
            heapq.heappush(self._starts, (s.starts_ms, s.id))

    def _store(self, s: Silence) -> None:
        self._silences[s.id] = s
        if s.refused:
            self._refused.add(s.id)
        self._index.add(s)
        if s.ends_ms is not None:
            heapq.heappush(self._ends, (s.ends_ms, s.id))

    def _start(self, i: str) -> None:
        s = self._silences[i]
        self._tracked[i] = set()
        for fp, labels in self._firing.items():
            if matches_all(s.matchers, labels):
                self._track(i, fp)
        if not self._tracked[i]:
            self._set_idle(i, s.starts_ms)

    def _matching(self, labels: Mapping[str, str], now_ms: int) -> tuple[str, ...]:
        found = self._index.candidates(labels)
        if found is None:
            return ()   # (most alerts: no set made)
        return tuple(sorted(i for i in found if self._live(i, now_ms)
                            and matches_all(self._silences[i].matchers, labels)))

    def _live(self, i: str, now_ms: int) -> bool:
        s = self._silences[i]
        if now_ms < s.starts_ms or (s.ends_ms is not None and now_ms >= s.ends_ms):
            return False
        since = self._idle_since.get(i)
        return since is None or self.expire_unused_ms is None or \
            now_ms < since + self.expire_unused_ms

    def _track(self, i: str, fp: str) -> None:
        self._tracked[i].add(fp)
        self._by_fp.setdefault(fp, set()).add(i)
        self._idle_since.pop(i, None)

    def _untrack(self, i: str, fp: str, now_ms: int, *, resolved: bool) -> None:
        self._tracked[i].discard(fp)
        self._by_fp[fp].discard(i)
        if not self._by_fp[fp]:
            del self._by_fp[fp]
        if self._tracked[i]:
            return
        s = self._silences[i]
        if resolved and s.until_resolved:
            self._set_end(replace(s, ends_ms=now_ms), "resolved")
        else:
            self._set_idle(i, now_ms)

    def _set_idle(self, i: str, since_ms: int) -> None:
        if self.expire_unused_ms is not None and not i.startswith(WINDOW_PREFIX):
            self._idle_since[i] = since_ms
            due = since_ms + self.expire_unused_ms
            queued = self._idle_queued.get(i)
            if queued is None or queued > due:   # (an earlier entry re-queues this one)
                self._idle_queued[i] = due
                heapq.heappush(self._idle, (due, i))

    def _set_end(self, s: Silence, reason: str) -> Silence:
        self._silences[s.id] = s
        if reason:
            self._end_reason[s.id] = reason
        if s.ends_ms is not None:
            heapq.heappush(self._ends, (s.ends_ms, s.id))
        return s

    def _current(self, silence_id: str, now_ms: int) -> Silence:
        self._advance(now_ms)
        s = self._silences.get(silence_id)
        if s is None or (s.starts_ms <= now_ms and not self._live(silence_id, now_ms)):
            raise SilenceError("id", f"no current silence {silence_id!r}")
        return s

    def _remove(self, i: str) -> None:
        self._index.remove(self._silences.pop(i))
        self._refused.discard(i)
        for fp in self._tracked.pop(i, ()):
            self._by_fp[fp].discard(i)
            if not self._by_fp[fp]:
                del self._by_fp[fp]
        self._idle_since.pop(i, None)
        self._idle_queued.pop(i, None)
        self._end_reason.pop(i, None)

    # -- checkpoint ----------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """JSON-serialisable state (the windows come from the configuration)."""
        return {"version": 1, "silences": [s.to_dict() for s in self.silences()],
                "tracked": {i: sorted(f) for i, f in self._tracked.items()},
                "idle_since": dict(self._idle_since), "end_reason": dict(self._end_reason),
                "firing": {fp: dict(lb) for fp, lb in self._firing.items()},
                "window_last": dict(self._windows.last)}

    def restore(self, state: Mapping[str, Any]) -> None:
        """Replace the state with a :meth:`snapshot`."""
        self._reset()
        self._firing = {fp: dict(lb) for fp, lb in state.get("firing", {}).items()}
        self._windows.last = {k: int(v) for k, v in state.get("window_last", {}).items()}
        tracked = state.get("tracked", {})
        for d in state.get("silences", ()):
            s = Silence.from_dict(d)
            self._store(s)
            if s.id in tracked:  # started
                self._tracked[s.id] = set()
                for fp in tracked[s.id]:
                    self._track(s.id, fp)
            else:
                heapq.heappush(self._starts, (s.starts_ms, s.id))
        for i, since in state.get("idle_since", {}).items():
            if i in self._silences:
                self._set_idle(i, int(since))
        self._end_reason = {i: r for i, r in state.get("end_reason", {}).items()
                            if i in self._silences}
