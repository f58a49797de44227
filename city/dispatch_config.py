"""Reading the dispatch configuration files (fleet, run cards) that live in ``dispatch/``.

``dispatch/`` is a logic package and reads no files; this loader does, and hands the parsed
documents to :func:`dispatch.units.parse_fleet` / :func:`dispatch.runcards.parse_runcards`.
The text goes through the alerting configuration's bounded YAML reader (no alias bombs).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from alerting.config_yaml import YamlRefused, safe_load_bounded
from dispatch.errors import DispatchConfigError

DISPATCH_DIR = Path(__file__).resolve().parent.parent / "dispatch"


def load_dispatch_yaml(name: str) -> Any:
    """Parse ``dispatch/<name>.yaml`` (or a path ending in .yaml/.yml)."""
    path = Path(name) if name.endswith((".yaml", ".yml")) else DISPATCH_DIR / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in DISPATCH_DIR.glob("*.yaml"))
        raise DispatchConfigError(str(path), "", f"no such dispatch configuration; known: {known}")
    try:
        return safe_load_bounded(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, YamlRefused, UnicodeDecodeError) as exc:
        raise DispatchConfigError(str(path), "", f"not a YAML document: {exc}") from exc


@lru_cache(maxsize=8)
def load_fleet(city: str = "changsha") -> Any:
    """The checked fleet configuration of ``city`` (``dispatch/<city>_fleet.yaml``)."""
    from dispatch.units import parse_fleet
    return parse_fleet(load_dispatch_yaml(f"{city}_fleet"), f"dispatch/{city}_fleet.yaml")


def registry_for(profile: Any, scale: float = 1.0) -> Any:
    """The unit registry of ``profile``'s city at ``scale`` (fleet file + profile)."""
    from dispatch.units import build_registry
    return build_registry(profile, scale, load_fleet(profile.name))


@lru_cache(maxsize=8)
def load_runcards(city: str = "changsha") -> Any:
    """The checked run cards of ``city`` (``dispatch/<city>_runcards.yaml``), their areas
    checked against the city profile's districts."""
    from city.profile import load_profile
    from dispatch.runcards import parse_runcards
    return parse_runcards(load_dispatch_yaml(f"{city}_runcards"), f"dispatch/{city}_runcards.yaml",
                          load_profile(city).district_codes)
