"""citycc.native: the compiled alerting core is used only while it matches the sources, and
the Python sources pass the same tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from citycc import native

REPO = Path(__file__).resolve().parents[2]


def _tree(tmp: Path) -> Path:
    """A source tree of the compiled modules' shape."""
    for rel in ("alerting/__init__.py", "alerting/a.py", "alerting/b.py", "schemas/records.py",
                "schemas/memo.py", "schemas/validate.py"):
        (tmp / "src" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp / "src" / rel).write_text(f"# {rel}\n")
    return tmp / "src"


def _built(root: Path, out: Path) -> None:
    """A build of ``root`` as citycc.native.build leaves it (files stand in for the .so)."""
    files = {native.module_name(p, root): f"{p.relative_to(root).with_suffix('.so')}"
             for p in native.sources(root)}
    for rel in files.values():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(b"")
    (out / native.MANIFEST).write_text(json.dumps({"digest": native.digest(root),
                                                   "files": files}))


def test_the_compiled_modules_are_the_packages_but_not_their_inits(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    assert [native.module_name(p, root) for p in native.sources(root)] == \
        ["alerting.a", "alerting.b", "schemas.memo", "schemas.records"]


def test_a_build_is_current_until_a_source_changes(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(native.ENV, raising=False)
    root, out = _tree(tmp_path), tmp_path / "out"
    assert native.plan(root, out) == ("missing", {})
    _built(root, out)
    st, files = native.plan(root, out)
    assert st == "current" and set(files) == {"alerting.a", "alerting.b", "schemas.memo",
                                              "schemas.records"}
    (root / "schemas/validate.py").write_text("# not compiled: no matter\n")
    assert native.plan(root, out)[0] == "current"
    (root / "alerting/b.py").write_text("# edited\n")
    assert native.plan(root, out) == ("stale", {})
    _built(root, out)
    (out / files["alerting.a"]).unlink()    # a build with a module missing
    assert native.plan(root, out) == ("stale", {})
    (root / "alerting/c.py").write_text("# new\n")   # a module added since the build
    _built(root, out)
    assert native.plan(root, out)[0] == "current"
    monkeypatch.setenv(native.ENV, "0")
    assert native.plan(root, out) == ("off", {})


def test_this_process_runs_the_compiled_core_when_it_is_current() -> None:
    import alerting.lifecycle
    import schemas.records
    import schemas.validate
    st = native.status()
    if os.environ.get("CITYCC_REQUIRE_NATIVE") == "1":   # make test: built just before
        assert st == "current", f"the compiled alerting core is {st}: run `make native`"
    assert native.active() == (st == "current")
    for mod in (alerting.lifecycle, schemas.records):
        assert Path(mod.__file__ or "").is_relative_to(native.NATIVE_DIR) == native.active()
    assert schemas.validate.__file__.endswith(".py")   # (validation stays Python)


def test_the_alerting_unit_tests_pass_on_the_python_sources_too() -> None:
    """Compiled code enforces its annotations; the sources run wherever the build is stale
    or missing, so they must pass the same tests."""
    if not native.active():
        pytest.skip("this run is on the Python sources already")
    env = {**os.environ, native.ENV: "0"}
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "tests/unit/alerting"], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert " passed" in run.stdout.splitlines()[-1]


def test_mypyc_notes_of_the_known_kinds_are_summarised_others_shown(tmp_path: Path) -> None:
    log = tmp_path / "notes.log"
    known = ("/x/alerting/routing.py:88: warning: Treating generator comprehension as list\n"
             "/x/alerting/incident_calls.py:40: warning: Unsupported default attribute value\n")
    summary = native.summarize_warnings(known, log)
    assert "warning" not in summary and "2 expected notes" in summary and str(log) in summary
    assert len(summary.splitlines()) == 1
    odd = "/x/alerting/lifecycle.py:9: warning: Something new\n"
    shown = native.summarize_warnings(known + odd, log)
    assert shown.splitlines()[0] == odd.strip() and "2 expected notes" in shown
    assert native.summarize_warnings("", log) == ""


def test_no_compiled_function_binds_one_exception_name_to_two_types() -> None:
    """mypyc types an ``except ... as name`` variable by its first clause in a function; a
    later clause of another type bound to the same name raises TypeError when compiled
    (while the Python sources pass). Each exception type gets its own name."""
    import ast

    clashes = []
    for path in native.sources(native.ROOT):
        for fn in ast.walk(ast.parse(path.read_text())):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            bound: dict[str, str] = {}
            for node in ast.walk(fn):
                if isinstance(node, ast.ExceptHandler) and node.name and node.type:
                    kind = ast.unparse(node.type)
                    if bound.setdefault(node.name, kind) != kind:
                        clashes.append(f"{path.name}:{node.lineno} {fn.name}: {node.name!r} "
                                       f"is {bound[node.name]} and {kind}")
    assert not clashes, clashes
