"""The routing tree: which agency (receiver) an alert goes to, and how it is grouped there.

Alertmanager's semantics, so operators can reason about it the same way: the walk is
depth-first; the first matching child wins unless it has ``continue: true``; if no child
matches, the node itself is the result. Children inherit the receiver, ``group_by`` and
timers they leave unset. One addition: a receiver may be a template of labels
(``district_duty:{district}``); its placeholders act as implicit ``label=~.+`` matchers, so
an alert without that label falls through to the next sibling instead of reaching a
receiver named ``district_duty:``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterator, Mapping, TypeVar

from alerting.config import GROUP_ALL, RouteConfig, RoutingError, receiver_fields
from alerting.labels import Matcher, matches_all

__all__ = ["Route", "RoutingError", "GROUP_ALL", "DEFAULT_GROUP_WAIT_MS",
           "DEFAULT_GROUP_INTERVAL_MS", "DEFAULT_REPEAT_INTERVAL_MS"]

# Alertmanager's documented defaults, used when the root route leaves a timer unset.
DEFAULT_GROUP_WAIT_MS = 30_000
DEFAULT_GROUP_INTERVAL_MS = 5 * 60_000
DEFAULT_REPEAT_INTERVAL_MS = 4 * 3_600_000
_T = TypeVar("_T")


def _or(own: _T | None, inherited: _T) -> _T:
    return inherited if own is None else own


@dataclass(frozen=True)
class Route:
    """A resolved route: every value set (inherited where the configuration left it out)."""

    path: str                       # where it is in the configuration: its stable identity
    receiver: str                   # may hold {label} placeholders
    matchers: tuple[Matcher, ...]
    group_by: tuple[str, ...]       # ('...',): every label; (): one group for the route
    group_wait_ms: int
    group_interval_ms: int
    repeat_interval_ms: int
    continue_: bool = False
    routes: tuple["Route", ...] = ()
    receiver_labels: tuple[str, ...] = ()   # the template's placeholders

    @classmethod
    def build(cls, cfg: RouteConfig, parent: "Route | None" = None) -> "Route":
        """The runtime tree from its configuration, resolving what children inherit."""
        if parent is None:
            if cfg.receiver is None:
                raise RoutingError(f"{cfg.path}.receiver", "required on the root route")
            parent = cls(path="", receiver=cfg.receiver, matchers=(), group_by=(),
                         group_wait_ms=DEFAULT_GROUP_WAIT_MS,
                         group_interval_ms=DEFAULT_GROUP_INTERVAL_MS,
                         repeat_interval_ms=DEFAULT_REPEAT_INTERVAL_MS)
        receiver = cfg.receiver if cfg.receiver is not None else parent.receiver
        own = cls(
            path=cfg.path, receiver=receiver, matchers=cfg.matchers,
            group_by=_or(cfg.group_by, parent.group_by),
            group_wait_ms=_or(cfg.group_wait_ms, parent.group_wait_ms),
            group_interval_ms=_or(cfg.group_interval_ms, parent.group_interval_ms),
            repeat_interval_ms=_or(cfg.repeat_interval_ms, parent.repeat_interval_ms),
            continue_=cfg.continue_,
            receiver_labels=receiver_fields(receiver, f"{cfg.path}.receiver"))
        if not cfg.routes:
            return own
        # children inherit from ``own``; a frozen node is rebuilt with them attached
        return replace(own, routes=tuple(cls.build(c, own) for c in cfg.routes))

    # -- the walk ------------------------------------------------------------------------
    def match(self, labels: Mapping[str, str]) -> list["Route"]:
        """The routes an alert with ``labels`` goes to (empty only if this node rejects it)."""
        if not self.applies(labels):
            return []
        out: list[Route] = []
        for child in self.routes:
            hits = child.match(labels)
            out.extend(hits)
            if hits and not child.continue_:
                break
        return out or [self]

    def label_names(self) -> tuple[str, ...]:
        """Every label :meth:`match` can read, anywhere in the tree (for ``LabelMemo``)."""
        return tuple(dict.fromkeys(n for r in self.walk() for n in
                                   (*(m.name for m in r.matchers), *r.receiver_labels)))

    def applies(self, labels: Mapping[str, str]) -> bool:
        """This node's own test: its matchers and the labels its receiver template needs."""
        return matches_all(self.matchers, labels) and \
            all(labels.get(n) for n in self.receiver_labels)

    # -- what a matched route says about an alert ----------------------------------------
    def receiver_for(self, labels: Mapping[str, str]) -> str:
        """The receiver, its template filled from ``labels``."""
        if not self.receiver_labels:
            return self.receiver
        return self.receiver.format_map({n: labels.get(n, "") for n in self.receiver_labels})

    @property
    def groups_by_all(self) -> bool:
        return self.group_by == (GROUP_ALL,)

    def group_labels(self, labels: Mapping[str, str]) -> dict[str, str]:
        """The labels that name the alert's group on this route (present ones only)."""
        if self.groups_by_all:
            return dict(labels)
        return {n: labels[n] for n in self.group_by if n in labels}

    # -- the tree ------------------------------------------------------------------------
    def walk(self) -> Iterator["Route"]:
        yield self
        for child in self.routes:
            yield from child.walk()

    def find(self, path: str) -> "Route | None":
        return next((r for r in self.walk() if r.path == path), None)

    def receivers(self) -> tuple[str, ...]:
        """Every receiver (template) named in the tree, in order of appearance."""
        return tuple(dict.fromkeys(r.receiver for r in self.walk()))
