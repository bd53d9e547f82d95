"""``python -m app bench --record``: what recording a run costs.

The same run of N no-op tasks through one spawned worker, with its full event stream
consumed as a window would, once without recording and once recording to a file, round
after round (interleaved, so noise hits both alike; each side's best round is kept). It
reports the throughput ratio (recording on / off), the file's size per 100,000 tasks, and
how many events the recorder had to drop (none, unless the disk cannot keep up).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

from app.bench.common import (
    BenchError,
    DoneCounter,
    NoopTask,
    check_collected,
    met,
    say,
    submit_all,
    wait_done,
    wait_ready,
)
from app.core import WorkingProcessFacade, read_run

# key -> (comparison, threshold, how it reads in the table)
TARGETS: dict[str, tuple[str, float, str]] = {
    "record_ratio": (">=", 0.8, ">= 0.8"),
    "record_mb_per_100k": ("<", 40.0, "< 40"),
}


def one_round(n: int, timeout: float, path: Path | None) -> tuple[float, dict[str, Any]]:
    """Tasks/s from the first submit to the last DONE event read, and the recording's
    figures when ``path`` is given (the file is read back, so a bad one is an error)."""
    facade = WorkingProcessFacade(workers=1, record=path if path is not None else False)
    try:
        deadline = time.monotonic() + timeout
        wait_ready(facade, deadline)
        tasks = [NoopTask(f"t{i}") for i in range(n)]
        counter = DoneCounter()
        start = time.perf_counter()
        submit_all(facade, tasks, counter)
        wait_done(facade, n, deadline, counter)
        elapsed = time.perf_counter() - start
        check_collected(facade.collect_tasks(timeout=timeout), n)
    finally:
        facade.close()
    if path is None:
        return n / elapsed, {}
    run = read_run(path)
    done = sum(1 for t in run.tasks().values() if t.state.name == "DONE")
    if not run.complete or done != n or run.problems:
        raise BenchError(f"the recording holds {done} DONE of {n}: {run.problems}")
    return n / elapsed, {
        "bytes": path.stat().st_size,
        "lines": len(run.events) + 1,
        "dropped": run.dropped,
    }


def run(n: int, rounds: int, timeout: float) -> dict[str, Any]:
    """Interleaved rounds, off then on; the best of each."""
    off: list[float] = []
    on: list[float] = []
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-record-") as folder:
        for r in range(1, rounds + 1):
            say(f"round {r}/{rounds}: {n:,} tasks, not recorded")
            off.append(one_round(n, timeout, None)[0])
            say(f"round {r}/{rounds}: {n:,} tasks, recorded")
            rate, figures = one_round(n, timeout, Path(folder) / f"round-{r}.jsonl")
            on.append(rate)
    best_off, best_on = max(off), max(on)
    return {
        "n": n,
        "rounds": rounds,
        "tasks_per_s_off": round(best_off),
        "tasks_per_s_on": round(best_on),
        "record_ratio": round(best_on / best_off, 3),
        "record_mb_per_100k": round(figures["bytes"] / 1e6 * 100_000 / n, 2),
        "bytes_per_task": round(figures["bytes"] / n, 1),
        "lines": figures["lines"],
        "dropped": figures["dropped"],
        "targets": {key: text for key, (_, _, text) in TARGETS.items()},
    }


def format_table(report: dict[str, Any]) -> str:
    rows = [  # label, figure, the target's key (or the target itself)
        ("tasks/s, not recorded", f"{report['tasks_per_s_off']:,}", ""),
        ("tasks/s, recorded", f"{report['tasks_per_s_on']:,}", ""),
        ("record_ratio (on / off)", f"{report['record_ratio']:.3f}", "record_ratio"),
        ("record_mb_per_100k", f"{report['record_mb_per_100k']:.2f}", "record_mb_per_100k"),
        ("bytes per task", f"{report['bytes_per_task']:.1f}", ""),
        ("events dropped by the recorder", f"{report['dropped']:,}", "0"),
    ]
    lines = [
        f"Recording {report['n']:,} no-op tasks, 1 worker, best of {report['rounds']} rounds",
        "",
    ]
    for label, value, key in rows:
        target, verdict = key, ""
        if key in TARGETS:
            op, threshold, target = TARGETS[key]
            verdict = "met" if met(op, threshold, report[key]) else "MISSED"
        lines.append(f"  {label:<34} {value:>12}  {target:<7} {verdict}".rstrip())
    return "\n".join(lines)


def benchmark(n: int, rounds: int, timeout: float, as_json: bool) -> int:
    """Runs and prints the benchmark; 1 when a figure could not be measured."""
    try:
        report = run(n, rounds, timeout)
    except BenchError as exc:
        say(f"failed: {exc}")
        return 1
    print(json.dumps(report, indent=2) if as_json else format_table(report), flush=True)
    return 0
