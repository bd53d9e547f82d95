"""Reading a recorded run: a finished file (``read_run``) or one still being written
(``RunFollower``), and each task's last known state from its events.

A run file is plain JSON Lines and is only ever parsed as JSON: nothing in it is
unpickled, evaluated or imported, so opening a file from anyone is safe. A damaged file
is read up to the damage, which ``problems`` names by line number; a last line without
its newline is what a writer killed mid-line leaves, and is skipped without a word.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.core.recording import VERSION
from app.core.run_paths import FORMAT
from app.core.states import TaskState

_STATES = TaskState.__members__


class RunFileError(ValueError):
    """The file is not a run recording at all, or one of a newer format version."""


@dataclass
class TaskRecord:
    """One task as its recorded events left it; times are seconds since the run began."""

    id: str
    task_class: str | None = None
    state: TaskState = TaskState.PENDING
    progress: float | None = None
    message: str = ""
    result: str | None = None  # repr text, cut at the header's result_chars
    result_chars: int | None = None  # the whole result's length, when it was cut
    error: str | None = None
    traceback: str | None = None
    exitcode: int | None = None
    worker_pid: int | None = None
    attempts: int = 1
    submitted: float | None = None
    started: float | None = None
    finished: float | None = None


@dataclass
class RecordedRun:
    """A run as read from its file: ``header`` (its first line), ``events`` (every later
    line, as a dict, in order), ``complete`` (its end line was seen)."""

    path: Path
    header: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    complete: bool = False
    damage: list[str] = field(default_factory=list)
    dropped: int = 0  # events the writer could not keep up with, by its own count

    @property
    def problems(self) -> list[str]:
        """Damaged lines, with their numbers, and events the recording had to drop."""
        notes = list(self.damage)
        if self.dropped:
            notes.append(
                f"{self.dropped} event(s) were not recorded (the disk was slower than the "
                "run): the states of some tasks may be out of date"
            )
        return notes

    def tasks(self) -> dict[str, TaskRecord]:
        """Each task's last known state, by ID, in submission order."""
        records: dict[str, TaskRecord] = {}
        for event in self.events:
            if event["e"] in ("submit", "state"):
                fold(records, event)
        return records

    def deaths(self) -> list[dict[str, Any]]:
        """Every worker death: ``worker``, ``pid``, ``exitcode``, ``signal``, ``t``,
        ``reason`` (one of ``DEATH_REASONS``; "crashed" in runs recorded before it was), and
        what telemetry knew (None in a run without it): ``rss`` (the last memory
        sample, bytes), ``oom`` (True, False or None) and ``oom_evidence``; ``cause``, why
        the parent killed or stopped it (None when it did not, or in older runs)."""
        return [
            {
                "worker": event.get("worker"),
                "pid": event.get("pid"),
                "exitcode": event.get("exitcode"),
                "signal": event.get("signal"),
                "t": event.get("t"),
                "reason": death_reason_of(event),
                "rss": as_size(event.get("rss")),
                "oom": as_bool(event.get("oom")),
                "oom_evidence": as_str(event.get("oom_evidence")),
                "cause": as_str(event.get("cause")),
            }
            for event in self.events
            if event["e"] == "worker_died"
        ]

    def peak_memory(self) -> dict[int, int]:
        """The largest resident memory sampled in each worker slot, in bytes, by slot
        (empty for a run recorded without telemetry)."""
        peaks: dict[int, int] = {}
        for event in self.events:
            if event["e"] == "worker_stats":
                worker, rss = as_int(event.get("worker")), as_size(event.get("rss"))
                if worker is not None and rss is not None and rss > peaks.get(worker, -1):
                    peaks[worker] = rss
        return peaks


class RunFollower:
    """Reads a run file as it grows: each ``read()`` returns the events added since.

    ``run`` holds everything read so far. Raises ``RunFileError`` once the first line
    shows that the file is not a run, or one of a newer version.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.run = RecordedRun(Path(path))
        self._offset = 0
        self._tail = b""
        self._lines = 0
        self._stopped = False  # damage was found: nothing after it is read
        self.caught_up = False  # the last read reached the end of the file
        self._identity: tuple[int, int] | None = None  # the file first read (device, inode)

    def read(self, limit: int = -1) -> list[dict[str, Any]]:
        """The events whose lines were completed since the last call, reading at most
        ``limit`` bytes (all when negative): ``caught_up`` then says if more is there."""
        # Opened without waiting (a FIFO would wait for a writer), and refused unless it
        # is a regular file (a device such as /dev/zero never ends).
        fd = os.open(self.run.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            os.close(fd)
            raise RunFileError(f"{self.run.path} is not a run recording: it is not a regular file")
        if self._identity is None:
            self._identity = (info.st_dev, info.st_ino)
        elif self._identity != (info.st_dev, info.st_ino) or info.st_size < self._offset:
            os.close(fd)
            raise RunFileError(
                f"{self.run.path} was replaced or emptied while it was being read "
                "(a new run recorded there?): open it again to see that run"
            )
        with open(fd, "rb") as file:
            file.seek(self._offset)
            data = file.read(limit)
            self.caught_up = limit < 0 or len(data) < limit
        if self._offset == 0 and data and not data.lstrip().startswith(b"{"):
            raise RunFileError(f"{self.run.path} is not a run recording: it is not JSON Lines")
        self._offset += len(data)
        if self._stopped:
            return []
        lines = (self._tail + data).split(b"\n")
        self._tail = lines.pop()
        return self._take(lines)

    def finish(self) -> list[dict[str, Any]]:
        """The file will not grow: its last line, if whole but for its newline, is read;
        a torn one is skipped."""
        tail, self._tail = self._tail, b""
        if self._lines == 0:
            if not tail.strip():
                raise RunFileError(f"{self.run.path} is empty: no run was recorded in it")
            return self._take([tail])
        if self._stopped or not tail.strip():
            return []
        try:
            event = _event(tail)
        except ValueError:
            return []  # torn by a writer that was killed mid-line
        self._lines += 1
        return self._add([event])

    def _take(self, lines: list[bytes]) -> list[dict[str, Any]]:
        if self._lines == 0 and lines:
            self._lines = 1
            self.run.header = _header(lines[0], self.run.path)
            lines = lines[1:]
        events: list[dict[str, Any]] = []
        for raw in lines:  # one by one: lines damaged alone can make valid JSON joined
            self._lines += 1
            try:
                events.append(_event(raw))
            except ValueError as exc:
                self.run.damage.append(f"line {self._lines}: {exc}; nothing after it was read")
                self._stopped = True
                break
        return self._add(events)

    def _add(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        run = self.run
        for event in events:
            kind = event["e"]
            if kind == "end":
                run.complete = True
            elif kind == "dropped" and isinstance(event.get("count"), int):
                run.dropped = max(run.dropped, event["count"])
        run.events.extend(events)
        return events


def read_run(path: str | os.PathLike[str]) -> RecordedRun:
    """Reads a whole run file, finished or not (``OSError`` if it cannot be opened).

    Raises ``RunFileError`` only for a file that is not a run at all (empty, foreign) or
    one of a newer format version; a damaged run is read up to the damage.
    """
    follower = RunFollower(path)
    follower.read()
    follower.finish()
    return follower.run


def _header(raw: bytes, path: Path) -> dict[str, Any]:
    try:
        header = json.loads(raw)
    except (ValueError, RecursionError):
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise RunFileError(f"{path} is not a run recording: its first line is no run header")
    version = header.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise RunFileError(f"{path} is not a run recording: its version is {version!r}")
    if version > VERSION:
        raise RunFileError(
            f"{path} is a run of format version {version}, newer than this program reads "
            f"(up to {VERSION}): update worker-monitor to open it"
        )
    return header


def _event(raw: bytes) -> dict[str, Any]:
    """One event line, checked enough that folding it cannot fail (ValueError if not)."""
    try:
        event = json.loads(raw)
    except RecursionError:
        raise ValueError("damaged (nested too deeply)") from None
    except ValueError as exc:
        raise ValueError(f"damaged (not JSON: {exc})") from None
    return _checked(event)


def _checked(event: Any) -> dict[str, Any]:
    """``event`` if folding it cannot fail (ValueError if not). Exact types, as the JSON
    parser gives them: this runs for every line of a run."""
    if type(event) is not dict:
        raise ValueError("damaged (not a JSON object)")
    kind: Any = event.get("e")
    when: Any = event.get("t")
    if type(kind) is not str or _moment(when) is None:
        raise ValueError("damaged (no event kind, or no time within the run)")
    if kind == "state" or kind == "submit":
        if type(event.get("id")) is not str:
            raise ValueError(f"damaged ({kind} without a task ID)")
        if kind == "state" and event.get("state") not in _STATES:
            raise ValueError(f"damaged (unknown state {event.get('state')!r})")
    return event


def fold(records: dict[str, TaskRecord], event: dict[str, Any]) -> TaskRecord:
    """Applies one ``submit`` or ``state`` event to its task's record (made if new)."""
    if event["e"] == "submit":
        return _submitted(records, event)
    return _changed(records, event)


def _submitted(records: dict[str, TaskRecord], event: dict[str, Any]) -> TaskRecord:
    record = records.get(event["id"])
    if record is None:
        record = records[event["id"]] = TaskRecord(event["id"])
    get = event.get
    record.task_class = as_str(get("class"))
    record.attempts = as_int(get("attempt")) or record.attempts
    record.state = TaskState.PENDING
    record.progress = record.result = record.result_chars = None
    record.error = record.traceback = record.exitcode = record.worker_pid = None
    record.started = record.finished = None
    record.message = as_str(get("message")) or ""
    record.submitted = event["t"]
    return record


def _changed(records: dict[str, TaskRecord], event: dict[str, Any]) -> TaskRecord:
    record = records.get(event["id"])
    if record is None:  # its submission was not recorded (dropped): known from here on
        record = records[event["id"]] = TaskRecord(event["id"])
    get = event.get
    state = _STATES[event["state"]]
    was = record.state
    record.state = state
    record.progress = _num(get("progress"))
    record.message = as_str(get("message")) or ""
    if state is TaskState.RUNNING:
        record.worker_pid = as_int(get("pid")) or record.worker_pid
        if was is not TaskState.RUNNING:
            record.started = event["t"]
    elif state is TaskState.PENDING:  # requeued: the attempt so far is undone
        record.started = record.worker_pid = None
    elif state.is_final:
        record.worker_pid = as_int(get("pid"))
        record.attempts = as_int(get("attempts")) or record.attempts
        record.result = as_str(get("result"))
        record.result_chars = as_int(get("result_chars"))
        record.error = as_str(get("error"))
        record.traceback = as_str(get("traceback"))
        record.exitcode = as_int(get("exitcode"))
        record.started = _moment(get("started"))
        record.finished = event["t"]
    return record


# A field's value if it is of the type it should be, else None: a bad value cannot spread.
# Exact types, as the JSON parser gives them (a bool is no int here): these run for
# every line of a run.
def as_str(value: Any) -> str | None:
    return value if type(value) is str else None


def death_reason_of(event: dict[str, Any]) -> str:
    """A recorded death's ``reason``: "crashed" when the run was recorded before deaths
    had one (a reason a later version adds is kept as it is)."""
    reason = event.get("reason")
    return reason if type(reason) is str and reason else "crashed"


def as_int(value: Any) -> int | None:
    return value if type(value) is int else None


def as_size(value: Any) -> int | None:
    """A memory size in bytes, as a 64-bit counter can hold it; None for anything else
    (a damaged file may hold -5 or 10**400, which no view could show)."""
    return value if type(value) is int and 0 <= value < 2**64 else None


def as_bool(value: Any) -> bool | None:
    return value if type(value) is bool else None


def as_num(value: Any) -> float | None:
    """A finite number, or None."""
    return _num(value)


def _num(value: Any) -> float | None:
    """A finite number (``value - value`` is 0 for one; NaN for NaN and infinities)."""
    if type(value) is float or type(value) is int:
        return value if value - value == 0 else None
    return None


MOMENTS = (-86_400.0, 1e9)
"""The times a run's events may have, in seconds from its start: from a day before (a
clock set back) to about 31 years after. Anything else is damage, not a time."""


def _moment(value: Any) -> float | None:
    number = _num(value)
    return number if number is not None and MOMENTS[0] <= number <= MOMENTS[1] else None


def run_start(header: dict[str, Any]) -> float:
    """When the run began, in seconds since the epoch; 0 when the header has no
    plausible time (before 1970, or past the year 5000)."""
    started = _num(header.get("started"))
    return started if started is not None and 0 <= started <= 1e11 else 0.0
