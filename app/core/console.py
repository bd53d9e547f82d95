"""The shared console: the parent prints every line, its own and its workers', whole.

Workers never write to the terminal themselves; their log records and printed lines
travel to the parent, which prints each one with a single write under one lock, tagged
with the process it came from.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Iterable
from typing import TextIO

STDOUT_LOGGER = "<stdout>"  # the logger names a worker's printed lines travel under
STDERR_LOGGER = "<stderr>"

_print_lock = threading.Lock()
_console_stream: list[TextIO | None] = [None]  # set by install_console: one stream for all


def write_line(stream: TextIO, text: str) -> None:
    """Prints ``text`` and a newline in one write, never interleaved with another line."""
    with _print_lock:
        try:
            stream.write(text + "\n")
            stream.flush()
        except (OSError, ValueError):  # a closed or broken terminal must not break the job
            pass


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
    """Re-emits worker records in the parent; printed lines go straight to the console."""
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
        logger.handle(record)
