"""``python -m app trace FILE OUT.json``: a recorded run in the Chrome trace event format,
for Perfetto (ui.perfetto.dev) and ``chrome://tracing``.

One track per worker process (its pid), one slice per task attempt, named by the task's
ID and coloured by how the attempt ended (``cname``), and an instant event where each
worker died. Times are microseconds since the run began.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

from app.core import RecordedRun
from app.reports.report import open_run, reason, say
from app.teaching.export import write_atomically

COLOURS = {
    "DONE": "good",
    "FAILED": "bad",
    "CRASHED": "terrible",
    "TIMED_OUT": "yellow",
    "CANCELLED": "grey",
    "LOST": "black",
    "PENDING": "olive",  # the attempt was taken back: Dask runs it again elsewhere
    "RUNNING": "generic_work",  # still running when the recording ends
}
"""An attempt's outcome -> a colour name of the trace viewers' own palette."""


def trace_events(run: RecordedRun) -> list[dict[str, Any]]:
    """The run's Chrome trace events: metadata, one slice per attempt, one instant per death."""
    out: list[dict[str, Any]] = []
    names: dict[int, str] = {}  # pid -> its track's name
    running: dict[str, tuple[float, int | None, int]] = {}  # ID -> since, pid, attempt
    attempts: dict[str, int] = {}
    last_t = 0.0
    for event in run.events:
        t = float(event["t"])
        last_t = max(last_t, t)
        kind = event["e"]
        if kind == "worker_started" and isinstance(event.get("pid"), int):
            names[event["pid"]] = f"worker-{event.get('worker')} (pid {event['pid']})"
        elif kind == "submit":
            attempts[event["id"]] = event.get("attempt") or 1
        elif kind == "worker_died" and isinstance(event.get("pid"), int):
            how = event.get("signal") or f"exit code {event.get('exitcode')}"
            out.append(
                {
                    "name": f"died: {how}",
                    "ph": "i",
                    "s": "p",
                    "ts": _us(t),
                    "pid": event["pid"],
                    "tid": event["pid"],
                    "args": {"exitcode": event.get("exitcode"), "signal": event.get("signal")},
                }
            )
        elif kind == "state":
            task_id, state = event["id"], event["state"]
            if state == "RUNNING":
                if task_id not in running:
                    running[task_id] = (t, event.get("pid"), attempts.get(task_id, 1))
                continue
            began = running.pop(task_id, None)
            if state == "PENDING" and began is None:
                continue
            if began is None:  # ended without a start seen: its recorded start, if any
                if not isinstance(event.get("started"), int | float):
                    continue
                began = (float(event["started"]), event.get("pid"), attempts.get(task_id, 1))
            since, pid, attempt = began
            out.append(_slice(task_id, state, since, t, event.get("pid") or pid, attempt, event))
    for task_id, (since, pid, attempt) in running.items():
        out.append(_slice(task_id, "RUNNING", since, last_t, pid, attempt, {}))
    pids = {e["pid"] for e in out if isinstance(e.get("pid"), int)} | set(names)
    meta = []
    for pid in sorted(pids):
        name = names.get(pid, f"worker (pid {pid})")
        meta.append({"name": "process_name", "ph": "M", "pid": pid, "args": {"name": name}})
        meta.append(
            {"name": "thread_name", "ph": "M", "pid": pid, "tid": pid, "args": {"name": "tasks"}}
        )
    return meta + [e for e in out if isinstance(e.get("pid"), int)]


def _slice(
    task_id: str,
    state: str,
    since: float,
    until: float,
    pid: Any,
    attempt: int,
    event: dict[str, Any],
) -> dict[str, Any]:
    args: dict[str, Any] = {"state": state, "attempt": attempt}
    for key in ("error", "exitcode", "result"):
        if event.get(key) is not None:
            args[key] = event[key]
    return {
        "name": task_id,
        "cat": "task",
        "ph": "X",
        "ts": _us(since),
        "dur": max(_us(until) - _us(since), 0),
        "pid": pid,
        "tid": pid,
        "cname": COLOURS.get(state, "generic_work"),
        "args": args,
    }


def _us(seconds: float) -> int:
    """Microseconds; a time too far off to hold in them (a crafted file's) counts as 0."""
    micros = seconds * 1_000_000
    return round(micros) if math.isfinite(micros) else 0


def as_trace(run: RecordedRun) -> dict[str, Any]:
    """The whole trace file's object."""
    return {
        "traceEvents": trace_events(run),
        "displayTimeUnit": "ms",
        "otherData": {"header": run.header, "complete": run.complete, "problems": run.problems},
    }


def main(path: str, out: str) -> int:
    run = open_run(path, "trace")
    if run is None:
        return 2
    if not out:
        print("trace: the OUT path is empty", file=sys.stderr)
        return 2
    trace = as_trace(run)
    try:
        write_atomically(out, json.dumps(trace, separators=(",", ":")))
    except OSError as exc:
        print(f"trace: {reason(exc, out)}", file=sys.stderr)
        return 2
    events = trace["traceEvents"]
    slices = sum(1 for e in events if e["ph"] == "X")
    deaths = sum(1 for e in events if e["ph"] == "i")
    tracks = sum(1 for e in events if e["name"] == "process_name")
    try:
        say(
            f"{out}: {slices} task attempt(s) on {tracks} worker track(s), {deaths} death(s); "
            "open it in https://ui.perfetto.dev or chrome://tracing"
        )
    except OSError as exc:  # a closed output, a full disk: the trace is written all the same
        print(f"trace: the output could not be written: {exc}", file=sys.stderr)
        return 1
    return 0
