"""``python -m app bench``: the facade's speed, next to what the standard library offers.

Every contender runs N no-op tasks through one spawned worker, so what is timed is the cost
of getting a task to a worker and its result back to the caller:

- the facade, with its full event stream consumed (every TaskChanged up to DONE), with
  worker telemetry on (the default) and off, side by side: what sampling costs;
- ``concurrent.futures.ProcessPoolExecutor(max_workers=1)``;
- ``multiprocessing.Pool(1).apply_async``;
- a raw floor: a ``Queue`` to a bare worker loop and a ``SimpleQueue`` back, no bookkeeping.

Worker start-up is never timed: each contender is warmed up (or, for the facade, waited on
until its worker is ready) before the clock starts. Rounds are interleaved, so noise on the
machine hits every contender alike, and each contender's best round is kept: noise only
ever slows a run down, so the fastest round is the least disturbed one.

It also measures what the issue's other targets name: SIGKILL-to-WorkerDied latency,
``cancel(force=True)``-to-CANCELLED latency (``app.bench.cancel``),
``process_task`` latency with a live and with a dead worker, and the peak memory of 100,000
recorded tasks (in a fresh process, so nothing else inflates the peak). Figures are
reported next to their targets, never asserted: a missed target does not fail the command;
only a measurement that could not be made does (exit status 1).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import faulthandler
import json
import math
import multiprocessing
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.queues import Queue, SimpleQueue
from pathlib import Path
from typing import Any

from app.bench.cancel import measure_cancel_to_event
from app.bench.common import (
    POLL,
    BenchError,
    NoopTask,
    check_collected,
    check_deadline,
    met,
    noop,
    say,
    submit_all,
    wait_died,
    wait_done,
    wait_ready,
)
from app.bench.memory import MB, current_rss, peak_rss, reset_peak
from app.core import TaskState, WorkerStarted, WorkingProcessFacade

CTX = multiprocessing.get_context("spawn")
RSS_MARKER = "BENCH-RSS "  # prefixes the child's result line, so worker logs cannot mix in


@dataclass(frozen=True)
class Options:
    """What ``python -m app bench`` was asked to measure (its defaults are the command line's)."""

    n: int  # no-op tasks per throughput round
    rounds: int  # throughput rounds; each contender's best is kept
    kills: int  # SIGKILLs to time
    submits: int  # process_task calls to time, live and dead worker
    rss_tasks: int  # tasks of the fresh-process memory run
    timeout: float  # seconds any one measurement may take


# key -> (comparison, threshold, how it reads in the table)
TARGETS: dict[str, tuple[str, float, str]] = {
    "ratio_vs_ppe": (">=", 6.0, ">= 6x"),
    "ratio_vs_raw": (">=", 0.7, ">= 0.7x"),
    "telemetry_ratio": (">=", 0.97, ">= 0.97x"),
    "kill_to_event_ms": ("<", 20.0, "< 20 ms"),
    "submit_p99_us_live": ("<", 100.0, "< 100 us"),
    "submit_p99_us_dead": ("<", 100.0, "< 100 us"),
}


def _raw_worker(inbox: Queue[Any], outbox: SimpleQueue[Any]) -> None:
    """The raw floor's worker: no bookkeeping at all, just run and send back until None."""
    get, put = inbox.get, outbox.put
    while (item := get()) is not None:
        noop(item[0])
        put((item[0], None))


# -- throughput: one round of each contender ----------------------------------------------------


def facade_round(n: int, timeout: float, telemetry: bool = True) -> float:
    """Tasks/s of the facade, from the first submit until the last DONE event is consumed."""
    facade = WorkingProcessFacade(workers=1, telemetry=telemetry)
    try:
        deadline = time.monotonic() + timeout
        wait_ready(facade, deadline)
        tasks = [NoopTask(f"t{i}") for i in range(n)]
        start = time.perf_counter()
        submit_all(facade, tasks)
        wait_done(facade, n, deadline)
        elapsed = time.perf_counter() - start
        check_collected(facade.collect_tasks(timeout=timeout), n)
    finally:
        facade.close()
    return n / elapsed


def ppe_round(n: int, timeout: float) -> float:
    """Tasks/s of ProcessPoolExecutor: submit N calls, wait for every future."""
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=CTX) as pool:
        pool.submit(noop, -1).result(timeout=timeout)
        start = time.perf_counter()
        futures = [pool.submit(noop, i) for i in range(n)]
        _, pending = concurrent.futures.wait(futures, timeout=timeout)
        elapsed = time.perf_counter() - start
        if pending:
            raise BenchError(f"{len(pending)} ProcessPoolExecutor futures still pending")
        for future in futures:
            future.result()
    return n / elapsed


def pool_round(n: int, timeout: float) -> float:
    """Tasks/s of Pool.apply_async: N async calls, then wait on every AsyncResult."""
    pool = CTX.Pool(1)
    try:
        pool.apply(noop, (-1,))
        start = time.perf_counter()
        results = [pool.apply_async(noop, (i,)) for i in range(n)]
        for result in results:
            result.wait(timeout)
        elapsed = time.perf_counter() - start
        for result in results:
            result.get(0)
        pool.close()
        pool.join()
    finally:
        pool.terminate()
    return n / elapsed


def raw_round(n: int, timeout: float) -> float:
    """Tasks/s of the floor: a bare loop between a Queue and a SimpleQueue, nothing else."""
    inbox: Queue[Any] = CTX.Queue()
    outbox: SimpleQueue[Any] = CTX.SimpleQueue()
    worker = CTX.Process(target=_raw_worker, args=(inbox, outbox), daemon=True)
    worker.start()
    try:
        inbox.put((-1, None))
        outbox.get()  # the warm-up handshake: the worker is up and its loop running
        start = time.perf_counter()
        for i in range(n):
            inbox.put((i, None))
        for _ in range(n):
            outbox.get()
        elapsed = time.perf_counter() - start
        inbox.put(None)
        worker.join(timeout)
    finally:
        if worker.is_alive():
            worker.kill()
            worker.join()
        inbox.close()
        inbox.join_thread()
        outbox.close()
    return n / elapsed


def quiet_facade_round(n: int, timeout: float) -> float:
    """The same, with worker telemetry off: the difference is what sampling costs."""
    return facade_round(n, timeout, telemetry=False)


CONTENDERS: dict[str, tuple[str, Callable[[int, float], float]]] = {
    "facade": ("facade (full event stream)", facade_round),
    "quiet": ("facade, telemetry off", quiet_facade_round),
    "ppe": ("ProcessPoolExecutor(1)", ppe_round),
    "pool": ("Pool(1).apply_async", pool_round),
    "raw": ("raw Queue -> SimpleQueue floor", raw_round),
}


def measure_throughput(
    n: int, rounds: int, timeout: float, errors: dict[str, str]
) -> dict[str, list[float]]:
    """Interleave the rounds, so a noisy moment hits every contender rather than one."""
    per_round: dict[str, list[float]] = {key: [] for key in CONTENDERS}
    for r in range(1, rounds + 1):
        for key, (label, run) in CONTENDERS.items():
            if key in errors:
                continue
            say(f"round {r}/{rounds}: {label}, {n:,} tasks")
            try:
                per_round[key].append(run(n, timeout))
            except Exception as exc:
                errors[key] = f"{type(exc).__name__}: {exc}"
                say(f"{label} failed: {errors[key]}")
    return per_round


# -- latency -------------------------------------------------------------------------------------


def measure_kill_to_event(kills: int, timeout: float) -> list[float]:
    """Milliseconds from SIGKILL of an idle worker to poll_events returning its WorkerDied."""
    facade = WorkingProcessFacade(workers=1, restart=True)
    samples: list[float] = []
    try:
        wait_ready(facade, time.monotonic() + timeout)
        for _ in range(kills):
            samples.append(_kill_once(facade, time.monotonic() + timeout))
        facade.collect_tasks(timeout=timeout)
    finally:
        facade.close()
    return samples


def _kill_once(facade: WorkingProcessFacade, deadline: float) -> float:
    """Kill the (idle, ready) worker, time its WorkerDied, then wait for its replacement."""
    pid = facade.worker_info()[0].pid
    if pid is None:
        raise BenchError(f"ready worker has no pid: {facade.worker_info()!r}")
    start = time.perf_counter()
    os.kill(pid, signal.SIGKILL)
    seen = wait_died(facade, pid, deadline)
    elapsed = time.perf_counter() - start
    _wait_replaced(facade, pid, seen, deadline)
    return elapsed * 1000


def _wait_replaced(
    facade: WorkingProcessFacade, old_pid: int, seen: list[Any], deadline: float
) -> None:
    """With restart=True a new worker must announce itself (WorkerStarted) and become ready."""
    started = {e.pid for e in seen if isinstance(e, WorkerStarted)} - {old_pid}
    while True:
        info = facade.worker_info()[0]
        if started and info.pid in started and info.alive and info.ready:
            return
        check_deadline(
            deadline, f"no ready replacement after killing {old_pid}: {info!r}, {started=}"
        )
        events = facade.poll_events(POLL)
        started |= {e.pid for e in events if isinstance(e, WorkerStarted)} - {old_pid}


def _time_submits(facade: WorkingProcessFacade, tasks: list[NoopTask]) -> tuple[list[int], int]:
    """Nanoseconds each ``process_task`` call took, and how many it accepted."""
    clock, submit = time.perf_counter_ns, facade.process_task
    samples = [0] * len(tasks)
    accepted = 0
    for i, task in enumerate(tasks):
        t0 = clock()
        ok = submit(task)
        samples[i] = clock() - t0
        accepted += ok
    return samples, accepted


def _p99_us(samples_ns: list[int]) -> float:
    """Nearest-rank p99, in microseconds."""
    ordered = sorted(samples_ns)
    return ordered[math.ceil(0.99 * len(ordered)) - 1] / 1000


def measure_submit_live(count: int, timeout: float) -> float:
    """p99 of process_task while the worker is alive and busy with the earlier submits."""
    facade = WorkingProcessFacade(workers=1)
    try:
        deadline = time.monotonic() + timeout
        wait_ready(facade, deadline)
        tasks = [NoopTask(f"live{i}") for i in range(count)]
        samples, accepted = _time_submits(facade, tasks)
        if accepted != count:
            raise BenchError(f"live worker: process_task accepted {accepted} of {count}")
        wait_done(facade, count, deadline)
        check_collected(facade.collect_tasks(timeout=timeout), count)
    finally:
        facade.close()
    return _p99_us(samples)


def measure_submit_dead(count: int, timeout: float) -> float:
    """p99 of process_task once the only worker is dead and restart is off (tasks end LOST)."""
    facade = WorkingProcessFacade(workers=1, restart=False)
    try:
        deadline = time.monotonic() + timeout
        wait_ready(facade, deadline)
        pid = facade.worker_info()[0].pid
        if pid is None:
            raise BenchError(f"ready worker has no pid: {facade.worker_info()!r}")
        os.kill(pid, signal.SIGKILL)
        wait_died(facade, pid, deadline)
        if facade.worker_info()[0].alive:
            raise BenchError(f"worker still alive after its WorkerDied: {facade.worker_info()!r}")
        tasks = [NoopTask(f"dead{i}") for i in range(count)]
        samples, accepted = _time_submits(facade, tasks)
        lost = sum(1 for t in tasks if t.state is TaskState.LOST)
        if accepted or lost != count:
            raise BenchError(f"dead worker: {accepted} accepted, {lost} LOST of {count}")
        facade.collect_tasks(timeout=timeout)
    finally:
        facade.close()
    return _p99_us(samples)


# -- memory, in a fresh process ------------------------------------------------------------------


def rss_child(count: int, timeout: float) -> dict[str, Any]:
    """In a fresh process: peak RSS growth of the parent for ``count`` recorded DONE tasks."""
    facade = WorkingProcessFacade(workers=1)
    try:
        deadline = time.monotonic() + timeout
        wait_ready(facade, deadline)
        base, base_how = current_rss()
        reset = reset_peak()
        start = time.perf_counter()
        submit = facade.process_task
        for i in range(count):
            if not submit(NoopTask(f"t{i}")):
                raise BenchError(f"process_task refused task t{i}")
        wait_done(facade, count, deadline)
        elapsed = time.perf_counter() - start
        peak, peak_how = peak_rss()
        check_collected(facade.collect_tasks(timeout=timeout), count)
    finally:
        facade.close()
    return {
        "rss_mb": round((peak - base) / MB, 1),
        "rss_method": f"{peak_how} - {base_how}" + (" (peak reset)" if reset else ""),
        "tasks_per_s": round(count / elapsed),
    }


def measure_rss(count: int, timeout: float) -> dict[str, Any]:
    """Run ``rss_child`` in a fresh interpreter, so earlier measurements cannot raise the peak."""
    root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    cmd = [sys.executable, "-m", "app.bench.local", "--_rss-child", str(count)]
    cmd += ["--timeout", str(timeout)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout + 30)
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"memory child did not finish in {timeout + 30:.0f} s") from exc
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RSS_MARKER):
            return dict(json.loads(line.removeprefix(RSS_MARKER)))
    tail = "\n".join(proc.stderr.strip().splitlines()[-8:])
    raise BenchError(f"memory child exited {proc.returncode} without a result:\n{tail}")


# -- putting it together ---------------------------------------------------------------------


def _attempt(name: str, errors: dict[str, str], run: Callable[[], Any]) -> Any:
    """Run one measurement; a failure is recorded and the others still run."""
    try:
        return run()
    except Exception as exc:
        errors[name] = f"{type(exc).__name__}: {exc}"
        say(f"{name} failed: {errors[name]}")
        return None


def _ratio(a: float | None, b: float | None, digits: int = 2) -> float | None:
    return round(a / b, digits) if a is not None and b else None


def _met(key: str, value: float | None) -> bool | None:
    if value is None:
        return None
    op, threshold, _ = TARGETS[key]
    return met(op, threshold, value)


def run(options: Options) -> dict[str, Any]:
    """Every measurement, in one report (``None`` where one failed, with the reason in errors)."""
    errors: dict[str, str] = {}
    per_round = measure_throughput(options.n, options.rounds, options.timeout, errors)
    best = {
        key: (round(max(v)) if v and key not in errors else None) for key, v in per_round.items()
    }
    report: dict[str, Any] = {
        "n": options.n,
        "rounds": options.rounds,
        "statistic": "best round (highest tasks/s) of each contender",
        **{f"{key}_tasks_per_s": value for key, value in best.items()},
        "ratio_vs_ppe": _ratio(best["facade"], best["ppe"]),
        "ratio_vs_raw": _ratio(best["facade"], best["raw"]),
        "telemetry_ratio": _ratio(best["facade"], best["quiet"], 3),
        "rounds_tasks_per_s": {key: [round(x) for x in v] for key, v in per_round.items()},
    }
    say(f"SIGKILL -> WorkerDied, {options.kills} kills")
    kills = _attempt(
        "kill_to_event_ms", errors, lambda: measure_kill_to_event(options.kills, options.timeout)
    )
    report["kill_to_event_ms"] = round(statistics.median(kills), 2) if kills else None
    report["kill_to_event_ms_max"] = round(max(kills), 2) if kills else None
    say(f"cancel(force=True) -> CANCELLED, {options.kills} cancels")
    cancels = _attempt(
        "cancel_to_event_ms",
        errors,
        lambda: measure_cancel_to_event(options.kills, options.timeout),
    )
    report["cancel_to_event_ms"] = round(statistics.median(cancels), 2) if cancels else None
    report["cancel_to_event_ms_max"] = round(max(cancels), 2) if cancels else None
    say(f"process_task latency, {options.submits:,} submits, live then dead worker")
    live = _attempt(
        "submit_p99_us_live", errors, lambda: measure_submit_live(options.submits, options.timeout)
    )
    dead = _attempt(
        "submit_p99_us_dead", errors, lambda: measure_submit_dead(options.submits, options.timeout)
    )
    report["submit_p99_us_live"] = round(live, 1) if live is not None else None
    report["submit_p99_us_dead"] = round(dead, 1) if dead is not None else None
    say(f"peak memory, {options.rss_tasks:,} tasks, in a fresh process")
    mem = _attempt("rss_100k_mb", errors, lambda: measure_rss(options.rss_tasks, options.timeout))
    report["rss_100k_mb"] = mem["rss_mb"] if mem else None
    report["rss_tasks"] = options.rss_tasks
    report["rss_method"] = mem["rss_method"] if mem else None
    report["targets"] = {key: text for key, (_, _, text) in TARGETS.items()}
    report["targets_met"] = {key: _met(key, report[key]) for key in TARGETS}
    report["python"] = platform.python_version()
    report["cpus"] = os.cpu_count()
    report["errors"] = errors
    return report


def _fmt(value: float | None, digits: int) -> str:
    return "failed" if value is None else f"{value:,.{digits}f}"


def format_table(report: dict[str, Any]) -> str:
    """A readable, aligned table: figure, unit, target, and whether the target was met."""
    rows = [
        [label, _fmt(report[f"{key}_tasks_per_s"], 0), "tasks/s", "", ""]
        for key, (label, _) in CONTENDERS.items()
    ]
    figures = [
        ("facade / ProcessPoolExecutor", "ratio_vs_ppe", "x", 2),
        ("facade / raw floor", "ratio_vs_raw", "x", 2),
        ("telemetry on / off (cost <= 3%)", "telemetry_ratio", "x", 3),
        ("SIGKILL -> WorkerDied, median", "kill_to_event_ms", "ms", 1),
        ("process_task p99, live worker", "submit_p99_us_live", "us", 1),
        ("process_task p99, dead worker", "submit_p99_us_dead", "us", 1),
    ]
    for label, key, unit, digits in figures:
        met = report["targets_met"][key]
        verdict = "" if met is None else ("met" if met else "MISSED")
        rows.append([label, _fmt(report[key], digits), unit, TARGETS[key][2], verdict])
    for label, key in (
        ("cancel(force=True) -> CANCELLED, median", "cancel_to_event_ms"),
        ("cancel(force=True) -> CANCELLED, worst", "cancel_to_event_ms_max"),
    ):
        rows.append([label, _fmt(report[key], 1), "ms", "(reported only)", ""])
    rss_label = f"peak RSS growth, {report['rss_tasks']:,} tasks"
    rows.append([rss_label, _fmt(report["rss_100k_mb"], 1), "MB", "(reported only)", ""])
    rows.insert(0, ["measure", "figure", "", "target", ""])
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    head = (
        f"Worker benchmark: {report['n']:,} no-op tasks through 1 spawned worker, best of "
        f"{report['rounds']} rounds (Python {report['python']}, {report['cpus']} CPUs)"
    )
    lines = [head, ""]
    for label, figure, unit, target, verdict in rows:
        unit = "" if figure == "failed" else unit
        lines.append(
            f"{label:<{widths[0]}}  {figure:>{widths[1]}} {unit:<{widths[2]}}  "
            f"{target:<{widths[3]}}  {verdict}"
        )
    lines += ["", "Targets are reported, not enforced: a missed one does not fail the command."]
    lines += [f"error in {name}: {why}" for name, why in report["errors"].items()]
    return "\n".join(line.rstrip() for line in lines)


def benchmark(options: Options, as_json: bool) -> int:
    """Run the benchmark and print it; 0 when every figure was measured, whatever the targets
    say."""
    # A facade that hangs must not hang the benchmark (or CI): dump where, then exit.
    faulthandler.dump_traceback_later(options.timeout * 5, exit=True)
    try:
        report = run(options)
    finally:
        faulthandler.cancel_dump_traceback_later()
    print(json.dumps(report, indent=2) if as_json else format_table(report), flush=True)
    return 1 if report["errors"] else 0


def rss_child_main(argv: list[str]) -> int:
    """``python -m app.bench.local --_rss-child COUNT``: the fresh process of ``measure_rss``,
    which prints its figures on one line after ``RSS_MARKER``."""
    parser = argparse.ArgumentParser(
        prog="python -m app.bench.local",
        description="The memory measurement of python -m app bench, in a fresh process.",
    )
    parser.add_argument("--_rss-child", type=int, dest="count", required=True)
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args(argv)
    print(RSS_MARKER + json.dumps(rss_child(args.count, args.timeout)), flush=True)
    return 0


if __name__ == "__main__":
    # Re-import under its real name, so that nothing the child pickles for its workers
    # belongs to ``__main__``.
    from app.bench.local import rss_child_main as _rss_child_main

    sys.exit(_rss_child_main(sys.argv[1:]))
