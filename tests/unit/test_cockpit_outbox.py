"""A client's outbox (cockpit_api.outbox): bounded by count and bytes, coalescing superseded
map-layer, KPI and stats messages, keeping the order of everything else, and the ``prev``
each delta is handed out with."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings as hsettings, strategies as st

from cockpit_api.outbox import Outbox, fold, with_prev


def put(box: Outbox, msg: dict[str, Any]) -> bool:
    return box.put(orjson.dumps(msg), msg, seq=msg.get("seq"))


def drain(box: Outbox) -> list[dict[str, Any]]:
    out = []
    while not box.empty():
        out.append(orjson.loads(box.take_nowait()))
    return out


def pos(seq: int, layer: str = "units", **items: Any) -> dict[str, Any]:
    return {"type": "positions", "layer": layer, "items": items, "seq": seq}


def test_a_newer_positions_message_folds_into_the_pending_one_in_place() -> None:
    box = Outbox(8, 1 << 20)
    box.put(b'{"type":"snapshot"}', start=0)
    put(box, pos(1, a={"lat": 1, "at_ms": 10}))
    put(box, {"type": "alert", "seq": 2})
    put(box, pos(3, a={"lat": 2, "at_ms": 20}, b={"lat": 5, "at_ms": 20}))
    put(box, pos(4, "hazmat", h={"lat": 9, "at_ms": 1}))
    put(box, pos(5, a={"lat": 3, "at_ms": 15}))   # older than what is pending: kept out
    assert box.qsize() == 4 and box.coalesced == 2
    snap, units, alert, hazmat = drain(box)
    assert snap == {"type": "snapshot"}
    assert units == {"prev": 0, "type": "positions", "layer": "units", "seq": 1, "through": 5,
                     "items": {"a": {"lat": 2, "at_ms": 20}, "b": {"lat": 5, "at_ms": 20}}}
    assert (alert["seq"], alert["prev"]) == (2, 1)
    assert (hazmat["seq"], hazmat["prev"], hazmat["items"]) == (4, 2, {"h": {"lat": 9,
                                                                            "at_ms": 1}})
    assert box.bytes == 0


def test_congestion_kpis_and_stats_fold_alerts_keep_their_order() -> None:
    box = Outbox(8, 1 << 20)
    put(box, {"type": "kpis", "kpis": {"x": 1}, "seq": 1})
    put(box, {"type": "congestion", "items": {"s1": {"level": 1}}, "seq": 2})
    put(box, {"type": "stats", "published": 1})
    put(box, {"type": "alert", "n": 1, "seq": 3})
    put(box, {"type": "kpis", "kpis": {"y": 2}, "seq": 4})
    put(box, {"type": "congestion", "items": {"s2": {"level": 3}}, "seq": 5})
    put(box, {"type": "stats", "published": 2})
    put(box, {"type": "alert", "n": 2, "seq": 6})
    got = [orjson.loads(box.get_nowait()) for _ in range(box.qsize())]
    assert [m["type"] for m in got] == ["kpis", "congestion", "stats", "alert", "alert"]
    assert got[0]["kpis"] == {"y": 2} and (got[0]["seq"], got[0]["through"]) == (1, 4)
    assert got[1]["items"] == {"s1": {"level": 1}, "s2": {"level": 3}}
    assert got[2] == {"type": "stats", "published": 2}
    assert [m["n"] for m in got[3:]] == [1, 2]


def test_a_taken_message_is_no_longer_folded_into() -> None:
    box = Outbox(8, 1 << 20)
    put(box, pos(1, a={"at_ms": 1}))
    box.take_nowait()
    put(box, pos(2, b={"at_ms": 2}))
    assert drain(box)[0]["items"] == {"b": {"at_ms": 2}}


def test_bounded_by_count_and_bytes_but_one_message_always_fits() -> None:
    box = Outbox(3, 100)
    assert box.put(b"x" * 500)                  # an empty outbox takes a big snapshot
    assert not box.put(b"y")                    # but then it is over its bytes
    box.get_nowait()
    assert box.put(b"a" * 40) and box.put(b"b" * 40) and not box.put(b"c" * 40)
    box.clear()
    assert box.put(b"1") and box.put(b"2") and box.put(b"3") and not box.put(b"4")
    assert box.bytes == 3 and box.qsize() == 3


def test_a_fold_that_outgrows_the_bytes_does_not_fit() -> None:
    box = Outbox(3, 200)
    assert put(box, pos(1, a={"at_ms": 1}))
    assert not put(box, pos(2, **{f"u{i}": {"at_ms": 2} for i in range(20)}))
    assert drain(box)[0]["items"] == {"a": {"at_ms": 1}}   # unchanged


def test_fold_changes_neither_message() -> None:
    a, b = pos(1, x={"at_ms": 1}), pos(2, y={"at_ms": 2})
    before = orjson.dumps([a, b])
    fold(a, b)
    assert orjson.dumps([a, b]) == before


def test_with_prev() -> None:
    assert with_prev(b'{"seq":3}', 2) == b'{"prev":2,"seq":3}'
    assert with_prev(b'{}', 2) == b'{"prev":2}'
    assert with_prev(b'{"seq":3}', None) == b'{"seq":3}'


def test_useless_sizes_are_refused() -> None:
    with pytest.raises(ValueError):
        Outbox(1, 10)


# --- properties ---------------------------------------------------------------------------
KINDS = st.sampled_from(["alert", "positions", "positions2", "congestion", "kpis", "stats"])
ITEM = st.tuples(st.sampled_from("abcd"), st.integers(0, 50))


@hsettings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(KINDS, st.lists(ITEM, max_size=3)), max_size=40),
       st.integers(2, 12), st.integers(50, 2000))
def test_the_outbox_is_the_fold_of_what_was_put(ops: list[tuple[str, list[tuple[str, int]]]],
                                                count: int, size: int) -> None:
    """Whatever is put: the bounds hold, every non-folding message comes out once in order,
    each folded layer holds every item's newest position, seqs rise with the prev chain."""
    box = Outbox(count, size)
    box.put(b'{"type":"snapshot","seq":0}', start=0)
    expected_alerts, newest, seq = [], {}, 0
    for kind, items in ops:
        seq += 1
        layer = "hazmat" if kind == "positions2" else "units"
        msg: dict[str, Any] = {"type": "positions" if kind.startswith("positions") else kind,
                               "seq": seq}
        if kind.startswith("positions") or kind == "congestion":
            msg["items"] = {k: {"at_ms": t} for k, t in items}
            if kind.startswith("positions"):
                msg["layer"] = layer
        if kind == "stats":
            del msg["seq"]
        if not put(box, msg):
            break   # the client would be dropped here
        assert box.qsize() <= count and (box.bytes <= size or box.qsize() == 1)
        if kind == "alert":
            expected_alerts.append(seq)
        elif "items" in msg:
            for k, v in msg["items"].items():
                t = v["at_ms"]
                key = (msg["type"], layer if "layer" in msg else "", k)
                newest[key] = max(newest.get(key, t), t)
    got = drain(box)
    assert got[0]["type"] == "snapshot"
    deltas = [m for m in got[1:] if "seq" in m]
    assert [m["seq"] for m in deltas] == sorted(m["seq"] for m in deltas)
    assert [m["prev"] for m in deltas] == ([0] + [m["seq"] for m in deltas])[:len(deltas)]
    assert [m["seq"] for m in deltas if m["type"] == "alert"] == expected_alerts
    seen = {(m["type"], m.get("layer", ""), k): v["at_ms"]
            for m in got if "items" in m for k, v in m["items"].items()}
    assert seen == newest
    assert len({(m["type"], m.get("layer")) for m in got if m["type"] != "alert"}) == \
        len([m for m in got if m["type"] != "alert"])
    assert box.bytes == 0


def test_an_item_gone_wins_and_sensor_health_replaces() -> None:
    box = Outbox(8, 1 << 20)
    put(box, pos(1, a={"at_ms": 5}, b={"at_ms": 5}))
    put(box, pos(2, a=None))
    put(box, {"type": "sensor_health", "health": {"city": 1}, "seq": 3})
    put(box, {"type": "sensor_health", "health": {"city": 2}, "seq": 4})
    units, health = drain(box)
    assert units["items"] == {"a": None, "b": {"at_ms": 5}}
    assert health["health"] == {"city": 2} and (health["seq"], health["through"]) == (3, 4)
