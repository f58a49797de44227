"""How much each fuzz test runs: a share of the active profile's examples (see conftest)."""

from __future__ import annotations

import os
from typing import Any

from hypothesis import settings

PROFILE_ENV = "CITYCC_FUZZ_PROFILE"


def fuzzed(share: float = 1.0, **overrides: Any) -> settings:
    """The active fuzz profile, with ``share`` of its examples (heavier targets run fewer)."""
    base = settings.get_profile(os.environ.get(PROFILE_ENV, "fuzz-ci"))
    return settings(base, max_examples=max(1, round(base.max_examples * share)), **overrides)
