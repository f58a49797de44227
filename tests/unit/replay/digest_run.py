"""Print the digest of a replay of the simulated city (tests/unit/replay/worker_fake.py) in
this process: run under two PYTHONHASHSEEDs by test_replay_determinism_across_processes."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from citycc.settings import load_settings  # noqa: E402
from replay.engine import Replayer  # noqa: E402
from replay.merge import merge_runs  # noqa: E402
from replay.setup import setup_from_settings  # noqa: E402
from replay.timeline import Digest  # noqa: E402
from worker_fake import T0  # noqa: E402

MINUTES = float(sys.argv[1]) if len(sys.argv) > 1 else 4


def streams(minutes: float) -> dict:
    """A small city with one incident of every kind, per stream in event-time order."""
    from collections import defaultdict

    from city.profile import load_profile
    from schemas.validate import parse_event_time
    from simulator.generate import Simulation
    from simulator.incidents import KINDS
    sim = Simulation(load_profile(), scale=0.05, seed=11, start_ms=T0, incidents=0)
    for i, kind in enumerate(sorted(KINDS)):
        sim.inject(kind, T0 + 10_000 + 15_000 * i)
    by: dict = defaultdict(list)
    for t in range(T0 + 1000, T0 + int(minutes * 60_000) + 1, 1000):
        for stream, events in sim.tick(t).items():
            by[stream] += [(parse_event_time(e["event_time"]), (), e) for e in events]
    return dict(by)


r = Replayer(setup_from_settings(load_settings({})), T0)
d = Digest()
for stream, events, times in merge_runs(streams(MINUTES)):
    d.update(r.feed(stream, events, times))
d.update(r.advance(T0 + int(MINUTES * 60_000) + 600_000))
print(d.count, d.hexdigest())
