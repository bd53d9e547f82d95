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


@dataclass(frozen=True, slots=True)
class WorkerDied:
    """The process in slot ``index`` ended; ``signal_name`` is set when a signal killed it."""

    index: int
    pid: int
    exitcode: int | None
    signal_name: str | None
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


Event = TaskChanged | WorkerStarted | WorkerDied | WorkerLog | EventsDropped


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
