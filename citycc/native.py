"""The compiled alerting core: mypyc builds of the pure alerting modules, used only while
they match the sources.

Why: the alerting engine does about 70 us of Python per alert state change (lifecycle,
silences, inhibition, grouping, escalation, incident correlation), spread over dozens of
small functions and records; no single hot spot is left to remove. mypyc compiles the same
type-annotated sources to C (native classes, direct calls, unboxed ints and floats), which
takes the bench from about 13,000 to about 20,000 alerts/s on one core. The sources stay the
truth: there is one implementation, and the Python modules run wherever the build is missing
or stale.

How: ``python -m citycc.native build`` (``make native``, run by ``make run`` and
``make test``) compiles :data:`PATTERNS` into ``<venv>/citycc-native`` with a manifest
holding a digest of the sources. ``alerting/__init__.py`` and ``schemas/__init__.py`` call
:func:`enable`: when the manifest's digest is that of the sources on disk, a meta-path
finder serves those modules from the build; otherwise (a source edited since the build,
another interpreter) the Python sources are imported, with one warning. It is all or
nothing: compiled modules call each other's C code directly, so a mix would hold two
versions of a class. ``CITYCC_NATIVE=0`` forces the Python sources (``bench/alerting.py
--stages`` needs them: it wraps methods, which compiled classes do not allow).

Compiled code checks its annotations at run time (a ``str`` parameter given None raises
TypeError), so the unit tests of ``alerting`` also run against the Python sources
(``tests/unit/test_native.py``), and mypy must pass on the compiled modules.

Standard library only: this runs before anything it serves is imported.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path
from types import ModuleType
from typing import Sequence

ROOT = Path(__file__).resolve().parents[1]
NATIVE_DIR = Path(sys.prefix) / "citycc-native"
MANIFEST = "manifest.json"
GROUP = "citycc_native"   # the shared library: citycc_native__mypyc
# the modules compiled (package __init__ files stay Python: they install the finder)
PATTERNS = ("alerting/*.py", "schemas/records.py", "schemas/memo.py")
MYPY_FLAGS = ("--ignore-missing-imports", "--follow-imports=silent")
# Notes mypyc gives on these sources that are not problems: it compiles a generator
# expression passed to any()/all()/tuple() as a list, and a class-level default of a
# mutable type (CallLinks.families) per instance; both behave as in Python.
EXPECTED_WARNINGS = ("Treating generator comprehension as list",
                     "Unsupported default attribute value")
WARNINGS_LOG = "mypyc-notes.log"
ENV = "CITYCC_NATIVE"

_state: dict[str, object] = {}


def sources(root: Path = ROOT) -> list[Path]:
    """The source files compiled, in a fixed order."""
    found = {p for pat in PATTERNS for p in root.glob(pat) if p.name != "__init__.py"}
    return sorted(found)


def module_name(path: Path, root: Path = ROOT) -> str:
    return ".".join(path.relative_to(root).with_suffix("").parts)


def digest(root: Path = ROOT) -> str:
    """Of the compiled sources, their paths and this interpreter's build (a change to any
    of them makes the build stale)."""
    h = hashlib.sha256(f"{sys.version}\0{sys.implementation.cache_tag}\0".encode())
    for p in sources(root):
        h.update(p.relative_to(root).as_posix().encode() + b"\0")
        h.update(p.read_bytes() + b"\0")
    return h.hexdigest()


def read_manifest(out: Path = NATIVE_DIR) -> dict[str, object] | None:
    try:
        data = json.loads((out / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _built(root: Path, out: Path) -> tuple[str, dict[str, Path]]:
    """('missing' | 'stale' | 'current', {module: compiled file}: empty unless current); a
    build with a file missing is stale."""
    manifest = read_manifest(out)
    if manifest is None:
        return "missing", {}
    raw = manifest.get("files")
    files = {str(k): out / str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}
    if manifest.get("digest") != digest(root) or not files or \
            not all(f.is_file() for f in files.values()):
        return "stale", {}
    return "current", files


def status(root: Path = ROOT, out: Path = NATIVE_DIR) -> str:
    """'off' (CITYCC_NATIVE=0), 'missing' (never built here), 'stale' or 'current'."""
    return plan(root, out)[0]


class _Finder(importlib.abc.MetaPathFinder):
    """Serves the compiled modules (and their shared library) from the build directory."""

    def __init__(self, files: dict[str, Path]) -> None:
        self.files = files

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        f = self.files.get(fullname)
        if f is None:
            return None
        loader = importlib.machinery.ExtensionFileLoader(fullname, str(f))
        return importlib.util.spec_from_file_location(fullname, f, loader=loader)


def plan(root: Path = ROOT, out: Path = NATIVE_DIR) -> tuple[str, dict[str, Path]]:
    """(:func:`status`, {module: compiled file} to serve: empty unless 'current')."""
    return ("off", {}) if os.environ.get(ENV, "1") == "0" else _built(root, out)


def enable(root: Path = ROOT, out: Path = NATIVE_DIR) -> bool:
    """Serve the compiled modules if the build matches the sources (once per process);
    whether they are served."""
    if "enabled" in _state:
        return bool(_state["enabled"])
    st, files = plan(root, out)
    _state["status"] = st
    if st == "stale":
        warnings.warn(f"the compiled alerting core in {out} does not match the sources: "
                      "running the Python sources (rebuild it with `make native`)",
                      RuntimeWarning, stacklevel=2)
    if files:
        sys.meta_path.insert(0, _Finder(files))
    _state["enabled"] = bool(files)
    return bool(files)


def active() -> bool:
    """Whether this process imports the compiled modules."""
    return bool(_state.get("enabled"))


def summarize_warnings(text: str, log: Path) -> str:
    """mypyc's notes in one line when they are all of the kinds it is known to give on these
    sources (it compiles them the way the note says, and a test checks the result); any
    other line is shown in full."""
    lines = [line for line in text.splitlines() if line.strip()]
    expected = [line for line in lines if any(k in line for k in EXPECTED_WARNINGS)]
    other = [line for line in lines if line not in expected]
    out = "".join(f"{line}\n" for line in other)
    if expected:
        out += (f"mypyc: {len(expected)} expected notes ({'; '.join(EXPECTED_WARNINGS)}): "
                f"harmless, listed in {log}\n")
    return out


def build(root: Path = ROOT, out: Path = NATIVE_DIR, force: bool = False) -> bool:
    """Compile :data:`PATTERNS` into ``out`` unless it is current; whether it compiled."""
    if not force and _built(root, out)[0] == "current":
        return False
    want = digest(root)
    from mypyc.build import mypycify   # (build time only: mypy is a dev dependency)
    from setuptools import setup

    files = sources(root)
    stage = Path(tempfile.mkdtemp(prefix="citycc-native-"))
    new = out.with_name(out.name + ".new")
    shutil.rmtree(new, ignore_errors=True)
    cwd = os.getcwd()
    said = io.StringIO()
    try:   # in a scratch directory: the generated C and setuptools' files go there
        os.chdir(stage)
        try:
            with contextlib.redirect_stdout(said):   # mypyc prints its notes on stdout
                ext = mypycify([*MYPY_FLAGS, *map(str, files)], opt_level="3",
                               group_name=GROUP)
        except BaseException:
            print(said.getvalue(), end="")   # type errors: shown in full, the build fails
            raise
        setup(name="citycc-native", ext_modules=ext, script_args=[
            "--quiet", "build_ext", "--build-lib", str(new), "--build-temp", str(stage / "t")])
    finally:
        os.chdir(cwd)
        shutil.rmtree(stage, ignore_errors=True)
    built: dict[str, str] = {}
    for f in new.rglob("*.so"):
        rel = f.relative_to(new)
        built[".".join(rel.parts[:-1] + (rel.name.split(".")[0],))] = rel.as_posix()
    missing = [module_name(p, root) for p in files if module_name(p, root) not in built]
    if missing or f"{GROUP}__mypyc" not in built:
        raise RuntimeError(f"mypyc built no module for {missing or [GROUP]}")
    (new / MANIFEST).write_text(json.dumps({"digest": want, "python": sys.version,
                                            "files": built}, indent=1, sort_keys=True))
    (new / WARNINGS_LOG).write_text(said.getvalue())
    print(summarize_warnings(said.getvalue(), out / WARNINGS_LOG), end="")
    shutil.rmtree(out, ignore_errors=True)
    new.rename(out)
    return True


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["build"]:
        compiled = build(force="--force" in args)
        print(f"compiled alerting core: {'built' if compiled else 'up to date'} in {NATIVE_DIR}")
        return 0
    if args[:1] == ["status"]:
        print(status())
        return 0
    print("usage: python -m citycc.native build [--force] | status", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
