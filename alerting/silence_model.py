"""One silence: which alerts are muted, over what span, by whom and why; and how it ended.

A silence is matchers over a span of time, with who and why — both required, since every
muted alert is shown with them. Kept apart so that maintenance windows
(``alerting.maintenance``) and the Silencer (``alerting.silencer``) share it, and the
check of who and why, without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from alerting.labels import Matcher, render
from alerting.matchers import restored_matcher
from schemas.records import stable_id

# why a silence ended: its end time came, an operator expired it, everything it muted
# resolved (until_resolved), it muted nothing for expire_unused_ms, or a regex of it that a
# checkpoint or the silence log held is refused now (RE2, the length bound: it muted nothing
# since it was restored, and is ended at the first tick)
REFUSED_PATTERN = "refused_pattern"
END_REASONS = ("expired", "expired_by_command", "resolved", "unused", REFUSED_PATTERN)


class SilenceError(ValueError):
    """A silence or window that cannot be used; ``field`` names the part at fault."""

    def __init__(self, field: str, reason: str) -> None:
        self.field, self.reason = field, reason
        super().__init__(f"{field}: {reason}" if field else reason)


@dataclass(frozen=True)
class Silence:
    id: str
    matchers: tuple[Matcher, ...]
    starts_ms: int
    ends_ms: int | None         # None: until expired, resolved (until_resolved) or unused
    author: str
    reason: str
    until_resolved: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise SilenceError("id", "required")
        _check_who_why(self.matchers, self.author, self.reason)
        if self.ends_ms is not None and self.ends_ms < self.starts_ms:
            raise SilenceError("ends_ms", f"{self.ends_ms} is before starts_ms {self.starts_ms}")

    @property
    def refused(self) -> bool:
        """Whether a matcher of it is a regex refused since it was made (it mutes nothing)."""
        return any(m.refused for m in self.matchers)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "matchers": [[m.name, m.op, m.value] for m in self.matchers],
                "starts_ms": self.starts_ms, "ends_ms": self.ends_ms, "author": self.author,
                "reason": self.reason, "until_resolved": self.until_resolved}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Silence":
        return cls(id=d["id"], matchers=tuple(restored_matcher(*m) for m in d["matchers"]),
                   starts_ms=int(d["starts_ms"]), ends_ms=d["ends_ms"], author=d["author"],
                   reason=d["reason"], until_resolved=bool(d.get("until_resolved", False)))


def silence_id(author: str, matchers: Sequence[Matcher], starts_ms: int) -> str:
    """A deterministic id, so a silence command replayed twice creates one silence. Made of
    the matchers' rendered form, which tells ``a=~"x"`` from ``a="~x"``."""
    return "s-" + stable_id("silence", author, starts_ms, *sorted(map(render, matchers)))


def _check_who_why(matchers: Sequence[Matcher], author: Any, reason: Any) -> None:
    if not matchers:
        raise SilenceError("matchers", "required: without matchers it would mute every alert")
    for name, v in (("author", author), ("reason", reason)):
        if not isinstance(v, str) or not v.strip():
            raise SilenceError(name, "required: who muted alerts, and why, is shown with "
                                     "every alert it mutes")


@dataclass(frozen=True)
class SilenceEnded:
    silence: Silence            # ends_ms is when it ended
    reason: str                 # one of END_REASONS
    still_firing: tuple[str, ...]  # fingerprints it muted that are firing and now unmuted
