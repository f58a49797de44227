"""Importers of outside text: the alerting configuration (Alertmanager's YAML, read as the
worker reads it: ``read_config`` then ``Engine``), a city profile (``city/<name>.json``),
and matcher text (Alertmanager's grammar, ``alerting.matchers``).

The oracle: the shipped files and generated valid ones are taken; anything else is taken or
refused with the importer's named error (``ConfigError``/``EscalationError``,
``ProfileError``, ``LabelError``) -- never another exception, never a hang; a profile
taken builds the detector that indexes its places on a grid (a zone 10,000 km wide once
made that a MemoryError); a parsed matcher renders back to itself.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from multiprocessing.util import Finalize
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

from alerting.config import ConfigError, read_config
from alerting.escalation import EscalationError
from alerting.labels import LabelError, parse_matchers
from alerting.matchers import parse_text, render_all
from city.profile import PROFILE_DIR, ProfileError, load_profile
from detectors.hazmat import HazmatDetector

from ..strategies import BAD_UTF8, Deep, deep, ids, json_values
from ..verdict import BROKEN, Expect, Tally, either, ok, refuse
from .engine import PROFILE, Engine

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = {"changsha.yaml": (ROOT / "alerting" / "changsha.yaml").read_bytes(),
           "simple.yml": (ROOT / "tests" / "fixtures" / "alertmanager" / "simple.yml"
                          ).read_bytes()}
CONFIG_TREE = yaml.safe_load(SHIPPED["changsha.yaml"])
PROFILE_BYTES = (PROFILE_DIR / "changsha.json").read_bytes()
PROFILE_TREE = json.loads(PROFILE_BYTES)
LABELS = ("kind", "severity", "district", "stream", "entity_id")
# 10 references per level, 8 levels: 10^8 routes in a few hundred bytes of YAML
BOMB = "global:\n  a0: &a0 {receiver: x}\n" + "".join(
    f"  a{i}: &a{i} {{receiver: x, routes: [{', '.join([f'*a{i - 1}'] * 10)}]}}\n"
    for i in range(1, 9)) + "route:\n  receiver: city_duty\n  routes: [*a8]\n"
RECURSIVE = "route: &r\n  receiver: city_duty\n  routes:\n    - *r\n"
# an escalation policy that pages forever: a 400-digit repeat once made the worker build a
# table of every page (bench/fuzz.py seed 14: the kernel killed it at 11.6 GB)
ENDLESS = ("route: {receiver: city_duty}\nescalation:\n  policies:\n  - name: p\n"
           "    levels: [{after_s: 60, notify: [city_duty]}]\n    repeat: 1" + "0" * 400 + "\n")


@dataclass(frozen=True)
class Document:
    """One file to import: ``kind`` config | profile | matcher, its bytes, the verdict."""

    kind: str
    raw: bytes
    expect: Expect


def _paths(tree: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [at]
    if isinstance(tree, dict):
        for k, v in tree.items():
            out += _paths(v, at + (k,))
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            out += _paths(v, at + (i,))
    return out


def _mutate(tree: Any, path: tuple[Any, ...], how: str, value: Any) -> Any:
    """A copy of ``tree`` with the node at ``path`` replaced, dropped or given a key."""
    if not path:
        return value if how == "replace" else tree
    head, rest = path[0], path[1:]
    copy: Any = dict(tree) if isinstance(tree, dict) else list(tree)
    if rest or how == "replace":
        copy[head] = _mutate(tree[head], rest, how, value) if rest else value
    elif how == "drop":
        del copy[head]
    elif isinstance(tree[head], dict):
        copy[head] = {**tree[head], "zz_unknown": value}
    return copy


TREES = {"config": CONFIG_TREE, "profile": PROFILE_TREE}


@lru_cache(maxsize=None)
def _tree_mutation(name: str) -> st.SearchStrategy[Any]:
    """The shipped tree ``name`` with one node replaced, dropped, or given an unknown key."""
    tree = TREES[name]
    value = json_values(6) | st.integers(10 ** 300, 10 ** 400) | deep(60).map(Deep.value)
    return st.builds(lambda path, how, v: _mutate(tree, path, how, v),
                     st.sampled_from(_paths(tree)), st.sampled_from(("replace", "drop", "add")),
                     value)


@st.composite
def _route(draw: st.DrawFn, depth: int) -> dict[str, Any]:
    r: dict[str, Any] = {"receiver": draw(ids(20))}
    if depth:
        r["matchers"] = [f'{draw(st.sampled_from(LABELS))}="{draw(ids(15))}"']
        r["continue"] = draw(st.booleans())
    if draw(st.booleans()):
        r["group_by"] = draw(st.lists(st.sampled_from(LABELS), max_size=3, unique=True))
        r["group_wait"] = draw(st.sampled_from(("0s", "30s", "5m", "1h30m")))
    if depth < 2:
        r["routes"] = draw(st.lists(_route(depth + 1), max_size=3))
    return r


def _yaml(tree: Any) -> bytes:
    return yaml.safe_dump(tree, allow_unicode=True).encode()


@lru_cache(maxsize=None)
def configs() -> st.SearchStrategy[Document]:
    shipped = st.sampled_from(sorted(SHIPPED)).map(
        lambda name: Document("config", SHIPPED[name], ok(f"shipped {name}")))
    generated = _route(0).map(lambda r: Document("config", _yaml({"route": r}), ok(
        "a generated route tree")))
    mutated = _tree_mutation("config").map(lambda t: Document(
        "config", _yaml(t), either("changsha.yaml changed")))
    nasty = st.sampled_from((
        Document("config", BOMB.encode(), refuse(why="alias bomb of 10^8 routes")),
        Document("config", RECURSIVE.encode(), refuse(why="a route that contains itself")),
        Document("config", b"route: " + Deep(600).text(), refuse(why="600-deep YAML")),
        Document("config", ENDLESS.encode(), refuse("out_of_range",
                                                    why="escalation repeat of 10^400"))))
    broken = st.builds(lambda at, bad: Document(
        "config", SHIPPED["changsha.yaml"][:at] + bad + SHIPPED["changsha.yaml"][at:],
        refuse(why="not UTF-8")), st.integers(0, 200), st.sampled_from(BAD_UTF8))
    text = st.text(max_size=200).map(lambda t: Document("config", t.encode(), either()))
    return st.one_of(shipped, generated, mutated, nasty, broken, text)


@lru_cache(maxsize=None)
def profiles() -> st.SearchStrategy[Document]:
    mutated = _tree_mutation("profile").map(lambda t: Document(
        "profile", json.dumps(t, ensure_ascii=False).encode(), either("changsha.json changed")))
    return st.one_of(st.just(Document("profile", PROFILE_BYTES, ok("shipped changsha.json"))),
                     mutated, st.binary(max_size=100).map(
                         lambda b: Document("profile", b, either("arbitrary bytes"))))


@lru_cache(maxsize=None)
def matcher_texts() -> st.SearchStrategy[Document]:
    part = st.sampled_from(("{", "}", ",", "=", "!=", "=~", "!~", '"', "\\", " ", "\\n",
                            "\\x41", "\\u00e9", "a", "kind", "é", "'", "`", "\n")) | ids(8)
    built = st.lists(part, max_size=12).map("".join)
    return (built | st.text(max_size=40)).map(lambda t: Document(
        "matcher", t.encode("utf-8", "surrogatepass"), either("matcher text")))


@st.composite
def documents(draw: st.DrawFn) -> tuple[Document, ...]:
    return tuple(draw(st.lists(st.one_of(configs(), profiles(), matcher_texts()),
                               min_size=1, max_size=3)))


_DIRS: dict[int, Path] = {}   # the importers read files: a directory per process


def _dir() -> Path:
    """This process's directory (bench/fuzz.py forks workers after importing this module:
    one shared directory had two workers overwrite each other's file)."""
    pid = os.getpid()
    if pid not in _DIRS:
        _DIRS[pid] = Path(tempfile.mkdtemp(prefix="citycc-fuzz-"))
        # (run at exit by multiprocessing in a worker too, where atexit is not)
        Finalize(None, shutil.rmtree, (_DIRS[pid], True), exitpriority=0)
    return _DIRS[pid]


def check_documents(docs: tuple[Document, ...]) -> Tally:
    tally = Tally()
    for k, doc in enumerate(docs):
        where = f"{doc.kind} {k}"
        got = tally.attempt(2, where, lambda: _import(doc),
                            crash_where=f"{where} ({doc.expect.why})")
        if not got.ran:
            continue
        code = got.value
        if code.startswith("broken:"):
            tally.add(BROKEN, where, code[7:])
            code = ""
        tally.judge(doc.expect, where, accepted=not code, code=code)
    return tally


def _import(doc: Document) -> str:
    """Import ``doc`` as the project does: "" if taken, else the refusal's code."""
    if doc.kind == "config":
        path = _dir() / "alerting.yaml"
        path.write_bytes(doc.raw)
        try:
            Engine(read_config(path), PROFILE)
        except ConfigError:
            return "config_error"
        except EscalationError as refused:
            return refused.code
        return ""
    if doc.kind == "profile":
        path = _dir() / "city.json"
        path.write_bytes(doc.raw)
        try:   # and the detector that indexes its places on a grid (as the worker starts)
            HazmatDetector(load_profile.__wrapped__(str(path)))
        except ProfileError as refused:
            return refused.code
        return ""
    text = doc.raw.decode("utf-8", "surrogatepass")
    try:
        found = parse_matchers([text])
    except LabelError as exc:
        return exc.code
    again = parse_text(render_all(found))
    return "" if again == found else f"broken:{render_all(found)!r} reads back as {again!r}"
