"""The ClickHouse plugin's time macros the panels use, and their expansion to literal times.

Grafana's ClickHouse data source (plugin ``grafana-clickhouse-datasource``) replaces these
macros before a query is sent to ClickHouse; :func:`expand` does what its documentation
says they become, so a test can run each panel's SQL on the real ClickHouse:

* ``$__timeFilter(col)`` -> ``col >= toDateTime(FROM) AND col <= toDateTime(TO)``
* ``$__fromTime`` / ``$__toTime`` -> ``toDateTime(FROM)`` / ``toDateTime(TO)``
* ``$__interval_s`` -> the panel interval in whole seconds

(FROM/TO: the dashboard range in epoch seconds.) Only these four: ``$__timeInterval`` and
``$__timeGroup`` become ``toStartOfInterval``, which ClickHouse 18.16 does not have, and the
``_ms`` forms become ``DateTime64``, which it does not have either; a panel buckets time with
``intDiv(.., $__interval_s) * $__interval_s`` instead. Any other ``$__`` name is refused.
"""

from __future__ import annotations

import re

MACROS = ("$__timeFilter", "$__fromTime", "$__toTime", "$__interval_s")
_NAME = re.compile(r"\$__(\w+)")
_FILTER = re.compile(r"\$__timeFilter\(\s*([A-Za-z_][\w.]*)\s*\)")


class MacroError(ValueError):
    """A macro that is not one of :data:`MACROS`, or a bad range (``code`` says which)."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code


def used(sql: str) -> set[str]:
    """The ``$__`` macro names in ``sql``."""
    return {"$__" + m for m in _NAME.findall(sql)}


def expand(sql: str, from_ms: int, to_ms: int, interval_s: int) -> str:
    """``sql`` with its macros replaced by literal times, as the plugin replaces them."""
    unknown = used(sql) - set(MACROS)
    if unknown:
        raise MacroError("unknown_macro", f"macros {sorted(unknown)} are not supported; "
                         f"supported: {list(MACROS)}")
    if from_ms > to_ms or interval_s < 1:
        raise MacroError("bad_range", f"range {from_ms}..{to_ms} / interval {interval_s} s")
    f, t = from_ms // 1000, to_ms // 1000
    out = _FILTER.sub(lambda m: f"{m[1]} >= toDateTime({f}) AND {m[1]} <= toDateTime({t})",
                      sql)
    if "$__timeFilter" in out:
        raise MacroError("bad_macro", "$__timeFilter takes one column name")
    return (out.replace("$__fromTime", f"toDateTime({f})")
            .replace("$__toTime", f"toDateTime({t})")
            .replace("$__interval_s", str(int(interval_s))))
