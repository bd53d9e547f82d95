"""The worker process: runs tasks one by one and reports each outcome before the next.

It never imports Qt. Everything it says to the parent goes through one pipe, written
synchronously, so a result is in the kernel before the next task starts and survives
any death of the worker right after (GUIDE, trap 2).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import pickle
import signal
import sys
import threading
import time
import traceback
from collections import deque
from multiprocessing.connection import Connection, wait
from typing import Any

from app.core import task as task_module
from app.core import wire
from app.core.console import STDERR_LOGGER, STDOUT_LOGGER
from app.core.errors import describe, pickled_exception
from app.core.task import Task, WorkerCrash, load_task, why_not_valid

# The shared slot layout: [claimed seq, cancel ring of RING entries].
RING = 1024


class _Outbox:
    """Thread-safe, synchronous writes to the parent (tasks may log from their threads)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._lock = threading.Lock()

    def send(self, body: bytes) -> None:
        with self._lock:
            self._conn.send_bytes(body)

    def log(self, level: int, name: str, message: str, created: float) -> None:
        text = f"{name}\0{message}".encode("utf-8", "backslashreplace")
        self.send(b"L" + wire.LOG_HEAD.pack(level, created) + text)


class _PipeHandler(logging.Handler):
    """Forwards the worker's log records, formatted, to the parent's console."""

    def __init__(self, outbox: _Outbox) -> None:
        super().__init__()
        self._outbox = outbox
        self.setFormatter(logging.Formatter("%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):  # the parent is gone: nothing left to tell
            self._outbox.log(record.levelno, record.name, self.format(record), record.created)


class _LineStream(io.TextIOBase):
    """sys.stdout/sys.stderr of the worker: each whole line goes to the parent's console."""

    def __init__(self, outbox: _Outbox, name: str, level: int) -> None:
        self._outbox = outbox
        self._name = name
        self._level = level
        self._partial = ""
        self._lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        with self._lock:
            lines = (self._partial + s).split("\n")
            self._partial = lines.pop()
        for line in lines:
            self._send(line)
        return len(s)

    def flush(self) -> None:
        with self._lock:
            line, self._partial = self._partial, ""
        if line:
            self._send(line)

    def _send(self, line: str) -> None:
        with contextlib.suppress(Exception):
            self._outbox.log(self._level, self._name, line, time.time())


def _watch_parent(lifeline: Connection, parent_pid: int) -> None:
    """Exits the worker soon after its parent dies, even in the middle of a task."""
    while True:
        if wait([lifeline], timeout=2.0) or os.getppid() != parent_pid:
            os._exit(0)


class _Runner:
    """The worker's loop: claim a task, run it, send its outcome, next."""

    def __init__(self, tasks: Connection, outbox: _Outbox, shared: Any, claim: Any) -> None:
        self._tasks = tasks
        self._outbox = outbox
        self._shared = shared
        self._claim = claim
        self._current: tuple[int, Task | None] = (0, None)

    def loop(self) -> None:
        inbox: deque[tuple[int, memoryview]] = deque()
        shared = self._shared
        idle = True  # the parent cannot know when an idle worker starts: tell it
        while True:
            if not inbox:
                try:
                    body = self._tasks.recv_bytes()
                except EOFError:
                    return  # the parent closed our pipe: nothing more will come
                if body[0] == wire.STOP:
                    return
                inbox.extend(wire.split_task_batch(memoryview(body)))
                idle = True
                continue
            seq, payload = inbox.popleft()
            # Claim the task under the lock the parent's cancel() takes: a task is either
            # cancelled before the worker reaches it or claimed and run, never both.
            with self._claim:
                if shared[1 + seq % RING] == seq:
                    continue
                shared[0] = seq
            if idle:
                idle = False
                self._outbox.send(b"B" + wire.SEQ.pack(seq))
            self._run_one(seq, payload)

    def _run_one(self, seq: int, payload: memoryview) -> None:
        started = time.time()
        self._current = (seq, None)
        try:
            task = load_task(payload)
        except WorkerCrash:
            raise
        except BaseException as exc:
            self._fail(seq, started, f"could not unpickle the task in the worker: {describe(exc)}")
            return
        self._current = (seq, task)
        try:
            reason = why_not_valid(task)
            if reason is not None:
                self._fail(seq, started, f"invalid in the worker: {reason}", with_tb=False)
                return
            value = task.do_task()
        except WorkerCrash:
            raise
        except BaseException as exc:  # SystemExit too: the task fails, the worker lives on
            self._fail(seq, started, describe(exc))
            return
        finally:
            self._current = (seq, None)
        result = task.result if value is None else value
        try:
            data = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
        except BaseException as exc:
            self._fail(seq, started, f"the result could not be pickled: {describe(exc)}")
            return
        self._outbox.send(b"R" + wire.OUTCOME.pack(seq, started, time.time()) + data)

    def _fail(self, seq: int, started: float, error: str, *, with_tb: bool = True) -> None:
        tb = traceback.format_exc() if with_tb else None
        detail = pickle.dumps((error, tb, pickled_exception()), protocol=pickle.HIGHEST_PROTOCOL)
        self._outbox.send(b"F" + wire.OUTCOME.pack(seq, started, time.time()) + detail)

    def report_progress(self, task: Task, fraction: float, message: str) -> None:
        seq, current = self._current
        if current is task:
            text = message.encode("utf-8", "backslashreplace")
            self._outbox.send(b"P" + wire.PROGRESS_HEAD.pack(seq, fraction) + text)

    def fatal(self) -> None:
        """Tells the parent why the loop itself is dying, to attach to the running task."""
        tb = traceback.format_exc().encode("utf-8", "backslashreplace")
        with contextlib.suppress(Exception):
            self._outbox.send(b"X" + wire.SEQ.pack(self._shared[0]) + tb)


def worker_main(
    tasks: Connection,
    results: Connection,
    lifeline: Connection,
    shared: Any,
    claim: Any,
    log_level: int,
    parent_pid: int,
) -> None:
    """Entry point of a worker process (spawned; module level so it pickles by name)."""
    # Ctrl-C reaches the whole process group; the parent decides how to shut down.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    outbox = _Outbox(results)
    root = logging.getLogger()
    root.handlers[:] = [_PipeHandler(outbox)]
    root.setLevel(log_level)
    sys.stdout = _LineStream(outbox, STDOUT_LOGGER, logging.INFO)
    sys.stderr = _LineStream(outbox, STDERR_LOGGER, logging.WARNING)
    threading.Thread(target=_watch_parent, args=(lifeline, parent_pid), daemon=True).start()
    runner = _Runner(tasks, outbox, shared, claim)
    task_module._progress_sink = runner.report_progress
    outbox.send(b"Y" + wire.SEQ.pack(os.getpid()))
    try:
        runner.loop()
    except BaseException:
        runner.fatal()
        raise
