"""A seeded, deterministic Changsha: the event streams of ``citycc simulate``.

``Simulation(profile, scale, seed, start_ms=..., incidents=...).tick(until_ms)`` yields
events by stream; :func:`simulator.producer.run_producer` sends them to Kafka.
"""

from .generate import Simulation
from .incidents import KINDS as INCIDENT_KINDS
from .incidents import Incident
from .world import World, build_world

__all__ = ["INCIDENT_KINDS", "Incident", "Simulation", "World", "build_world"]
