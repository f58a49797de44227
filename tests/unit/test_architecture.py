"""Layering: the logic packages import no I/O framework; detectors/, schemas/ and dispatch/ read no clock
and no environment (``now`` and settings are passed in)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from unit_helpers import ROOT

LOGIC_PACKAGES = [p for p in ("schemas", "detectors", "alerting", "dispatch")
                  if (ROOT / p).is_dir()]
PURE_PACKAGES = ["detectors", "schemas", "dispatch"]
FORBIDDEN_IMPORTS = {"faust", "aiokafka", "kafka", "clickhouse_driver", "websockets"}
# (module, attribute) pairs that read a clock or the environment
FORBIDDEN_CALLS = {("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"),
                   ("date", "today"), ("time", "time"), ("time", "time_ns"),
                   ("time", "monotonic"), ("time", "monotonic_ns"), ("time", "perf_counter"),
                   ("time", "localtime"), ("time", "gmtime"), ("os", "environ"),
                   ("os", "getenv"), ("os", "environb"), ("os", "putenv")}
FORBIDDEN_FROM = {("os", "environ"), ("os", "getenv"), ("os", "environb"), ("time", "time"),
                  ("time", "time_ns"), ("time", "monotonic"), ("time", "perf_counter")}

# the plain-text check also catches uses the AST check cannot see (strings passed to eval...)
SOURCE_NEEDLES = re.compile(r"\bdatetime\.now\b|\btime\.time\b|\bos\.environ\b|\bgetenv\b")


def py_files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def imported_modules(tree: ast.AST) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


def test_the_logic_packages_exist() -> None:
    assert {"schemas", "detectors"} <= set(LOGIC_PACKAGES)
    for package in PURE_PACKAGES:
        assert py_files(package)


@pytest.mark.parametrize("package", LOGIC_PACKAGES)
def test_logic_packages_import_no_io_framework(package: str) -> None:
    bad = []
    for path in py_files(package):
        for mod in imported_modules(ast.parse(path.read_text(encoding="utf-8"))):
            if mod.split(".")[0] in FORBIDDEN_IMPORTS:
                bad.append(f"{path.relative_to(ROOT)}: {mod}")
    assert bad == []


@pytest.mark.parametrize("package", PURE_PACKAGES)
def test_pure_packages_read_no_clock_or_environment(package: str) -> None:
    bad = []
    for path in py_files(package):
        source = path.read_text(encoding="utf-8")
        rel = path.relative_to(ROOT)
        for needle in SOURCE_NEEDLES.findall(source):
            bad.append(f"{rel}: {needle}")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and \
                    (node.value.id, node.attr) in FORBIDDEN_CALLS:
                bad.append(f"{rel}:{node.lineno}: {node.value.id}.{node.attr}")
            if isinstance(node, ast.ImportFrom) and node.module in ("os", "time"):
                for a in node.names:
                    if (node.module, a.name) in FORBIDDEN_FROM:
                        bad.append(f"{rel}:{node.lineno}: from {node.module} import {a.name}")
    assert bad == []


def test_the_checks_would_see_a_violation() -> None:
    tree = ast.parse("import faust\nfrom aiokafka.structs import TopicPartition\n"
                     "import kafka.errors as ke\n")
    assert {m.split(".")[0] for m in imported_modules(tree)} == {"faust", "aiokafka", "kafka"}
    attrs = [(n.value.id, n.attr) for n in ast.walk(ast.parse("x = datetime.now(); os.environ"))
             if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)]
    assert set(attrs) <= FORBIDDEN_CALLS and len(attrs) == 2
    assert SOURCE_NEEDLES.findall("datetime.timezone.utc; time.time(); os.environ") == \
        ["time.time", "os.environ"]
