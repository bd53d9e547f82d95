"""``python -m app report FILE [--json]``: a recorded run's tasks and worker deaths.

Exit status 0 when the run could be read, complete or not (its problems are printed
with it); 2, with one line on stderr, when the file is missing, unreadable, not a run
or of a newer format version.
"""

from __future__ import annotations

import errno
import json
import os
import sys
from typing import Any

from app.core import RecordedRun, RunFileError, read_run

CELL = 48  # characters of a result or error shown in the table
ID_WIDTH = 40  # the ID column's widest; a longer ID is shown whole, past the column


def as_json(run: RecordedRun) -> dict[str, Any]:
    """The run as ``report --json`` prints it."""
    return {
        "complete": run.complete,
        "header": run.header,
        "tasks": {
            task_id: {
                "state": task.state.name,
                "exitcode": task.exitcode,
                "worker_pid": task.worker_pid,
                "attempts": task.attempts,
            }
            for task_id, task in run.tasks().items()
        },
        "deaths": [
            {
                "pid": d["pid"],
                "exitcode": d["exitcode"],
                "signal": d["signal"],
                "reason": d["reason"],
                "cause": d["cause"],
                "rss_bytes": d["rss"],
                "oom_killed": d["oom"],
                "oom_evidence": d["oom_evidence"],
            }
            for d in run.deaths()
        ],
        "peak_rss_bytes": {str(worker): rss for worker, rss in run.peak_memory().items()},
        "problems": run.problems,
    }


def as_table(run: RecordedRun) -> str:
    """The run as a terminal table: who ran it, each task, each death, its problems."""
    header = run.header
    argv = header.get("argv")
    argv = " ".join(map(str, argv)) if isinstance(argv, list) else _cell(argv)
    lines = [
        f"{run.path}: a {header.get('backend')} run of {header.get('workers')} worker(s) by "
        f"pid {header.get('pid')} ({argv}), started {header.get('started_utc')}; "
        + ("complete" if run.complete else "not complete (still running, or killed)"),
        "",
    ]
    tasks = run.tasks()
    width = min(max([len("ID"), *(len(task_id) for task_id in tasks)]), ID_WIDTH)
    lines.append(f"{'ID':<{width}}  {'state':<9}  tries  {'pid':>7}  {'exit':>5}  result / error")
    for task_id, task in tasks.items():
        outcome = task.result if task.result is not None else task.error or task.message
        outcome = _cut(outcome or "")
        lines.append(
            f"{task_id:<{width}}  {task.state.name:<9}  {task.attempts:>5}  "
            f"{_cell(task.worker_pid):>7}  {_cell(task.exitcode):>5}  {outcome}"
        )
    counts: dict[str, int] = {}
    for task in tasks.values():
        counts[task.state.name] = counts.get(task.state.name, 0) + 1
    summary = ", ".join(f"{count} {state}" for state, count in counts.items())
    lines += ["", f"{len(tasks)} task(s): {summary or 'none'}"]
    deaths = run.deaths()
    lines += ["", f"{len(deaths)} worker exit(s)"]
    for d in deaths:
        how = f"signal {d['signal']}" if d["signal"] else f"exit code {_cell(d['exitcode'])}"
        killed_for = f": {_cut(d['cause'])}" if d["reason"] == "killed" and d["cause"] else ""
        how = f"{d['reason']}{killed_for} ({how})"
        if d["rss"] is not None:
            how += f", last sample {megabytes(d['rss'])}"
        # The OOM killer sends only SIGKILL: any other death needs no verdict here.
        if d["signal"] == "SIGKILL" and d["oom_evidence"] is not None:
            how += (
                ", OOM killer: " + {True: "likely", False: "ruled out", None: "unknown"}[d["oom"]]
            )
        lines.append(f"  {_cell(d['t']):>10} s  worker-{d['worker']} (pid {d['pid']}): {how}")
    peaks = run.peak_memory()
    if peaks:
        lines.append(peak_line(peaks))
    for problem in run.problems:
        lines.append(f"problem: {problem}")
    return "\n".join(lines)


def megabytes(size: int) -> str:
    """``"123.4 MB"``: a memory size as people read it (MB of 10**6 bytes)."""
    return f"{size / 1e6:,.1f} MB"


def peak_line(peaks: dict[int, int], width: int = 100) -> str:
    """Peak memory per worker slot on one line, the largest first when they do not all
    fit in ``width`` characters."""
    head = "peak memory: "
    parts = [f"worker-{w} {megabytes(rss)}" for w, rss in sorted(peaks.items())]
    line = head + ", ".join(parts)
    if len(line) <= width:
        return line
    ranked = sorted(peaks.items(), key=lambda item: -item[1])
    shown: list[str] = []
    for w, rss in ranked:
        more = len(peaks) - len(shown) - 1
        candidate = ", ".join([*shown, f"worker-{w} {megabytes(rss)}"])
        if len(head + candidate + f" and {more} more") > width and shown:
            break
        shown.append(f"worker-{w} {megabytes(rss)}")
    rest = len(peaks) - len(shown)
    return head + ", ".join(shown) + (f" and {rest} more (largest first)" if rest else "")


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def _cut(text: str) -> str:
    """``text`` on one line of at most ``CELL`` characters, its control characters escaped
    (a run file's text must not move the terminal's cursor nor colour it)."""
    text = " ".join(text.split())
    text = "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)
    return text if len(text) <= CELL else text[: CELL - 1] + "…"


def open_run(path: str, command: str) -> RecordedRun | None:
    """The run at ``path``, or None once one line on stderr has said why not."""
    try:
        return read_run(path)
    except (RunFileError, OSError) as exc:
        print(f"{command}: {reason(exc, path)}", file=sys.stderr)
        return None


def main(path: str, json_output: bool) -> int:
    run = open_run(path, "report")
    if run is None:
        return 2
    try:
        say(json.dumps(as_json(run), indent=2) if json_output else as_table(run))
    except OSError as exc:  # a closed output, a full disk
        print(f"report: the output could not be written: {exc}", file=sys.stderr)
        return 1
    return 0


def say(text: str) -> None:
    """Prints ``text``, escaping what the terminal's encoding cannot show (an ID may
    hold a lone surrogate, a path bytes that are no UTF-8) rather than failing, and
    quietly stops when the reader closes the pipe. An output that cannot be written
    (closed, a full disk) is an OSError, once: what is left unwritten is dropped."""
    if sys.stdout is None:  # started with its standard output closed
        raise OSError(errno.EBADF, "the standard output is closed")
    encoding = sys.stdout.encoding or "utf-8"
    try:
        print(text.encode(encoding, "backslashreplace").decode(encoding), flush=True)
    except BrokenPipeError:  # the reader has all it wanted (``report FILE | head``)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing left to flush
    except OSError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nor a second error
        raise


def reason(exc: BaseException, path: str) -> str:
    """One line: what is wrong with the file."""
    if isinstance(exc, FileNotFoundError):
        return f"{path}: no such file"
    if isinstance(exc, OSError):
        return f"{path}: {exc.strerror or exc}"
    return str(exc)
