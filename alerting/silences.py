"""Silences and maintenance windows: a person's (or a schedule's) decision to mute alerts.

One module per concept, re-exported here so that callers keep one import: the silence
record, its id and errors (``alerting.silence_model``), recurring maintenance windows
(``alerting.maintenance``) and the Silencer that applies both (``alerting.silencer``).
"""

from __future__ import annotations

from alerting.maintenance import DAYS, MaintenanceWindow
from alerting.silence_model import END_REASONS, Silence, SilenceEnded, SilenceError, silence_id
from alerting.silencer import FIRING, RESOLVED, WINDOW_PREFIX, Silencer

__all__ = ["DAYS", "END_REASONS", "FIRING", "RESOLVED", "WINDOW_PREFIX", "MaintenanceWindow",
           "Silence", "SilenceEnded", "SilenceError", "Silencer", "silence_id"]
