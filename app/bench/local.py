"""``python -m app bench``: the facade's speed, next to what the standard library offers.

Every contender runs N no-op tasks through one spawned worker, so what is timed is the cost
of getting a task to a worker and its result back to the caller:

- the facade, with its full event stream consumed (every TaskChanged up to DONE);
- ``concurrent.futures.ProcessPoolExecutor(max_workers=1)``;
- ``multiprocessing.Pool(1).apply_async``;
- a raw floor: a ``Queue`` to a bare worker loop and a ``SimpleQueue`` back, no bookkeeping.

Worker start-up is never timed: each contender is warmed up (or, for the facade, waited on
until its worker is ready) before the clock starts. Rounds are interleaved, so noise on the
machine hits every contender alike, and each contender's best round is kept: noise only
ever slows a run down, so the fastest round is the least disturbed one.

It also measures what the issue's other targets name: SIGKILL-to-WorkerDied latency,
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
from multiprocessing.queues import Queue, SimpleQueue
from pathlib import Path
from typing import Any

from app.core import (
    EventsDropped,
    Task,
    TaskChanged,
    TaskState,
    WorkerDied,
    WorkerStarted,
    WorkingProcessFacade,
)
from app.core.front import FacadeFront

CTX = multiprocessing.get_context("spawn")
POLL = 0.05  # the poll_events wait a GUI poller would use
MB = 1024 * 1024
RSS_MARKER = "BENCH-RSS "  # prefixes the child's result line, so worker logs cannot mix in
_BAD_FATES = frozenset(TaskState) - {
    TaskState.NEW,
    TaskState.PENDING,
    TaskState.RUNNING,
    TaskState.DONE,
}

# key -> (comparison, threshold, how it reads in the table)
TARGETS: dict[str, tuple[str, float, str]] = {
    "ratio_vs_ppe": (">=", 6.0, ">= 6x"),
    "ratio_vs_raw": (">=", 0.7, ">= 0.7x"),
    "kill_to_event_ms": ("<", 20.0, "< 20 ms"),
    "submit_p99_us_live": ("<", 100.0, "< 100 us"),
    "submit_p99_us_dead": ("<", 100.0, "< 100 us"),
}


class BenchError(RuntimeError):
    """A measurement could not be made (something hung, refused or ended in the wrong state)."""


class NoopTask(Task):
    """The cheapest possible task, so that what is left to time is the facade's own cost."""

    def do_task(self) -> None:
        return None


def _noop(i: int) -> None:
    """The baselines' task: module level, because spawn pickles functions by reference."""
    return None


def _raw_worker(inbox: Queue[Any], outbox: SimpleQueue[Any]) -> None:
    """The raw floor's worker: no bookkeeping at all, just run and send back until None."""
    get, put = inbox.get, outbox.put
    while (item := get()) is not None:
        put((item[0], _noop(item[0])))


def _say(message: str) -> None:
    """Progress goes to stderr, so ``--json`` output on stdout stays one clean object."""
    print(f"bench: {message}", file=sys.stderr, flush=True)


def _check(deadline: float, what: str) -> None:
    """Turn a facade that stopped answering into an error instead of a hung benchmark."""
    if time.monotonic() > deadline:
        raise BenchError(f"timed out: {what}")


# -- waiting on the facade, always on its events (never a fixed sleep) --------------------------


def _wait_ready(facade: FacadeFront, deadline: float) -> None:
    """Wait until every worker is up and ready, so spawn time stays out of the figures."""
    while not all(w.alive and w.ready for w in facade.worker_info()):
        _check(deadline, f"worker never became ready: {facade.worker_info()!r}")
        facade.poll_events(POLL)


def _wait_done(facade: FacadeFront, expected: int, deadline: float) -> None:
    """Consume the event stream until ``expected`` tasks reached DONE; any other fate fails.

    A caller that submits more than the facade keeps unpolled sees ``EventsDropped``: from
    then on it counts the tasks' own states instead.
    """
    done = 0
    by_state = False
    while done < expected:
        events = facade.poll_events(POLL)
        if by_state or (events and isinstance(events[0], EventsDropped)):
            by_state = True
            tasks = facade.tasks
            bad = [t for t in tasks if t.state in _BAD_FATES]
            if bad:
                raise BenchError(f"no-op task ended {bad[0].state.name}: {bad[0]!r}")
            done = sum(t.state is TaskState.DONE for t in tasks)
        else:
            for event in events:
                if isinstance(event, TaskChanged):
                    if event.state is TaskState.DONE:
                        done += 1
                    elif event.state in _BAD_FATES:
                        raise BenchError(f"no-op task ended {event.state.name}: {event!r}")
        _check(deadline, f"only {done} of {expected} tasks reported DONE")


def _wait_died(facade: FacadeFront, pid: int, deadline: float) -> list[Any]:
    """Poll until the WorkerDied event for ``pid`` arrives; return every event seen meanwhile."""
    seen: list[Any] = []
    while not any(isinstance(e, WorkerDied) and e.pid == pid for e in seen):
        _check(deadline, f"no WorkerDied event for killed worker pid {pid}")
        seen.extend(facade.poll_events(POLL))
    return seen


def _check_collected(tasks: list[Task], expected: int) -> None:
    """A benchmark of a facade that loses tasks would be meaningless: make sure none were."""
    done = sum(1 for t in tasks if t.state is TaskState.DONE)
    if len(tasks) != expected or done != expected:
        raise BenchError(f"collect_tasks returned {len(tasks)} tasks, {done} DONE; {expected=}")


def _close(facade: FacadeFront) -> None:
    """End the facade whatever happened; after a successful collect this is a no-op."""
    facade.close()


def _submit_all(facade: FacadeFront, tasks: list[NoopTask]) -> None:
    """Submit every task; a refusal means the figure would be wrong, so it is an error."""
    submit = facade.process_task
    for task in tasks:
        if not submit(task):
            raise BenchError(f"process_task refused {task.ID}: {task.state.name}, {task.error}")


# -- throughput: one round of each contender ----------------------------------------------------


def facade_round(n: int, timeout: float) -> float:
    """Tasks/s of the facade, from the first submit until the last DONE event is consumed."""
    facade = WorkingProcessFacade(workers=1)
    try:
        deadline = time.monotonic() + timeout
        _wait_ready(facade, deadline)
        tasks = [NoopTask(f"t{i}") for i in range(n)]
        start = time.perf_counter()
        _submit_all(facade, tasks)
        _wait_done(facade, n, deadline)
        elapsed = time.perf_counter() - start
        _check_collected(facade.collect_tasks(timeout=timeout), n)
    finally:
        _close(facade)
    return n / elapsed


def ppe_round(n: int, timeout: float) -> float:
    """Tasks/s of ProcessPoolExecutor: submit N calls, wait for every future."""
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=CTX) as pool:
        pool.submit(_noop, -1).result(timeout=timeout)
        start = time.perf_counter()
        futures = [pool.submit(_noop, i) for i in range(n)]
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
        pool.apply(_noop, (-1,))
        start = time.perf_counter()
        results = [pool.apply_async(_noop, (i,)) for i in range(n)]
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


CONTENDERS: dict[str, tuple[str, Callable[[int, float], float]]] = {
    "facade": ("facade (full event stream)", facade_round),
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
            _say(f"round {r}/{rounds}: {label}, {n:,} tasks")
            try:
                per_round[key].append(run(n, timeout))
            except Exception as exc:
                errors[key] = f"{type(exc).__name__}: {exc}"
                _say(f"{label} failed: {errors[key]}")
    return per_round


# -- latency -------------------------------------------------------------------------------------


def measure_kill_to_event(kills: int, timeout: float) -> list[float]:
    """Milliseconds from SIGKILL of an idle worker to poll_events returning its WorkerDied."""
    facade = WorkingProcessFacade(workers=1, restart=True)
    samples: list[float] = []
    try:
        _wait_ready(facade, time.monotonic() + timeout)
        for _ in range(kills):
            samples.append(_kill_once(facade, time.monotonic() + timeout))
        facade.collect_tasks(timeout=timeout)
    finally:
        _close(facade)
    return samples


def _kill_once(facade: WorkingProcessFacade, deadline: float) -> float:
    """Kill the (idle, ready) worker, time its WorkerDied, then wait for its replacement."""
    pid = facade.worker_info()[0].pid
    if pid is None:
        raise BenchError(f"ready worker has no pid: {facade.worker_info()!r}")
    start = time.perf_counter()
    os.kill(pid, signal.SIGKILL)
    seen = _wait_died(facade, pid, deadline)
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
        _check(deadline, f"no ready replacement after killing {old_pid}: {info!r}, {started=}")
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
        _wait_ready(facade, deadline)
        tasks = [NoopTask(f"live{i}") for i in range(count)]
        samples, accepted = _time_submits(facade, tasks)
        if accepted != count:
            raise BenchError(f"live worker: process_task accepted {accepted} of {count}")
        _wait_done(facade, count, deadline)
        _check_collected(facade.collect_tasks(timeout=timeout), count)
    finally:
        _close(facade)
    return _p99_us(samples)


def measure_submit_dead(count: int, timeout: float) -> float:
    """p99 of process_task once the only worker is dead and restart is off (tasks end LOST)."""
    facade = WorkingProcessFacade(workers=1, restart=False)
    try:
        deadline = time.monotonic() + timeout
        _wait_ready(facade, deadline)
        pid = facade.worker_info()[0].pid
        if pid is None:
            raise BenchError(f"ready worker has no pid: {facade.worker_info()!r}")
        os.kill(pid, signal.SIGKILL)
        _wait_died(facade, pid, deadline)
        if facade.worker_info()[0].alive:
            raise BenchError(f"worker still alive after its WorkerDied: {facade.worker_info()!r}")
        tasks = [NoopTask(f"dead{i}") for i in range(count)]
        samples, accepted = _time_submits(facade, tasks)
        lost = sum(1 for t in tasks if t.state is TaskState.LOST)
        if accepted or lost != count:
            raise BenchError(f"dead worker: {accepted} accepted, {lost} LOST of {count}")
        facade.collect_tasks(timeout=timeout)
    finally:
        _close(facade)
    return _p99_us(samples)


# -- memory, in a fresh process ------------------------------------------------------------------


def _proc_status_bytes(field: str) -> int | None:
    """A ``Vm*`` figure of /proc/self/status (Linux), in bytes."""
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    return None


def _max_rss_bytes() -> int:
    """getrusage's peak RSS, which is kilobytes on Linux but bytes on macOS."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def _current_rss() -> tuple[int, str]:
    """RSS now: /proc first, psutil where there is no /proc, the peak as a last resort."""
    rss = _proc_status_bytes("VmRSS")
    if rss is not None:
        return rss, "VmRSS"
    try:
        import psutil
    except ImportError:
        return _max_rss_bytes(), "ru_maxrss"
    return int(psutil.Process().memory_info().rss), "psutil"


def _reset_peak() -> bool:
    """Linux resets VmHWM to the current RSS on a '5' written to clear_refs: peak from now on."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _peak_rss() -> tuple[int, str]:
    """Peak RSS so far: VmHWM on Linux, getrusage elsewhere."""
    peak = _proc_status_bytes("VmHWM")
    return (peak, "VmHWM") if peak is not None else (_max_rss_bytes(), "ru_maxrss")


def rss_child(count: int, timeout: float) -> dict[str, Any]:
    """In a fresh process: peak RSS growth of the parent for ``count`` recorded DONE tasks."""
    facade = WorkingProcessFacade(workers=1)
    try:
        deadline = time.monotonic() + timeout
        _wait_ready(facade, deadline)
        base, base_how = _current_rss()
        reset = _reset_peak()
        start = time.perf_counter()
        submit = facade.process_task
        for i in range(count):
            if not submit(NoopTask(f"t{i}")):
                raise BenchError(f"process_task refused task t{i}")
        _wait_done(facade, count, deadline)
        elapsed = time.perf_counter() - start
        peak, peak_how = _peak_rss()
        _check_collected(facade.collect_tasks(timeout=timeout), count)
    finally:
        _close(facade)
    return {
        "rss_mb": round((peak - base) / MB, 1),
        "rss_method": f"{peak_how} - {base_how}" + (" (peak reset)" if reset else ""),
        "tasks_per_s": round(count / elapsed),
    }


def measure_rss(count: int, timeout: float) -> dict[str, Any]:
    """Run ``rss_child`` in a fresh interpreter, so earlier measurements cannot raise the peak."""
    root = str(Path(__file__).resolve().parents[1])
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
        _say(f"{name} failed: {errors[name]}")
        return None


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a is not None and b else None


def _met(key: str, value: float | None) -> bool | None:
    if value is None:
        return None
    op, threshold, _ = TARGETS[key]
    return value >= threshold if op == ">=" else value < threshold


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every measurement, in one report (``None`` where one failed, with the reason in errors)."""
    errors: dict[str, str] = {}
    per_round = measure_throughput(args.n, args.rounds, args.timeout, errors)
    best = {
        key: (round(max(v)) if v and key not in errors else None) for key, v in per_round.items()
    }
    report: dict[str, Any] = {
        "n": args.n,
        "rounds": args.rounds,
        "statistic": "best round (highest tasks/s) of each contender",
        **{f"{key}_tasks_per_s": value for key, value in best.items()},
        "ratio_vs_ppe": _ratio(best["facade"], best["ppe"]),
        "ratio_vs_raw": _ratio(best["facade"], best["raw"]),
        "rounds_tasks_per_s": {key: [round(x) for x in v] for key, v in per_round.items()},
    }
    _say(f"SIGKILL -> WorkerDied, {args.kills} kills")
    kills = _attempt(
        "kill_to_event_ms", errors, lambda: measure_kill_to_event(args.kills, args.timeout)
    )
    report["kill_to_event_ms"] = round(statistics.median(kills), 2) if kills else None
    report["kill_to_event_ms_max"] = round(max(kills), 2) if kills else None
    _say(f"process_task latency, {args.submits:,} submits, live then dead worker")
    live = _attempt(
        "submit_p99_us_live", errors, lambda: measure_submit_live(args.submits, args.timeout)
    )
    dead = _attempt(
        "submit_p99_us_dead", errors, lambda: measure_submit_dead(args.submits, args.timeout)
    )
    report["submit_p99_us_live"] = round(live, 1) if live is not None else None
    report["submit_p99_us_dead"] = round(dead, 1) if dead is not None else None
    _say(f"peak memory, {args.rss_tasks:,} tasks, in a fresh process")
    mem = _attempt("rss_100k_mb", errors, lambda: measure_rss(args.rss_tasks, args.timeout))
    report["rss_100k_mb"] = mem["rss_mb"] if mem else None
    report["rss_tasks"] = args.rss_tasks
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
        ("SIGKILL -> WorkerDied, median", "kill_to_event_ms", "ms", 1),
        ("process_task p99, live worker", "submit_p99_us_live", "us", 1),
        ("process_task p99, dead worker", "submit_p99_us_dead", "us", 1),
    ]
    for label, key, unit, digits in figures:
        met = report["targets_met"][key]
        verdict = "" if met is None else ("met" if met else "MISSED")
        rows.append([label, _fmt(report[key], digits), unit, TARGETS[key][2], verdict])
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


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m app bench",
        description="Tasks/s of the worker facade against ProcessPoolExecutor, Pool and a raw "
        "Queue floor; kill-to-event latency; process_task latency; memory for 100k tasks.",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("-n", type=_positive, default=20_000, help="no-op tasks per round")
    parser.add_argument("--rounds", type=_positive, default=3, help="rounds; the best is kept")
    parser.add_argument("--kills", type=_positive, default=20, help="SIGKILLs to time")
    parser.add_argument("--submits", type=_positive, default=20_000, help="timed submits")
    parser.add_argument("--rss-tasks", type=_positive, default=100_000, help=argparse.SUPPRESS)
    parser.add_argument("--timeout", type=float, default=120.0, help=argparse.SUPPRESS)
    parser.add_argument("--_rss-child", type=_positive, dest="rss_child", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 when every figure was measured, whatever the targets say."""
    if argv is not None and "--gui" in argv:
        from app.gui import bench as gui_bench  # Qt only when asked for

        return gui_bench.main(argv)
    if argv is not None and "--dask" in argv:
        from app.bench import on_dask as dask_bench

        return dask_bench.main(argv)
    args = parse_args(argv)
    if args.rss_child is not None:
        print(RSS_MARKER + json.dumps(rss_child(args.rss_child, args.timeout)), flush=True)
        return 0
    # A facade that hangs must not hang the benchmark (or CI): dump where, then exit.
    faulthandler.dump_traceback_later(args.timeout * 5, exit=True)
    try:
        report = run(args)
    finally:
        faulthandler.cancel_dump_traceback_later()
    print(json.dumps(report, indent=2) if args.json else format_table(report), flush=True)
    return 1 if report["errors"] else 0


if __name__ == "__main__":
    # Re-import under its real name, so spawned workers unpickle ``app.bench.NoopTask``
    # rather than a class of ``__main__``.
    from app.bench.local import main as _main

    sys.exit(_main())
