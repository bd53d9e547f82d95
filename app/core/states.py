"""The states a task moves through, from creation to its final fate."""

from __future__ import annotations

import enum


class TaskState(enum.Enum):
    """Where a task is in its life.

    NEW until ``process_task``; PENDING while queued; RUNNING while a worker runs it.
    Everything else is final, and says exactly what happened to the task.
    """

    NEW = "new"
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"  # do_task raised (or called sys.exit); the worker lives on
    CRASHED = "crashed"  # its worker died while running it
    LOST = "lost"  # accepted, but no worker was left alive to run it
    CANCELLED = "cancelled"  # taken out of the queue before it ran
    TIMED_OUT = "timed_out"  # ran past its timeout; its worker was killed
    REJECTED = "rejected"  # refused by process_task; never recorded

    @property
    def is_final(self) -> bool:
        """True once nothing more will happen to the task unless it is resubmitted."""
        return self not in _LIVE


_LIVE = frozenset({TaskState.NEW, TaskState.PENDING, TaskState.RUNNING})

RESUBMITTABLE = frozenset(
    {
        TaskState.FAILED,
        TaskState.CRASHED,
        TaskState.LOST,
        TaskState.CANCELLED,
        TaskState.TIMED_OUT,
    }
)
