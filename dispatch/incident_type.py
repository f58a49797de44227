"""What kind of incident it is, for run-card matching: (type, subtype) from the alerting
category and the alerts and calls an incident holds.

The type is the alerting category (``hazmat_notice`` is no emergency: no type). The subtype
reads the incident's member alert kinds and tags (a 119 cluster's call categories, a fire
incident's category) and its calls: one table per type, first rule that fits wins.
"""

from __future__ import annotations

import fnmatch
from typing import Iterable

from dispatch.runcards import INCIDENT_TYPES

# type -> ((subtype, alert-kind globs, tags), ...): the first rule whose kinds or tags the
# incident holds wins; the 119 categories are checked in severity order
SUBTYPE_RULES: dict[str, tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...]] = {
    "fire": (("hazmat", (), ("hazmat",)),
             ("rescue", (), ("rescue",)),
             ("structure_fire", ("fire_alarm",), ("structure_fire",)),
             ("vehicle_fire", (), ("vehicle_fire",)),
             ("wildland_fire", (), ("wildland_fire",))),
    "hazmat": (("tanker_leak", ("hazmat_tank_*", "hazmat_stopped"), ()),
               ("site_leak", ("tank_*",), ())),
}
MASS_CASUALTY_CALLS = 3        # an EMS cluster of at least this many calls ...
MASS_CASUALTY_PATIENTS = 5     # ... or patients is a mass casualty


def incident_type(category: str, kinds: Iterable[str], tags: Iterable[str], calls: int,
                  patients: int) -> tuple[str, str]:
    """(type, subtype) of an incident; type "" if dispatch has no plan for the category."""
    if category not in INCIDENT_TYPES:
        return "", ""
    kinds, tags = sorted(set(kinds)), set(tags)
    if category == "ems":
        big = calls >= MASS_CASUALTY_CALLS or patients >= MASS_CASUALTY_PATIENTS
        return "ems", "mass_casualty" if big else ""
    for subtype, globs, want in SUBTYPE_RULES.get(category, ()):
        if tags & set(want) or any(fnmatch.fnmatchcase(k, g) for k in kinds for g in globs):
            return category, subtype
    return category, ""
