"""What runs on a Dask worker: one task, its start, progress and output told to the client.

Imported by Dask workers, never Qt. A task's outcome comes back as the return value of
``run_task``: a task that raises is FAILED by our rules (Dask would call that an error
and never retry it either), so the worker's traceback and the exception travel as data.
Everything else (the start, progress, printed lines, log records) goes through
``Worker.log_event`` on one topic, which the scheduler passes on to the client.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import pickle
import sys
import threading
import time
import traceback
from typing import Any

from app.core.console import STDERR_LOGGER, STDOUT_LOGGER
from app.core.errors import describe, pickled_exception
from app.core.stack_text import format_threads
from app.core.task import Task, WorkerCrash, load_task, set_progress_sink, why_not_valid

TOPIC = "worker-monitor"
"""The event topic the runner logs to and the client subscribes to."""

WORKER_CRASH_EXIT = 1
"""Exit code of a Dask worker that a task ended with ``WorkerCrash``: 1, as a local
worker whose loop an exception escapes."""

_here = threading.local()  # .key: the Dask key of the task this thread runs
_install_lock = threading.Lock()


def _tell(kind: str, **fields: Any) -> None:
    """Sends one event to the client; best effort (a worker without a scheduler says nothing)."""
    with contextlib.suppress(Exception):
        from distributed import get_worker

        get_worker().log_event(TOPIC, {"kind": kind, "pid": os.getpid(), **fields})


def _tell_line(level: int, name: str, text: str, when: float) -> None:
    """One whole line of a task's output, tagged with the task's key (on a shared
    cluster, each client keeps only its own tasks' lines)."""
    key = getattr(_here, "key", None)
    _tell("log", key=key, level=level, name=name, text=text, time=when)


def _progress(task: Task, fraction: float, message: str) -> None:
    key = getattr(_here, "key", None)
    if key is not None:
        _tell("progress", key=key, fraction=fraction, message=message)


class _TaskLines(io.TextIOBase):
    """sys.stdout/sys.stderr of a worker: a task's whole lines go to the client too.

    Output of Dask's own threads goes only where it went before (the worker's log).
    """

    def __init__(self, inner: Any, name: str, level: int) -> None:
        self._inner = inner
        self._name = name
        self._level = level
        self._partial = threading.local()

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        with contextlib.suppress(Exception):
            self._inner.write(s)
        if getattr(_here, "key", None) is not None:
            lines = (getattr(self._partial, "text", "") + s).split("\n")
            self._partial.text = lines.pop()
            for line in lines:
                _tell_line(self._level, self._name, line, time.time())
        return len(s)

    def flush(self) -> None:
        with contextlib.suppress(Exception):
            self._inner.flush()
        line = getattr(self._partial, "text", "")
        if line:
            self._partial.text = ""
            _tell_line(self._level, self._name, line, time.time())


class _TaskRecords(logging.Handler):
    """Forwards the log records that tasks make (not Dask's own) to the client."""

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(_here, "key", None) is None or record.name.startswith("distributed"):
            return
        with contextlib.suppress(Exception):
            _tell_line(record.levelno, record.name, record.getMessage(), record.created)


def _install() -> None:
    """Once per worker process: forward tasks' output and progress to the client."""
    with _install_lock:
        if getattr(sys.stdout, "_worker_monitor", False):
            return
        sys.stdout = _TaskLines(sys.stdout, STDOUT_LOGGER, logging.INFO)
        sys.stderr = _TaskLines(sys.stderr, STDERR_LOGGER, logging.WARNING)
        sys.stdout._worker_monitor = True  # type: ignore[attr-defined]
        logging.getLogger().addHandler(_TaskRecords())
        set_progress_sink(_progress)


def run_task(payload: bytes, key: str) -> tuple[Any, ...]:
    """Runs one pickled task on this worker.

    Returns ``("R", pickled result, started, finished, pid)`` or
    ``("F", error, traceback, pickled exception or None, started, finished, pid)``.
    """
    _install()
    started = time.time()
    _here.key = key
    _tell("began", key=key, time=started)
    try:
        try:
            task = load_task(payload)
        except WorkerCrash:
            raise
        except BaseException as exc:
            error = f"could not unpickle the task on the worker: {describe(exc)}"
            return _failed(error, started)
        reason = why_not_valid(task)
        if reason is not None:
            error = f"invalid on the worker: {reason}"
            return ("F", error, None, None, started, time.time(), os.getpid())
        try:
            value = task.do_task()
        except WorkerCrash:
            raise
        except BaseException as exc:  # SystemExit too: the task fails, the worker lives on
            return _failed(describe(exc), started)
        result = task.result if value is None else value
        try:
            data = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
        except BaseException as exc:
            return _failed(f"the result could not be pickled: {describe(exc)}", started)
        return ("R", data, started, time.time(), os.getpid())
    except WorkerCrash:
        # As in a local worker, WorkerCrash ends the process: the task crashed it.
        with contextlib.suppress(Exception):
            sys.stderr.write(traceback.format_exc())
            sys.stderr.flush()
        os._exit(WORKER_CRASH_EXIT)
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        _here.key = None
        # The outcome waits on this worker until the client fetches it; "ended" tells the
        # client that a death from now on loses a result, not a running task.
        _tell("ended", key=key)


def _failed(error: str, started: float) -> tuple[Any, ...]:
    tb = traceback.format_exc()
    return ("F", error, tb, pickled_exception(), started, time.time(), os.getpid())


def stack_of(key: str, dask_worker: Any = None) -> str | None:
    """Run on a Dask worker by ``Client.run`` (on its event loop): every thread's stack,
    the one running task ``key`` first; None if this worker does not run it."""
    with dask_worker.active_threads_lock:
        running = dict(dask_worker.active_threads)
    ident = next((i for i, k in running.items() if k == key), None)
    if ident is None:
        return None
    return format_threads(ident, start_after=run_task.__code__, leave_out=(threading.get_ident(),))
