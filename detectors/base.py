"""The detector protocol (River-style), shared by every detector family.

A detector is a small object that scores a value *before* it learns it:

    score = det.score_one(x, t_ms)   # high = anomalous; uses data <= t only
    det.learn_one(x, t_ms)

It does no I/O, reads no clock (event time ``t_ms`` is passed in) and no environment, keeps
its state in itself and pickles. Hyperparameters are exactly the ``__init__`` arguments,
stored under the same names, so :meth:`Detector.clone` and :func:`from_config` rebuild it.
``process_many`` is the vectorised batch path for the hot loop and replay; it must return
what a loop of score_one-then-learn_one would. A score is not a decision: see
:mod:`detectors.filters`.
"""

from __future__ import annotations

import inspect
from typing import Any, Mapping, TypeVar

import numpy as np

D = TypeVar("D", bound="Detector")

# Registry of detector classes by name, for configuration (``{"name": ..., **params}``).
REGISTRY: dict[str, type["Detector"]] = {}


class Detector:
    """Base of univariate detectors: float values at event times (epoch ms)."""

    name: str = ""  # registry name; set by subclasses

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.name:
            REGISTRY[cls.name] = cls

    def score_one(self, x: float, t_ms: int) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def learn_one(self, x: float, t_ms: int) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def process_many(self, xs: np.ndarray, ts: np.ndarray) -> np.ndarray:
        """Score each value before learning it, in order; return the scores.

        Subclasses override this with a vectorised version that gives the same result.
        """
        out = np.empty(len(xs), dtype=np.float64)
        for i in range(len(xs)):
            x, t = float(xs[i]), int(ts[i])
            out[i] = self.score_one(x, t)
            self.learn_one(x, t)
        return out

    def explain(self) -> dict[str, Any]:
        """What the last score was measured against (baseline, spread, window, ...)."""
        return {}

    # -- configuration --------------------------------------------------------------------
    def params(self) -> dict[str, Any]:
        """The hyperparameters: every ``__init__`` argument, read from the same attribute."""
        sig = inspect.signature(type(self).__init__)
        return {n: getattr(self, n) for n in sig.parameters if n != "self"}

    def clone(self: D, **overrides: Any) -> D:
        """A fresh, untrained detector with the same (or overridden) hyperparameters."""
        return type(self)(**{**self.params(), **overrides})

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"


def from_config(config: Mapping[str, Any]) -> Detector:
    """Build a detector from ``{"name": <registry name>, **hyperparameters}``."""
    cfg = dict(config)
    name = cfg.pop("name", None)
    if name not in REGISTRY:
        raise ValueError(f"unknown detector {name!r}; known: {sorted(REGISTRY)}")
    return REGISTRY[name](**cfg)
