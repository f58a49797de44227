"""What the oracles say about one input: the expectation, the findings, their tally.

A target's check runs inputs through an entry point and :func:`judge`s each outcome against
the input's :class:`Expect`. The tests fail on any finding; ``bench/fuzz.py`` counts them.
"""

from __future__ import annotations

import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

CRASH = "crash"                  # an exception escaped, a hang, or an internal-error refusal
WRONG_ACCEPT = "wrong_accept"    # the oracle says refuse, the entry point accepted
WRONG_REFUSAL = "wrong_refusal"  # a valid input was refused
WRONG_CODE = "wrong_code"        # refused, but not with the code the oracle names
LOST = "lost"                    # neither accepted nor refused, or counted twice
BROKEN = "broken"                # what was accepted broke an invariant (state, snapshot, ...)
KINDS = (CRASH, WRONG_ACCEPT, WRONG_REFUSAL, WRONG_CODE, LOST, BROKEN)
# the kinds that fail bench/fuzz.py (wrong codes and wrong refusals are printed too)
FATAL = (CRASH, WRONG_ACCEPT, LOST, BROKEN)
# refusal codes that mean "a bug was caught by a safety net", not "bad input"
INTERNAL_CODES = frozenset({"internal_error", "internal", "alerting_internal"})
_STABLE = re.compile(r"[a-z][a-z0-9_]*\Z")


@dataclass(frozen=True)
class Expect:
    """What must become of one input: ``accept`` True (valid), False (refused with one of
    ``codes``; empty: any stable code) or None (either; refused with one of ``codes`` if
    any are named). ``why`` names the mutation, for the report."""

    accept: bool | None
    codes: frozenset[str] = frozenset()
    why: str = "valid"


def ok(why: str = "valid") -> Expect:
    return Expect(True, frozenset(), why)


def refuse(*codes: str, why: str) -> Expect:
    return Expect(False, frozenset(codes), why)


def either(why: str = "arbitrary", *codes: str) -> Expect:
    return Expect(None, frozenset(codes), why)


@dataclass(frozen=True)
class Finding:
    kind: str
    where: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind} at {self.where}: {self.detail}"


@dataclass(frozen=True)
class Attempt:
    """What :meth:`Tally.attempt` saw: ``ran`` with its ``value``, or the ``refused``
    exception, or neither (a crash, already counted)."""

    ran: bool
    value: Any = None
    refused: BaseException | None = None


@dataclass
class Tally:
    """Inputs tried and findings, per entry point."""

    inputs: int = 0
    findings: list[Finding] = field(default_factory=list)

    def add(self, kind: str, where: str, detail: str) -> None:
        self.findings.append(Finding(kind, where, detail[:600]))

    def judge(self, expect: Expect, where: str, *, accepted: bool, code: str = "",
              note: str = "") -> None:
        """Count one input and record what is wrong with its outcome, if anything (``note``:
        the refusal's reason, shown with a finding)."""
        self.inputs += 1
        before = len(self.findings)
        self._judge(expect, where, accepted, code)
        if note and len(self.findings) > before:
            last = self.findings[-1]
            self.findings[-1] = Finding(last.kind, last.where, f"{last.detail} ({note[:300]})")

    def _judge(self, expect: Expect, where: str, accepted: bool, code: str) -> None:
        if accepted:
            if expect.accept is False:
                self.add(WRONG_ACCEPT, where, f"{expect.why}: accepted, want "
                         f"{sorted(expect.codes) or 'a refusal'}")
            return
        if code in INTERNAL_CODES:
            self.add(CRASH, where, f"{expect.why}: refused with {code!r} (a bug caught by a "
                                   f"safety net)")
        elif expect.accept is True:
            self.add(WRONG_REFUSAL, where, f"{expect.why}: refused with {code!r}")
        elif not isinstance(code, str) or not _STABLE.match(code):
            self.add(WRONG_CODE, where, f"{expect.why}: refused without a stable code: {code!r}")
        elif expect.codes and code not in expect.codes:
            self.add(WRONG_CODE, where, f"{expect.why}: refused with {code!r}, want one of "
                                        f"{sorted(expect.codes)}")

    def crash(self, where: str, exc: BaseException) -> None:
        self.add(CRASH, where, f"{type(exc).__name__}: {str(exc)[:300]}")

    def attempt(self, seconds: float, where: str, call: Callable[[], Any],
                refusal: type[BaseException] | tuple[type[BaseException], ...] = (),
                crash_where: str = "") -> "Attempt":
        """Run ``call`` as production would (:func:`bounded`). An exception of ``refusal``
        comes back for the caller to judge; any other exception, or a hang, is one input
        and a crash finding (at ``crash_where`` or ``where``)."""
        try:
            with bounded(seconds, where):
                return Attempt(True, call())
        except refusal as exc:
            return Attempt(False, refused=exc)
        except (Exception, Hung) as exc:
            self.inputs += 1
            self.crash(crash_where or where, exc)
            return Attempt(False)

    def merge(self, other: "Tally") -> None:
        self.inputs += other.inputs
        self.findings += other.findings

    def report(self) -> str:
        return "\n".join(str(f) for f in self.findings)

    def assert_clean(self) -> None:
        """For the tests: fail with every finding."""
        assert not self.findings, f"{len(self.findings)} finding(s):\n{self.report()}"


class Hung(BaseException):
    """Raised into code that ran past its time limit. A BaseException, so that no
    ``except Exception`` safety net under test swallows it."""


# Frames a worker's entry point has below Python's default limit of 1000: hypothesis raises
# the limit while a test runs, which hides a RecursionError production would hit.
FREE_FRAMES = 900


@contextmanager
def bounded(seconds: float, what: str) -> Iterator[None]:
    """Run the block as production would: interrupted with :class:`Hung` after ``seconds``
    (a real timer signal: the regex engine and PyYAML are interrupted too) and with
    :data:`FREE_FRAMES` of stack. Off the main thread only the stack is bounded."""
    depth, frame = 0, sys._getframe()   # (the frames below this one)
    while frame.f_back is not None:
        depth, frame = depth + 1, frame.f_back
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(depth + FREE_FRAMES)
    try:
        if threading.current_thread() is not threading.main_thread():
            yield
        else:
            with _timer(seconds, what):
                yield
    finally:
        sys.setrecursionlimit(limit)


@contextmanager
def _timer(seconds: float, what: str) -> Iterator[None]:
    def fire(signum: int, frame: object) -> None:
        raise Hung(f"{what} still running after {seconds:g} s")

    def unraisable(info: "sys.UnraisableHookArgs") -> None:
        if not isinstance(info.exc_value, Hung):   # (one raised where Python ignores it)
            hook(info)

    previous, hook = signal.signal(signal.SIGALRM, fire), sys.unraisablehook
    sys.unraisablehook = unraisable
    started = time.monotonic()
    # and again every 0.2 s: a Hung raised where Python ignores it (a gc callback, a
    # __del__) must not let the block run on
    outer, outer_interval = signal.setitimer(signal.ITIMER_REAL, seconds, 0.2)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        sys.unraisablehook = hook
        if outer:   # a timer that was running (pytest-timeout's): it runs on
            left = max(outer - (time.monotonic() - started), 0.001)
            signal.setitimer(signal.ITIMER_REAL, left, outer_interval)
