"""What ``poll_events`` returns: small immutable records, in the order things happened.

The per-task events are NamedTuples, cheap to create by the hundred thousand; the rare
worker events are frozen dataclasses (a NamedTuple cannot have a field called ``index``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from app.core.states import TaskState


class TaskChanged(NamedTuple):
    """A task moved to ``state``, or reported progress while RUNNING."""

    task_id: str
    state: TaskState
    progress: float | None
    message: str
    time: float


@dataclass(frozen=True, slots=True)
class WorkerStarted:
    """Worker slot ``index`` got a new process."""

    index: int
    pid: int
    time: float


DEATH_REASONS = ("crashed", "timeout", "recycled", "initializer failed", "stopped", "killed")
KILL_CAUSES = ("timeout", "collect", "close", "kill now", "cancel", "stop", "damaged", "reap")
"""Why the parent killed or stopped a worker (``WorkerDied.cause``): its task's timeout,
``collect_tasks(timeout)`` ran out, ``close()``, ``close()`` while ``collect_tasks``
waited (the window's Kill now), ``cancel(id, force=True)``, the end of the job (a clean
stop, or a kill when it did not leave in time), a damaged result stream, found alive when
it was to be reaped."""


@dataclass(frozen=True, slots=True)
class WorkerDied:
    """The process in slot ``index`` ended; ``signal_name`` is set when a signal killed it.

    ``reason`` is one of ``DEATH_REASONS``: "crashed" (it died on its own), "timeout"
    (killed for a task's timeout), "recycled" (``max_tasks_per_child`` or
    ``max_memory_per_child``: a clean exit, not a death), "initializer failed",
    "stopped" (a clean exit the parent asked for), "killed" (the parent killed it
    otherwise: Kill now, a collect that ran out, a close, a forced cancel).
    ``rss_bytes`` is its last resident-memory sample; ``oom_killed`` is True when the
    kernel's out-of-memory killer is the likely cause, False when ruled out, None when
    it cannot be known; ``oom_evidence`` says on what evidence, in one sentence (None
    when worker telemetry is off, or on a backend that cannot tell). ``cause`` is why
    the parent killed or stopped it, one of ``KILL_CAUSES``; None when it did not.
    """

    index: int
    pid: int
    exitcode: int | None
    signal_name: str | None
    time: float
    reason: str = "crashed"
    rss_bytes: int | None = None
    oom_killed: bool | None = None
    oom_evidence: str | None = None
    cause: str | None = None


@dataclass(frozen=True, slots=True)
class WorkerStats:
    """A sample of worker slot ``index``'s resident memory and CPU use (percent of one
    core since the previous sample); at most two a second per worker."""

    index: int
    pid: int
    rss_bytes: int
    cpu_percent: float
    time: float


class WorkerLog(NamedTuple):
    """One whole line a worker logged or printed; ``level`` is a ``logging`` level number."""

    pid: int
    level: int
    message: str
    time: float


@dataclass(frozen=True, slots=True)
class EventsDropped:
    """``count`` events were dropped, oldest first, because nobody polled for so long that
    more than ``app.core.book.MAX_UNPOLLED_EVENTS`` piled up. Comes first in a poll's list;
    the tasks themselves keep their whole state."""

    count: int
    time: float


Event = TaskChanged | WorkerStarted | WorkerDied | WorkerStats | WorkerLog | EventsDropped


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """A snapshot of one worker slot, as ``process_task`` sees it."""

    index: int
    pid: int | None
    alive: bool
    exitcode: int | None
    task_id: str | None
    tasks_done: int
    restarts: int
    ready: bool
    queued: int
    rss_bytes: int | None = None  # the last sample; None before the first or when dead
    cpu_percent: float | None = None
