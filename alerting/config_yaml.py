"""Reading an operator's YAML without letting it freeze or crash the worker.

``yaml.safe_load`` builds whatever the text describes: an alias may point at its own
ancestor (a route that contains itself: endless recursion when the tree is walked), a few
hundred bytes of nested aliases describe 10^8 routes (an "alias bomb": minutes and gigabytes),
and a deeply nested document overflows the stack. Anchors and aliases themselves are
legitimate (Alertmanager configurations use them to share receivers and timings), so they
are kept; the composed node graph is measured first, with aliases counted as often as they
are used, and refused past :data:`MAX_NODES` nodes, :data:`MAX_DEPTH` levels or a cycle.
"""

from __future__ import annotations

from typing import Any

import yaml

MAX_NODES = 100_000     # the shipped Changsha configuration has ~1,000
MAX_DEPTH = 64          # route trees are a handful of levels deep


class YamlRefused(ValueError):
    """The text is YAML but not a document the configuration may be built from."""


def _children(node: Any) -> list[Any]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _measure(root: Any) -> None:
    """Walk the node graph as construction would (aliases expanded), without recursion."""
    seen = 0
    on_path: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, True)]
    while stack:
        node, entering = stack.pop()
        if not entering:
            on_path.discard(id(node))
            continue
        if id(node) in on_path:
            raise YamlRefused("an alias refers to a node that contains it (a cycle)")
        seen += 1
        if seen > MAX_NODES:
            raise YamlRefused(f"more than {MAX_NODES} nodes once aliases are expanded")
        kids = _children(node)
        if kids:
            if len(on_path) >= MAX_DEPTH:
                raise YamlRefused(f"nested deeper than {MAX_DEPTH} levels")
            on_path.add(id(node))
            stack.append((node, False))
            for i in range(len(kids) - 1, -1, -1):   # the first child is walked first
                stack.append((kids[i], True))


def safe_load_bounded(text: str) -> Any:
    """``yaml.safe_load`` for outside text: :class:`YamlRefused` instead of a hang, an
    exhausted stack or a cycle; ``yaml.YAMLError`` for text that is not YAML."""
    loader = yaml.SafeLoader(text)   # (no subclass: the compiled core cannot subclass it)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _measure(node)
        return loader.construct_document(node)
    except RecursionError as exc:   # the parser itself recurses on nesting
        raise YamlRefused(f"nested too deeply to read ({MAX_DEPTH} levels at most)") from exc
    except YamlRefused:
        raise
    except ValueError as unbuildable:   # a scalar PyYAML cannot build: an integer of more
        # than Python's 4,300 digits, a date such as 2025-13-45
        raise YamlRefused(f"a value cannot be read: {str(unbuildable)[:120]}") from unbuildable
    finally:
        loader.dispose()
