"""Long fuzz run (issue 13, "keep it found"): the fuzz suite's targets for a million inputs.

The same strategies and oracles as ``tests/fuzz`` (``tests/fuzz/targets``: ingest, the
alerting engine, websocket frames, the cockpit hub, user regexes, importers), offline (no
broker, no ClickHouse), each entry point for its share of ``--inputs``. Hypothesis only
generates here (no shrinking: every finding is counted, not minimised -- the test suite
minimises), in chunks of inputs spread over ``--jobs`` processes, each chunk with its own
seed derived from ``--seed``. An entry point that has produced ``--stop-after`` findings
that fail the run is not run further (its count says how far it got).

Prints per entry point: inputs tried, crashes (an exception, a hang, an internal-error
refusal), wrong accepts (the oracle says refuse), wrong refusals (valid, yet refused),
wrong codes, lost (neither accepted nor refused), broken (an invariant after accepting),
and inputs/s; then the first findings of each kind. Exit status 1 if there was any crash,
wrong accept, lost or broken input (target: none over 1,000,000 inputs).

Each process that runs chunks has its address space capped (``--max-memory-mb``): an input
that makes an entry point grow without bound is a MemoryError, hence a crash finding with its
case, not a machine out of memory. A worker that dies anyway (killed by a signal, or a
MemoryError outside any entry point) is reported with the chunk it was running, which is run
again alone to tell it from the chunks that only shared its pool; the run goes on.

Usage: python bench/fuzz.py [--inputs 1000000] [--seed 1] [--jobs 2] [--only ingest,hub]
                            [--max-memory-mb 2048]
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import re
import resource
import sys
import time
import zlib
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402

from citycc import native  # noqa: E402
from fuzz.targets import Target, targets  # noqa: E402
from fuzz.verdict import FATAL, KINDS, Tally  # noqa: E402

CHUNK_INPUTS = 2_000
SAMPLES = 3          # findings kept per entry point and kind
MAX_MEMORY_MB = 2_048
Chunk = tuple[str, int, int]   # (entry point, seed, inputs)


class _Enough(BaseException):
    """Stops hypothesis once a chunk has tried its inputs (not an Exception: not a failure)."""


@dataclass
class Result:
    """What one chunk (or, summed, one entry point) found."""

    name: str
    inputs: int = 0
    seconds: float = 0.0
    counts: Counter[str] = field(default_factory=Counter)
    samples: list[tuple[str, str]] = field(default_factory=list)   # (kind, finding + case)

    def add(self, other: "Result") -> None:
        self.inputs += other.inputs
        self.seconds += other.seconds
        self.counts.update(other.counts)
        for kind, text in other.samples:
            self.sample(kind, text)

    def sample(self, kind: str, text: str) -> None:
        """Keep a few findings of each kind, of different kinds of input."""
        what = re.sub(r"[0-9]+", "N", text.split(": ", 1)[-1].split("\n")[0])[:50]
        mine = [t for k, t in self.samples if k == kind]
        if len(mine) < SAMPLES and all(re.sub(r"[0-9]+", "N", t.split(": ", 1)[-1]
                                              .split("\n")[0])[:50] != what for t in mine):
            self.samples.append((kind, text))

    @property
    def fatal(self) -> int:
        return sum(self.counts[k] for k in FATAL)


_TARGETS: dict[str, Target] = {}


def _target(name: str) -> Target:
    if not _TARGETS:
        _TARGETS.update((t.name, t) for t in targets())
    return _TARGETS[name]


def run_chunk(name: str, chunk_seed: int, quota: int) -> Result:
    """Generate cases of target ``name`` until ``quota`` inputs were tried."""
    target, result = _target(name), Result(name)

    @seed(chunk_seed)
    @settings(max_examples=10 ** 9, phases=[Phase.generate], database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(case=target.cases())
    def one(case: Any) -> None:
        try:
            tally = target.check(case)
        except MemoryError as exc:   # (an entry point's own MemoryError is its crash finding)
            tally = Tally(1)
            tally.crash("the check, out of memory", exc)
        result.inputs += tally.inputs
        for f in tally.findings:
            result.counts[f.kind] += 1
            result.sample(f.kind, f"{f}\n        in case: {case!r:.200}")
        if result.inputs >= quota:
            raise _Enough

    start = time.perf_counter()
    try:
        one()
    except _Enough:
        pass
    except Exception as exc:   # the harness itself (a strategy, an oracle): the chunk stops
        result.counts["crash"] += 1
        result.sample("crash", f"crash in the fuzz harness, chunk {(name, chunk_seed, quota)} "
                               f"after {result.inputs} inputs: {type(exc).__name__}: "
                               f"{str(exc)[:300]}")
    result.seconds = time.perf_counter() - start
    return result


def quiet_worker(mb: int) -> None:
    """A process that runs chunks: its memory capped (:func:`cap_memory`) and its logging
    off (the pipeline logs everything it dead-letters). Never the caller's process: a test
    calling :func:`run_chunk` keeps its logging."""
    logging.disable(logging.CRITICAL)
    cap_memory(mb)


def cap_memory(mb: int) -> None:
    """Cap this process's address space at ``mb`` MB (0: no cap): past it an allocation
    fails with MemoryError instead of the kernel killing a process of the machine."""
    if mb > 0:
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit if hard < 0 else min(limit, hard), hard))


def plan(names: list[str], inputs: int, base_seed: int) -> list[tuple[str, int, int]]:
    """Chunks (name, seed, inputs), round-robin over the entry points."""
    chosen = [t for t in targets() if t.name in names]
    total_weight = sum(t.weight for t in chosen)
    queues = []
    for t in chosen:
        quota = max(1, round(inputs * t.weight / total_weight))
        sizes = [CHUNK_INPUTS] * (quota // CHUNK_INPUTS) + ([quota % CHUNK_INPUTS]
                                                             if quota % CHUNK_INPUTS else [])
        queues.append([(t.name, zlib.crc32(f"{base_seed}:{t.name}:{k}".encode()), n)
                       for k, n in enumerate(sizes)])
    out = []
    while any(queues):
        for q in queues:
            if q:
                out.append(q.pop(0))
    return out


def _progress(done: dict[str, Result], planned: int, started: float, final: bool) -> None:
    tried = sum(r.inputs for r in done.values())
    el = time.monotonic() - started
    rate = tried / el if el else 0.0
    left = max(0.0, planned - tried) / rate if rate else 0.0
    counts = Counter[str]()
    for r in done.values():
        counts.update(r.counts)
    line = (f"[{100 * tried / planned:5.1f}%] {tried:,}/{planned:,} inputs, {rate:,.0f}/s, "
            f"{left / 60:.0f} min left; crashes {counts['crash']:,}, wrong accepts "
            f"{counts['wrong_accept']:,}, wrong refusals {counts['wrong_refusal']:,}")
    tty = sys.stderr.isatty()
    print(("\r" if tty else "") + line + ("\n" if final or not tty else ""), end="",
          file=sys.stderr, flush=True)


def run(chunks: list[Chunk], jobs: int, stop_after: int, max_memory_mb: int = MAX_MEMORY_MB
        ) -> dict[str, Result]:
    done = {name: Result(name) for name, _, _ in chunks}
    planned, started, last = sum(n for _, _, n in chunks), time.monotonic(), 0.0
    todo = list(chunks)

    def take(res: Result) -> None:
        nonlocal last
        done[res.name].add(res)
        if time.monotonic() - last > 2:
            _progress(done, planned, started, False)
            last = time.monotonic()

    def runnable() -> Chunk | None:
        while todo:
            chunk = todo.pop(0)
            if done[chunk[0]].fatal < stop_after:
                return chunk
        return None

    if jobs <= 1:
        quiet_worker(max_memory_mb)   # (this process runs the chunks)
        while (chunk := runnable()) is not None:
            take(run_chunk(*chunk))
    else:
        while todo:   # a pool, and a new one after a worker died
            for chunk in _pool(jobs, max_memory_mb, runnable, take):
                take(_alone(chunk, max_memory_mb))
    _progress(done, planned, started, True)
    return done


def _pool(jobs: int, max_memory_mb: int, runnable: Any, take: Any) -> list[Chunk]:
    """Run chunks in ``jobs`` capped processes until there are none left or one dies;
    then the chunks that were running (one of them killed it)."""
    running: dict[Future[Result], Chunk] = {}
    procs: dict[int, Any] = {}   # the pool's processes (it forgets them once broken)
    with ProcessPoolExecutor(jobs, initializer=quiet_worker, initargs=(max_memory_mb,)) as pool:
        while True:
            while len(running) < 2 * jobs and (chunk := runnable()) is not None:
                running[pool.submit(run_chunk, *chunk)] = chunk
                procs.update(getattr(pool, "_processes", None) or {})
            if not running:
                return []
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in finished:
                try:
                    res = fut.result()
                except BrokenProcessPool:
                    lost = sorted(running.values(), key=str)
                    print(f"\nfuzz: a worker process died ({_exit_codes(procs)}) while these "
                          f"chunks ran: {lost}; each runs again alone", file=sys.stderr)
                    return lost
                del running[fut]
                take(res)


def _alone(chunk: Chunk, max_memory_mb: int) -> Result:
    """``chunk`` in a process of its own: its result, or a crash finding naming the chunk
    and how that process ended (its exit code: -9 is SIGKILL, as from the OOM killer) if it
    dies too. A plain process, not a pool: a pool may not tell how its worker ended."""
    ctx = multiprocessing.get_context()
    receive, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_run_and_send, args=(chunk, max_memory_mb, send))
    proc.start()
    send.close()
    try:
        res: Result = receive.recv()
        proc.join()
        return res
    except EOFError:          # it died before it could answer
        proc.join()
        how = f"exit code {proc.exitcode}"
    finally:
        receive.close()
    res = Result(chunk[0])
    res.counts["crash"] += 1
    res.sample("crash", f"crash of the worker process running chunk {chunk} ({how}; "
                        f"memory capped at {max_memory_mb} MB): run it with "
                        f"bench/fuzz.run_chunk{chunk} to see the input")
    return res


def _run_and_send(chunk: Chunk, max_memory_mb: int, send: Any) -> None:
    quiet_worker(max_memory_mb)
    send.send(run_chunk(*chunk))
    send.close()


def _exit_codes(procs: dict[int, Any]) -> str:
    """How a pool's processes ended (-9: SIGKILL, as from the kernel's OOM killer)."""
    for p in procs.values():
        p.join(5)
    codes = [p.exitcode for p in procs.values() if p.exitcode]
    return f"exit code {', '.join(map(str, codes))}" if codes else "exit code unknown"


def report(done: dict[str, Result], elapsed: float, args: argparse.Namespace) -> int:
    total = Result("total")
    print(f"fuzz — {sum(r.inputs for r in done.values()):,} inputs in {elapsed:,.0f} s, seed "
          f"{args.seed}, {args.jobs} job(s); alerting core: "
          f"{'compiled (mypyc)' if native.active() else 'Python sources'}")
    head = ["inputs", "crashes", "wrong acc.", "wrong ref.", "wrong code", "lost", "broken",
            "inputs/s"]
    print(f"  {'entry point':<12}" + "".join(f"{h:>12}" for h in head))
    for name, r in done.items():
        total.add(r)
        _row(name, r)
    _row("total", total)
    for name, r in done.items():
        t = _target(name)
        if r.samples:
            print(f"\n  {name} ({t.entry}): first findings")
            for kind in KINDS:
                for k, text in r.samples:
                    if k == kind:
                        print(f"    {text}")
    stopped = [n for n, r in done.items() if r.fatal >= args.stop_after]
    if stopped:
        print(f"\n  stopped after {args.stop_after} failing findings: {', '.join(stopped)}")
    return 1 if total.fatal else 0


def _row(name: str, r: Result) -> None:
    rate = r.inputs / r.seconds if r.seconds else 0.0
    cells = [r.inputs, r.counts["crash"], r.counts["wrong_accept"], r.counts["wrong_refusal"],
             r.counts["wrong_code"], r.counts["lost"], r.counts["broken"]]
    print(f"  {name:<12}" + "".join(f"{c:>12,}" for c in cells) + f"{rate:>12,.0f}")


def main() -> int:
    names = [t.name for t in targets()]
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--inputs", type=int, default=1_000_000,
                    help="inputs in total, shared between the entry points by weight")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--only", default=",".join(names),
                    help=f"entry points to run, comma-separated (of {', '.join(names)})")
    ap.add_argument("--stop-after", type=int, default=500,
                    help="stop an entry point after this many failing findings")
    ap.add_argument("--max-memory-mb", type=int, default=MAX_MEMORY_MB,
                    help="address space of each process running chunks, in MB (0: no cap); "
                         "past it an input's allocation is a MemoryError, a crash finding")
    args = ap.parse_args()
    chosen = [n for n in args.only.split(",") if n]
    unknown = sorted(set(chosen) - set(names))
    if unknown:
        ap.error(f"unknown entry points {unknown}; known: {names}")
    started = time.monotonic()
    done = run(plan(chosen, args.inputs, args.seed), args.jobs, args.stop_after,
               args.max_memory_mb)
    return report(done, time.monotonic() - started, args)


if __name__ == "__main__":
    sys.exit(main())
