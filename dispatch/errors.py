"""The errors of :mod:`dispatch`: configuration refused at load, with where and why."""

from __future__ import annotations


class DispatchConfigError(ValueError):
    """A fleet or run-card configuration that cannot be used.

    ``path`` names the place in the document (``cards[3].needs.engine``), ``reason`` says
    what is wrong with it; ``source`` is the file (or "config")."""

    def __init__(self, source: str, path: str, reason: str) -> None:
        super().__init__(f"{source}: {path or '(top)'}: {reason}")
        self.source = source
        self.path = path
        self.reason = reason
