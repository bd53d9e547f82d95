"""What ``poll_events`` returns: small immutable records, in the order things happened.

They are NamedTuples: cheap to create by the hundred thousand, immutable, picklable.
"""

from __future__ import annotations

from typing import NamedTuple

from app.core.states import TaskState


class TaskChanged(NamedTuple):
    """A task moved to ``state``, or reported progress while RUNNING."""

    task_id: str
    state: TaskState
    progress: float | None
    message: str
    time: float


class WorkerStarted(NamedTuple):
    """Worker slot ``index`` got a new process."""

    index: int
    pid: int
    time: float


class WorkerDied(NamedTuple):
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


Event = TaskChanged | WorkerStarted | WorkerDied | WorkerLog


class WorkerInfo(NamedTuple):
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
