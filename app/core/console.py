"""The shared console: the parent prints every line, its own and its workers', whole.

Workers never write to the terminal themselves; their log records and printed lines
travel to the parent, which prints each one with a single write, tagged with the process
it came from. One console thread does all the writing, so a terminal that does not drain
never stalls the facade: past a bound, lines are dropped, counted and the drop is said.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from functools import partial
from typing import TextIO

STDOUT_LOGGER = "<stdout>"  # the logger names a worker's printed lines travel under
STDERR_LOGGER = "<stderr>"

MAX_PENDING_LINES = 20_000
"""Lines waiting for a slow terminal; past this (or ``MAX_PENDING_BYTES``) new ones are
dropped, counted, and the drop is said once the terminal takes lines again."""
MAX_PENDING_BYTES = 8 << 20

_console_stream: list[TextIO | None] = [None]  # set by install_console: one stream for all


class _Printer:
    """The one thread that writes the console's lines, in the order they were posted.

    Whoever has a line to print (the facade's I/O thread above all) only appends it to
    a bounded queue: a terminal that does not drain (a paused pager, a stuck pipe)
    stalls this thread alone, never the facade.
    """

    def __init__(self) -> None:
        # Entered as the lock itself: a Condition's __enter__ is Python code, and a Ctrl-C
        # landing in it after the acquire would leave the lock held for ever.
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._jobs: deque[tuple[Callable[[], None], int]] = deque()
        self._bytes = 0
        self._busy = False
        self._thread: threading.Thread | None = None
        self.dropped = 0  # ever, in this process
        self._unsaid = 0  # dropped since the last notice

    def post(self, job: Callable[[], None], size: int) -> None:
        with self._lock:
            if len(self._jobs) >= MAX_PENDING_LINES or self._bytes + size > MAX_PENDING_BYTES:
                self.dropped += 1
                self._unsaid += 1
                return
            if self._thread is None:
                thread = threading.Thread(target=self._run, name="console", daemon=True)
                try:
                    thread.start()
                except RuntimeError:  # the interpreter is shutting down: too late to print
                    self.dropped += 1
                    return
                self._thread = thread
            self._jobs.append((job, size))
            self._bytes += size
            self._cond.notify()

    def drain(self, timeout: float) -> bool:
        """Waits until every posted line is written; False if ``timeout`` ran out first."""
        end = time.monotonic() + timeout
        with self._lock:
            while self._jobs or self._busy:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def _run(self) -> None:
        while True:
            with self._lock:
                self._busy = False
                self._cond.notify_all()
                while not self._jobs:
                    self._cond.wait()
                job, size = self._jobs.popleft()
                self._bytes -= size
                self._busy = True
                unsaid = self._unsaid if len(self._jobs) < MAX_PENDING_LINES // 2 else 0
                self._unsaid -= unsaid
            if unsaid:
                _log.warning("%d console line(s) dropped: the terminal did not keep up", unsaid)
            with contextlib.suppress(Exception):  # a broken handler or stream must not stop it
                job()


_printer = _Printer()
_log = logging.getLogger("app.core")


def _new_printer_after_fork() -> None:
    global _printer
    _printer = _Printer()  # the parent's thread does not exist here


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_printer_after_fork)


def drain(timeout: float = 2.0) -> bool:
    """Waits until every line posted so far is written; False if ``timeout`` ran out."""
    return _printer.drain(timeout)


def dropped_lines() -> int:
    """How many lines this process dropped because its terminal did not keep up."""
    return _printer.dropped


atexit.register(drain, 2.0)


def write_line(stream: TextIO, text: str) -> None:
    """Prints ``text`` and a newline as one write, never interleaved with another line.

    Never blocks: the line is written by the console thread.
    """
    data = text + "\n"
    _printer.post(partial(_write, stream, data), len(data))


def _write(stream: TextIO, data: str) -> None:
    try:
        fd = stream.fileno()
    except (OSError, ValueError, AttributeError):  # not a file (a StringIO, a test capture)
        fd = -1
    try:
        if fd < 0:
            stream.write(data)
            stream.flush()
            return
        # Straight to the fd: a thread blocked here holds no lock of the stream's, which
        # the interpreter's last flush at exit would wait for.
        encoded = data.encode(getattr(stream, "encoding", None) or "utf-8", "backslashreplace")
        view = memoryview(encoded)
        while view:
            view = view[os.write(fd, view) :]
    except (OSError, ValueError):  # a closed or broken terminal must not break the job
        pass


class DeferredLogger:
    """A logger whose records are handled on the console thread: for the facade's own
    threads, which must never wait for a handler that writes to a slow terminal."""

    def __init__(self, name: str) -> None:
        self._logger = logging.getLogger(name)

    def log(self, level: int, msg: str, *args: object) -> None:
        logger = self._logger
        if logger.isEnabledFor(level):
            record = logger.makeRecord(logger.name, level, "(facade)", 0, msg, args, None)
            _printer.post(partial(logger.handle, record), len(msg))

    def info(self, msg: str, *args: object) -> None:
        self.log(logging.INFO, msg, *args)

    def warning(self, msg: str, *args: object) -> None:
        self.log(logging.WARNING, msg, *args)

    def error(self, msg: str, *args: object) -> None:
        self.log(logging.ERROR, msg, *args)

    def critical(self, msg: str, *args: object) -> None:
        self.log(logging.CRITICAL, msg, *args)


def process_tag(name: str, pid: int | None) -> str:
    """``parent[123]`` or ``worker-0[456]``: who said it."""
    if name == "MainProcess":
        name = "parent"
    return f"{name}[{pid}]"


class ConsoleFormatter(logging.Formatter):
    """``12:00:01.234 worker-0[456] INFO    message``; continuation lines keep the tag."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        clock = time.strftime("%H:%M:%S", time.localtime(record.created))
        head = (
            f"{clock}.{int(record.msecs):03d} "
            f"{process_tag(record.processName or '?', record.process):<16} "
            f"{record.levelname:<7} "
        )
        return "\n".join(head + line for line in text.splitlines() or [""])


class ConsoleHandler(logging.Handler):
    """A logging handler that prints through the shared console lock."""

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__()
        self.stream = stream
        self.setFormatter(ConsoleFormatter("%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:
            self.handleError(record)
            return
        write_line(self.stream or sys.stderr, text)


def install_console(level: int = logging.INFO, stream: TextIO | None = None) -> ConsoleHandler:
    """Routes the root logger to the shared console (for applications, not libraries)."""
    handler = ConsoleHandler(stream)
    _console_stream[0] = stream or sys.stderr
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)
    return handler


def print_worker_line(
    stream: TextIO, index: int, pid: int, label: str, line: str, created: float
) -> None:
    """A line a worker printed, tagged like a log line.

    It goes to the console when one is installed, so the order of lines is kept, and
    otherwise to the parent's own stream of the same kind.
    """
    clock = time.strftime("%H:%M:%S", time.localtime(created))
    tag = process_tag(f"worker-{index}", pid)
    text = f"{clock}.{int(created % 1 * 1000):03d} {tag:<16} {label:<7} {line}"
    write_line(_console_stream[0] or stream, text)


def emit_worker_lines(logs: Iterable[tuple[int, int, int, float, str, str]]) -> None:
    """Re-emits worker records in the parent; printed lines go straight to the console.

    Never blocks: records are handled, and lines written, on the console thread.
    """
    for index, pid, level, created, name, text in logs:
        if name in (STDOUT_LOGGER, STDERR_LOGGER):
            out = name == STDOUT_LOGGER
            stream = sys.stdout if out else sys.stderr
            label = "STDOUT" if out else "STDERR"
            print_worker_line(stream, index, pid, label, text, created)
            continue
        logger = logging.getLogger(name)
        if not logger.isEnabledFor(level):
            continue
        record = logging.makeLogRecord(
            {
                "name": name,
                "levelno": level,
                "levelname": logging.getLevelName(level),
                "msg": text,
                "created": created,
                "msecs": (created - int(created)) * 1000,
                "process": pid,
                "processName": f"worker-{index}",
            }
        )
        _printer.post(partial(logger.handle, record), len(text))
