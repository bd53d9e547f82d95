"""A run recorded as it happens: every event of a facade, one JSON line each, written by
a thread of its own.

The engine hands over what it already keeps (its event records, and for a task's final
state a tuple of the task's outcome) under its lock, in a few hundred nanoseconds per
event; encoding and writing happen here, on the writer thread, never on the caller's.
The hand-off is bounded: when the disk is slower than the run and ``MAX_BACKLOG`` events
wait, further events are dropped, counted, and the count is written to the file
(``{"e": "dropped"}``) and kept in ``problems``: the facade never waits for the disk,
and nothing is lost without a trace. The writer wakes every ``FLUSH_SECONDS`` and at
every worker death, and hands everything it has to the operating system at once, so a
follower lags by at most about ``FLUSH_SECONDS`` and a program killed by SIGKILL leaves
a file whose every whole line is readable. A result is recorded as text (its ``repr``,
cut at ``RESULT_CHARS`` characters), never pickled.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import sys
import threading
import time
from collections.abc import Callable
from json.encoder import encode_basestring_ascii as quoted
from typing import Any

from app.core.events import Event, TaskChanged, WorkerDied, WorkerLog, WorkerStarted, WorkerStats
from app.core.run_paths import FORMAT, Target, open_run_file
from app.core.states import TaskState
from app.core.task import Task

log = logging.getLogger("app.core")

VERSION = 1
"""The run file format's version; a reader refuses files of a newer one."""
RESULT_CHARS = 1000
"""A result's ``repr`` is kept up to this many characters; ``result_chars`` then gives
the whole length."""
MAX_BACKLOG = 200_000
"""Events handed over but not yet written; past this they are dropped and counted."""
FLUSH_SECONDS = 0.05
"""How long the writer lets lines wait before it writes them (a death: at once)."""
CLOSE_WAIT = 10.0
"""How long collect or close waits for the writer to finish the file."""

_BURST = 512  # lines encoded between two offers of the GIL
_PENDING, _RUNNING, _DONE = TaskState.PENDING, TaskState.RUNNING, TaskState.DONE
# What the engine hands over, besides its own event records: tagged tuples.
_SUBMIT, _BEGAN, _ENDED = 0, 1, 2

Item = Event | tuple[Any, ...]


class Recorder:
    """Writes one facade's run to a file; made (path checked, file opened) by the facade."""

    def __init__(self, target: Target) -> None:
        self.t0 = time.time()
        self._fd, self.path = open_run_file(target)
        self.problems: list[str] = []
        self._handed: list[Item] = []  # the engine's, under its lock, until the writer swaps it
        self._wake = threading.Event()
        self._dropped = 0  # items refused for want of room: the engine's, under its lock
        self._reported = 0  # the dropped count last written to the file
        self._stopped = False  # closing, or the file failed: nothing more is taken
        self._writing = 0  # items in the write under way: lost with it if it fails
        self._closing = False
        self._end = ("", 0.0)
        self._pull: Callable[[], list[Item]] | None = None
        self._thread = threading.Thread(target=self._run, name="run-recorder", daemon=True)
        self._classes: dict[type, str] = {}

    # == the facade's side =================================================================
    def start(self, backend: str, workers: int | None, pull: Callable[[], list[Item]]) -> None:
        """Writes the header line (an ``OSError`` here is the facade's to raise) and starts
        the writer; ``pull`` has the engine hand over what it holds (``take``), under its
        lock, and returns ``swap()``'s list."""
        header = {
            "format": FORMAT,
            "version": VERSION,
            "started": self.t0,
            "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.t0)),
            "pid": os.getpid(),
            "argv": list(sys.argv),
            "backend": backend,
            "workers": workers,
            "python": sys.version.split()[0],
            "result_chars": RESULT_CHARS,
        }
        self._write(json.dumps(header, default=str, separators=(",", ":")) + "\n")
        self._pull = pull
        self._thread.start()

    def discard(self) -> None:
        """The run never began: closes and removes the file."""
        with contextlib.suppress(OSError):
            os.close(self._fd)
        with contextlib.suppress(OSError):
            self.path.unlink()

    def close(self, how: str) -> None:
        """Writes what is left and the end line (``how``: collected, closed, abandoned),
        waiting up to ``CLOSE_WAIT`` seconds for a slow disk; idempotent. The engine has
        handed over its last events and lets go of this recorder before it calls this."""
        if self._closing:
            return
        self._end = (how, time.time())
        self._pull = None
        self._stopped = True
        self._closing = True
        self._wake.set()
        if not self._thread.is_alive() or threading.current_thread() is self._thread:
            return
        self._thread.join(CLOSE_WAIT)
        if self._thread.is_alive():
            log.warning(
                "the run file %s is still being written after %.0f s: the disk is slow",
                self.path,
                CLOSE_WAIT,
            )

    def wake(self) -> None:
        """Something to write at once (a worker died): the writer pulls now."""
        self._wake.set()

    # == the engine's side (under its lock; never waits) ==================================
    def take(self, events: list[Event], start: int, end: int, tasks: dict[str, Task]) -> None:
        """Takes ``events[start:end]``: a task's submission and final state carry what the
        task holds now (its class and attempt; its outcome), the rest as they are."""
        handed = self._handed
        if self._stopped or len(handed) >= MAX_BACKLOG:
            self._dropped += end - start
            return
        add, get, changed = handed.append, tasks.get, TaskChanged
        running, pending = _RUNNING, _PENDING
        for event in events[start:end]:
            if type(event) is not changed:
                add(event)
                continue
            task = get(event.task_id)
            state = event.state  # compared by identity: hashing an Enum is slow
            if task is None:
                add(event)
            elif state is running:
                add((_BEGAN, event, task.worker_pid))
            elif state is pending:
                if event.time == task.submitted_at:  # as it was (re)submitted
                    add((_SUBMIT, event, type(task), task.attempts))
                else:
                    add(event)
            else:  # final: its outcome, as the task holds it now
                add(
                    (
                        _ENDED,
                        event,
                        task.result,
                        task.error,
                        task.traceback,
                        task.exitcode,
                        task.worker_pid,
                        task.attempts,
                        task.started_at,
                    )
                )

    def swap(self) -> list[Item]:
        """What was taken since the last swap (under the engine's lock, or once closed)."""
        handed, self._handed = self._handed, []
        return handed

    # == the writer thread =================================================================
    def _run(self) -> None:
        try:
            while True:
                self._wake.wait(FLUSH_SECONDS)
                self._wake.clear()
                closing = self._closing  # read first: what was taken before is there
                pull = self._pull
                items = pull() if pull is not None and not closing else self.swap()
                self._write_items(items)
                if closing:
                    self._write_items(self.swap())
                    self._finish()
                    return
        except BaseException as exc:  # the facade goes on, unrecorded
            self._fail(exc)
            if not isinstance(exc, OSError):
                log.exception("the run recorder stopped")

    def _write_items(self, items: list[Item]) -> None:
        self._writing = len(items)
        line = self._line
        parts = []
        for start in range(0, len(items), _BURST):
            parts.append("".join(map(line, items[start : start + _BURST])))
            time.sleep(0)  # lets the facade's threads have the GIL back at once
        self._write("".join(parts))  # one write a round: each write gives the GIL away
        self._writing = 0
        if self._dropped != self._reported:
            self._reported = self._dropped
            when = self._t(time.time())
            self._write(f'{{"t":{when},"e":"dropped","count":{self._reported}}}\n')

    def _finish(self) -> None:
        how, when = self._end
        dropped = self._dropped
        if dropped:
            self.problems.append(f"{dropped} event(s) were not recorded: the disk was too slow")
        self._write(f'{{"t":{self._t(when)},"e":"end","how":{quoted(how)},"dropped":{dropped}}}\n')
        with contextlib.suppress(OSError):
            os.fsync(self._fd)
        os.close(self._fd)

    def _fail(self, exc: BaseException) -> None:
        self._stopped = True
        self._pull = None
        lost = self._writing + len(self.swap())
        message = (
            f"recording stopped: writing {self.path} failed ({exc}); "
            f"{lost} event(s) then being written or waiting, and every later one, were not "
            "recorded"
        )
        self.problems.append(message)
        log.warning("%s", message)
        with contextlib.suppress(OSError):
            os.close(self._fd)

    def _write(self, text: str) -> None:
        data = memoryview(text.encode())
        while data:
            data = data[os.write(self._fd, data) :]

    # == one line per item =================================================================
    def _t(self, when: float) -> str:
        return f"{when - self.t0:.6f}"

    def _line(self, item: Any) -> str:
        """The line of one handed-over item (an event record, or a tagged tuple). The
        common lines are built inline: this runs for every event of the run."""
        kind = type(item)
        if kind is tuple:
            tag = item[0]
            if tag == _BEGAN:
                event, pid = item[1], item[2]
                if event.progress is None and not event.message and type(pid) is int:
                    return (
                        f'{{"t":{event.time - self.t0:.6f},"e":"state",'
                        f'"id":{quoted(event.task_id)},"state":"RUNNING","pid":{pid}}}\n'
                    )
                return f'{self._state(event)},"pid":{_number(pid)}}}\n'
            if tag == _ENDED:
                return self._ended(item)
            _, event, cls, attempt = item
            line = (
                f'{{"t":{event.time - self.t0:.6f},"e":"submit","id":{quoted(event.task_id)},'
                f'"class":{quoted(self._class_name(cls))},"attempt":{attempt}'
            )
            if event.message:
                line += f',"message":{quoted(event.message)}'
            return line + "}\n"
        if kind is TaskChanged:
            return self._state(item) + "}\n"
        if kind is WorkerLog:
            pid, level, message, when = item
            return (
                f'{{"t":{self._t(when)},"e":"log","pid":{pid},"level":{level},'
                f'"message":{quoted(message)}}}\n'
            )
        if kind is WorkerStats:
            s = item
            return (
                f'{{"t":{self._t(s.time)},"e":"worker_stats","worker":{s.index},"pid":{s.pid},'
                f'"rss":{_number(s.rss_bytes)},"cpu":{_number(s.cpu_percent)}}}\n'
            )
        if kind is WorkerDied:
            return self._died(item)
        if kind is WorkerStarted:
            s = item
            return (
                f'{{"t":{self._t(s.time)},"e":"worker_started","worker":{s.index},"pid":{s.pid}}}\n'
            )
        return ""  # EventsDropped never reaches a recorder: it is made by poll

    def _died(self, d: WorkerDied) -> str:
        """A death, with what telemetry knew of it when it knew anything."""
        signal = "null" if d.signal_name is None else quoted(d.signal_name)
        line = (
            f'{{"t":{self._t(d.time)},"e":"worker_died","worker":{d.index},"pid":{d.pid},'
            f'"exitcode":{_number(d.exitcode)},"signal":{signal},"reason":{quoted(d.reason)}'
        )
        if d.rss_bytes is not None:
            line += f',"rss":{_number(d.rss_bytes)}'
        if d.oom_killed is not None:
            line += f',"oom":{"true" if d.oom_killed else "false"}'
        if d.oom_evidence is not None:
            line += f',"oom_evidence":{quoted(d.oom_evidence)}'
        if d.cause is not None:
            line += f',"cause":{quoted(d.cause)}'
        return line + "}\n"

    def _state(self, event: TaskChanged) -> str:
        line = (
            f'{{"t":{event.time - self.t0:.6f},"e":"state","id":{quoted(event.task_id)},'
            f'"state":"{event.state._name_}"'
        )
        if event.progress is not None:
            line += f',"progress":{_number(event.progress)}'
        if event.message:
            line += f',"message":{quoted(event.message)}'
        return line

    def _ended(self, item: tuple[Any, ...]) -> str:
        _, event, result, error, traceback, exitcode, pid, attempts, started = item
        line = f'{self._state(event)},"pid":{_number(pid)},"attempts":{attempts}'
        if event.state is _DONE:
            if result is None:
                line += ',"result":"None"'
            else:
                text, length = result_text(result)
                line += f',"result":{quoted(text)}'
                if length is not None:
                    line += f',"result_chars":{length}'
        if error is not None:
            line += f',"error":{quoted(str(error))}'
        if traceback is not None:
            line += f',"traceback":{quoted(str(traceback))}'
        if exitcode is not None:
            line += f',"exitcode":{_number(exitcode)}'
        if started is not None:
            line += f',"started":{started - self.t0:.6f}'
        return line + "}\n"

    def _class_name(self, cls: type) -> str:
        name = self._classes.get(cls)
        if name is None:
            name = self._classes[cls] = f"{cls.__module__}.{cls.__qualname__}"
        return name


def result_text(value: Any) -> tuple[str, int | None]:
    """``repr(value)`` cut at ``RESULT_CHARS``, and its whole length when it was cut.

    A long string or bytes is cut before its ``repr`` is made, so a 1 GB result costs
    no more than a short one; a ``repr`` (or, for a string, a length or a slice) that
    raises is described instead.
    """
    try:
        if isinstance(value, str | bytes | bytearray) and len(value) > RESULT_CHARS:
            return repr(value[:RESULT_CHARS])[:RESULT_CHARS], len(value)
        text = repr(value)
    except BaseException as exc:
        return f"<repr failed: {type(exc).__name__}>", None
    if len(text) > RESULT_CHARS:
        return text[:RESULT_CHARS], len(text)
    return text, None


def _number(value: float | None) -> str:
    """A JSON number, or null for None and for what JSON cannot hold (NaN, infinities)."""
    if type(value) is int:
        return str(value)
    if value is None or not math.isfinite(value):
        return "null"
    return repr(float(value))
