"""The standard library, really run: a scenario's workload under
``concurrent.futures.ProcessPoolExecutor``, ``multiprocessing.Pool`` and this facade,
each in a child process of its own, and what each task got in each.

The three children run at once (their tasks mostly sleep: two cores hold them), each
started in a session of its own and bounded three times: by its own deadline, when it
reports what it knows and ends however stuck its pool is (``stdlib_contender``); by this
process's outer deadline, past which its whole process group is killed; and by its
standard input, a pipe from this process whose end (this process killed) ends it too.
Whatever happens, Ctrl-C included, every child's group is killed and reaped before
``run_compare`` returns. It blocks for up to its deadline and a few seconds more: a
window calls it on a thread of its own, with a ``cancel`` event that ends it early
(``Cancelled``, within ``CANCEL_POLL``) when the window closes.

The result (``run_compare``) is one JSON-safe object::

    {"scenario": NAME, "python": VERSION,
     "contenders": {"facade": {ID: OUTCOME}, "ProcessPoolExecutor": {...}, "Pool": {...}}}

where an OUTCOME is ``{"kind": "value", "value": ...}``, ``{"kind": "exception",
"exception": TYPE_NAME, "message": TEXT}`` or ``{"kind": "waiting"}`` (still waiting at
the deadline); the facade's also have ``"state"`` (the ``TaskState`` name).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import platform
import selectors
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any

import app
from app.teaching import stdlib_cache
from app.teaching.stdlib_contender import CONTENDERS, WAITING, Outcome, task_ids

__all__ = [
    "CONTENDERS",
    "DEADLINE",
    "Cancelled",
    "cached",
    "check_deadline",
    "observe",
    "run_compare",
]

log = logging.getLogger("app.compare")

DEADLINE = 10.0
"""Seconds each contender has by default: the longest scenario's work takes about 4."""
MAX_DEADLINE = 3600.0
OUTER_GRACE = 20.0
"""Seconds the outer deadline adds to a contender's own: its start (Python, the imports,
a loaded machine) and its report. Past both, its process group is killed."""
CANCEL_POLL = 0.1  # seconds between two looks at a run's cancel event
_ENTRY = "import sys; from app.teaching.stdlib_contender import main; sys.exit(main(sys.argv[1:]))"
_STDERR_TAIL = 2000  # characters of a failed contender's stderr shown in the error


class Cancelled(Exception):
    """A run ended early by its ``cancel`` event: every contender's processes are killed."""


def check_deadline(deadline: object) -> float:
    """``deadline`` as seconds, or a clear TypeError/ValueError."""
    if isinstance(deadline, bool) or not isinstance(deadline, int | float):
        raise TypeError(f"deadline must be a number of seconds, not {deadline!r}")
    seconds = float(deadline)
    if math.isnan(seconds) or not 0 < seconds <= MAX_DEADLINE:
        raise ValueError(
            f"deadline must be more than 0 and at most {MAX_DEADLINE:g} seconds, not {deadline!r}"
        )
    return seconds


def run_compare(
    name: str, deadline: float = DEADLINE, cancel: threading.Event | None = None
) -> dict[str, Any]:
    """Runs scenario ``name``'s workload under the three contenders at once, each bounded
    by ``deadline`` seconds, and returns what each task got in each (see the module);
    raises ``Cancelled`` soon after ``cancel`` is set, once the children are killed."""
    ids = task_ids(name)
    seconds = check_deadline(deadline)
    children: dict[str, _Contender] = {}
    try:
        for contender in CONTENDERS:
            children[contender] = _Contender(contender, name, seconds)
        reports = _read_reports(children, time.monotonic() + seconds + OUTER_GRACE, cancel)
    finally:
        for child in children.values():
            child.end()
    return {
        "scenario": name,
        "python": platform.python_version(),
        "contenders": {c: _outcomes(c, reports[c], ids) for c in CONTENDERS},
    }


def cached(name: str) -> dict[str, Any] | None:
    """This Python version's stored comparison of scenario ``name``, or None (also
    when a task was still waiting at a deadline shorter than ``DEADLINE``)."""
    task_ids(name)  # a clear error for a name that is no scenario's
    return stdlib_cache.lookup(name, DEADLINE)


def observe(name: str, deadline: float = DEADLINE) -> dict[str, Any]:
    """The stored comparison of scenario ``name`` for this Python version; else one run
    now, and stored."""
    found = cached(name)
    if found is not None:
        return found
    result = run_compare(name, deadline)
    stdlib_cache.store(result, deadline)
    return result


class _Contender:
    """One contender's child process: a session (and process group) of its own."""

    def __init__(self, contender: str, name: str, seconds: float) -> None:
        self.name = contender
        # Its stderr (and its workers') in a file: a pipe nobody reads would fill and
        # block them. Closed in end().
        self.stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115
        self.output = bytearray()
        self.answered = False  # its report ended (end of file on its output)
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-c", _ENTRY, contender, name, repr(seconds)],
                stdin=subprocess.PIPE,  # its lifeline: it ends when this process does
                stdout=subprocess.PIPE,
                stderr=self.stderr,
                start_new_session=True,  # Ctrl-C is this process's; killpg ends it all
                env=_child_environment(),
            )
        except BaseException:
            self.stderr.close()
            raise

    def end(self) -> None:
        """Kills its whole process group (its pool's workers too), then reaps it."""
        self.kill_group()
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()
        self.stderr.close()

    def kill_group(self) -> None:
        """Kills the group, and reaps its leader: only the first time, since until the
        reaping the group's number cannot be reused, and after it, it can."""
        if self.process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)

    def error_text(self) -> str:
        self.stderr.seek(0)
        text = self.stderr.read().decode(errors="replace").strip()
        return text[-_STDERR_TAIL:] if text else "(nothing on its stderr)"


def _child_environment() -> dict[str, str]:
    """This environment, with this ``app`` package first on the child's import path."""
    env = dict(os.environ)
    root = str(Path(app.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


def _read_reports(
    children: dict[str, _Contender], until: float, cancel: threading.Event | None
) -> dict[str, Any]:
    """Each child's report, read from all at once until each ends or ``until`` passes
    (None for a child that did not answer in time); ``Cancelled`` once ``cancel`` is set."""
    reports: dict[str, Any] = {}
    with selectors.DefaultSelector() as selector:
        for child in children.values():
            assert child.process.stdout is not None
            selector.register(child.process.stdout, selectors.EVENT_READ, child)
        while selector.get_map():
            if cancel is not None and cancel.is_set():
                raise Cancelled("the comparison was cancelled: its processes are killed")
            left = until - time.monotonic()
            if left <= 0:
                break
            for key, _ in selector.select(left if cancel is None else min(left, CANCEL_POLL)):
                child = key.data
                data = os.read(key.fd, 65536)
                if data:
                    child.output += data
                else:
                    selector.unregister(key.fileobj)
                    child.answered = True
    for contender, child in children.items():
        reports[contender] = _report(child)
    return reports


def _report(child: _Contender) -> Any:
    if not child.answered:
        log.warning(
            "the %s run did not answer by the outer deadline: its tasks count as still "
            "waiting, and its processes are killed",
            child.name,
        )
        return None
    try:
        report = json.loads(child.output)
    except ValueError:
        report = None
    if not isinstance(report, dict) or not isinstance(report.get("outcomes"), dict):
        child.kill_group()  # it ended, or will say nothing more: its exit code
        raise RuntimeError(
            f"the {child.name} run ended without a report (exit code "
            f"{child.process.returncode}): {child.error_text()}"
        )
    if report.get("error"):
        log.warning("the %s run stopped before its last step: %s", child.name, report["error"])
    return report


def _outcomes(contender: str, report: Any, ids: list[str]) -> dict[str, Outcome]:
    """Each task's outcome, in the scenario's order; a task the run never reached (not
    submitted by the deadline) is still waiting too, NEW in the facade."""
    if report is None:  # no answer: nothing is known of them, not even the facade's states
        return {task_id: dict(WAITING) for task_id in ids}
    waiting: Outcome = dict(WAITING, state="NEW") if contender == "facade" else dict(WAITING)
    told = report["outcomes"]
    return {task_id: told[task_id] if task_id in told else dict(waiting) for task_id in ids}
