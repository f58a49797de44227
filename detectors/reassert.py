"""The detectors' firing findings, re-asserted on a schedule (Alertmanager's clients re-send
every firing alert so that its ``endsAt`` keeps moving; one that stops resolves).

Why: an alert carries its own end (``ends_at``); the alerting engine resolves it there with
the reason "not re-asserted" unless its detector says it still holds. A detector reports
state *changes* only, so this keeps the findings that are firing, by the unit of detector
state they belong to (a stream's limits of one source partition, a per-partition detector,
an event-level detector), and says which are due to be repeated. It is checkpointed and
restored with that unit's detector state, so the two agree after a restart, and whatever is
restored is due at once: the engine hears "still firing" right after a restore, while
alerts whose state was lost are left to expire. Pure: no I/O, no clock (``now_ms`` given).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import asdict
from typing import Any

from detectors.findings import FIRING, Finding

Key = tuple[str, str, str]   # (detector, kind, entity_id): the alert's identity


class ReassertError(ValueError):
    """A snapshot that is not one of :meth:`Reasserter.snapshot` (the reason says why)."""


class Reasserter:
    """Firing findings by unit; ``due(now)`` gives those not asserted for ``interval_ms``."""

    def __init__(self, interval_ms: int) -> None:
        if interval_ms <= 0:
            raise ValueError(f"interval_ms must be > 0, got {interval_ms!r}")
        self.interval_ms = interval_ms
        self._units: dict[str, dict[Key, Finding]] = {}
        self._unit_of: dict[Key, str] = {}
        self._asserted: OrderedDict[Key, int] = OrderedDict()   # oldest assertion first

    def __len__(self) -> int:
        return len(self._unit_of)

    def observe(self, unit: str, findings: list[Finding], now_ms: int) -> None:
        """Findings just reported (and sent) by ``unit``'s detectors, in order."""
        for f in findings:
            key = (f.detector, f.kind, f.entity_id)
            if f.status != FIRING:
                self._drop(key)
                continue
            old = self._unit_of.get(key)
            if old is not None and old != unit:
                self._drop(key)
            self._units.setdefault(unit, {})[key] = f
            self._unit_of[key] = unit
            self._asserted[key] = now_ms
            self._asserted.move_to_end(key)

    def due(self, now_ms: int) -> list[Finding]:
        """The firing findings last asserted ``interval_ms`` ago or more (restored ones at
        once), oldest first; they count as asserted at ``now_ms``."""
        out: list[Finding] = []
        limit = now_ms - self.interval_ms
        while self._asserted:
            key, at = next(iter(self._asserted.items()))
            if at > limit:
                break
            out.append(self._units[self._unit_of[key]][key])
            self._asserted[key] = now_ms
            self._asserted.move_to_end(key)
        return out

    def active(self, unit: str) -> list[Finding]:
        return list(self._units.get(unit, {}).values())

    def forget(self, unit: str) -> None:
        """A unit whose state went elsewhere (a revoked partition)."""
        for key in list(self._units.get(unit, {})):
            self._drop(key)

    def snapshot(self, unit: str) -> list[dict[str, Any]]:
        """The unit's firing findings (JSON-serialisable), for its checkpoint."""
        return [asdict(f) for f in self._units.get(unit, {}).values()]

    def restore(self, unit: str, state: Any) -> None:
        """Inverse of :meth:`snapshot`; the restored findings are due at once."""
        if not isinstance(state, list):
            raise ReassertError(f"{unit}: a snapshot is a list, not {type(state).__name__}")
        self.forget(unit)
        restored: list[Finding] = []
        for d in state:
            try:
                f = Finding(**{**d, "evidence": tuple(d.get("evidence", ()))})
            except TypeError as exc:
                raise ReassertError(f"{unit}: not a finding: {exc}") from exc
            restored.append(f)
        self.observe(unit, restored, 0)
        for f in reversed(restored):
            self._asserted.move_to_end((f.detector, f.kind, f.entity_id), last=False)

    def _drop(self, key: Key) -> None:
        unit = self._unit_of.pop(key, None)
        if unit is not None:
            held = self._units[unit]
            held.pop(key, None)
            if not held:
                del self._units[unit]
        self._asserted.pop(key, None)
