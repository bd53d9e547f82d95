"""The Qt-free core: a background-worker facade that never blocks and never loses a task."""

from app.core.events import (
    EventsDropped,
    TaskChanged,
    WorkerDied,
    WorkerInfo,
    WorkerLog,
    WorkerStarted,
    WorkerStats,
)
from app.core.facade import WorkingProcessFacade
from app.core.runs import RecordedRun, RunFileError, RunFollower, TaskRecord, read_run
from app.core.states import TaskState
from app.core.task import CrashTask, SimpleTask, Task

__all__ = [
    "CrashTask",
    "EventsDropped",
    "RecordedRun",
    "RunFileError",
    "RunFollower",
    "SimpleTask",
    "Task",
    "TaskChanged",
    "TaskRecord",
    "TaskState",
    "WorkerDied",
    "WorkerInfo",
    "WorkerLog",
    "WorkerStarted",
    "WorkerStats",
    "WorkingProcessFacade",
    "read_run",
]
