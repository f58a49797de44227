"""The fuzz suite's hypothesis profiles (chosen with ``CITYCC_FUZZ_PROFILE``, default
``fuzz-ci``). They are applied per test (:func:`fuzz.budget.fuzzed`), not loaded globally,
so the rest of the test session keeps its own hypothesis settings.

* ``fuzz-ci``: what ``make test`` runs -- bounded examples, derandomized (the same inputs on
  every run, so CI is reproducible), no example database; the whole suite in under a minute
  on two cores.
* ``fuzz-dev``: random inputs each run, more of them, failures remembered in the database.
* ``fuzz-long``: ten times ``fuzz-dev``, for a local soak (``bench/fuzz.py`` goes further).
"""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the project is not installed in the venv: import from the tree
    sys.path.insert(0, str(ROOT))

_COMMON = settings(deadline=timedelta(seconds=2), print_blob=True,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("fuzz-ci", _COMMON, max_examples=120, derandomize=True,
                          database=None)
settings.register_profile("fuzz-dev", _COMMON, max_examples=300)
settings.register_profile("fuzz-long", _COMMON, max_examples=3000)
