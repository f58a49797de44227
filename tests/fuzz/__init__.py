"""The fuzz suite (issue 13, "keep it found"): every entry point that takes outside bytes,
driven by hypothesis from the strategies in :mod:`fuzz.strategies` and the per-entry-point
generators and oracles in :mod:`fuzz.targets`.

Each target knows, for every input it makes, what must become of it (:class:`fuzz.verdict.
Expect`): valid inputs built from the schemas must be accepted, mutated ones refused with a
named code, arbitrary ones accepted or refused with some stable code -- never a crash, never
a hang, never lost, and never at the cost of their neighbours. The tests here run a bounded
budget (profiles in ``conftest.py``); ``bench/fuzz.py`` runs the same targets for millions
of inputs.
"""
