"""The one rule for a repeating timer that fell behind: resume from now, never catch up (pure).

Why: after the worker was down, a timer that re-fired once per missed interval replayed the
whole outage -- a firing group re-sent every missed ``repeat_interval`` (12 notifications
after 4 hours down, 340 after a week, 445,605 for an alert dated 2000), an escalation paging
every level it had missed at once. Every schedule that steps by an interval asks
:func:`next_due` instead: the next time on the schedule if it is still ahead, else one
interval from now. So a pause of any length costs one firing of each timer.
"""

from __future__ import annotations


def next_due(last_ms: int, interval_ms: int, now_ms: int) -> int:
    """When a timer due every ``interval_ms`` after ``last_ms`` fires next, seen at
    ``now_ms``: ``last_ms + interval_ms`` if that is still ahead, else ``now_ms +
    interval_ms`` (the missed firings are not made up)."""
    due = last_ms + interval_ms
    return due if due > now_ms else now_ms + interval_ms
