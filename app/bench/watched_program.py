"""The program ``bench --gui --watch`` watches: N no-op tasks through one worker, recorded
to a file, timed from its first submission to its last DONE, as any program of a user's
would run under ``WORKER_MONITOR_RECORD``.

``python -m app.bench.watched_program RUN OUT -n N`` makes its facade (which writes the
run's header at once), waits until its worker is ready, then waits for a line on stdin
before it submits: the benchmark opens its window on the file first, so that the window
follows the whole run. It then writes to OUT, as JSON, ``start`` (``time.monotonic()`` at
its first submission: a system-wide clock, which the watching process reads too) and
``program_s`` (its own time). It never loads Qt.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from app.bench.common import (
    BenchError,
    DoneCounter,
    NoopTask,
    check_collected,
    say,
    submit_all,
    wait_done,
    wait_ready,
)
from app.core import WorkingProcessFacade

GO = "go"  # the line on stdin that starts the submissions


def run(record: Path, out: Path, n: int, timeout: float) -> None:
    """Record n no-op tasks to ``record``; their time goes to ``out``."""
    with WorkingProcessFacade(workers=1, record=record) as facade:
        deadline = time.monotonic() + timeout
        wait_ready(facade, deadline)
        tasks = [NoopTask(f"t{i}") for i in range(n)]
        if sys.stdin.readline().strip() != GO:
            raise BenchError("the benchmark never said go (its stdin closed)")
        counter = DoneCounter()
        start = time.monotonic()
        submit_all(facade, tasks, counter)
        wait_done(facade, n, deadline, counter)
        elapsed = time.monotonic() - start
        check_collected(facade.collect_tasks(timeout=timeout), n)
    out.write_text(json.dumps({"start": start, "program_s": elapsed}))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m app.bench.watched_program",
        description="Record N no-op tasks through one worker, after a 'go' line on stdin; "
        "write the run's time to OUT.",
    )
    parser.add_argument("record", type=Path, help="the run file to record to")
    parser.add_argument("out", type=Path, help="where its time goes (JSON)")
    parser.add_argument("-n", type=int, required=True, help="no-op tasks")
    parser.add_argument("--timeout", type=float, required=True, help="seconds it may take")
    args = parser.parse_args(argv)
    try:
        run(args.record, args.out, args.n, args.timeout)
    except BenchError as exc:
        say(f"the watched program failed: {exc}")
        return 1
    return 0


if __name__ == "__main__":  # spawned workers import this module too, under another name
    sys.exit(main(sys.argv[1:]))
