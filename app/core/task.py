"""Tasks: the objects a caller submits and gets back, filled in, from ``collect_tasks``.

A task is pickled to the worker without its bookkeeping (state, times, result...): the
worker needs only what the task is, and the parent keeps what happened to it.
"""

from __future__ import annotations

import ctypes
import math
import os
import pickle
import signal
import time
from collections.abc import Callable
from typing import Any, ClassVar

from app.core.states import TaskState

# Set inside a worker process to the function that sends progress to the parent.
_progress_sink: Callable[[Task, float, str], None] | None = None


def set_progress_sink(sink: Callable[[Task, float, str], None]) -> None:
    """Called once in a worker process: where ``Task.report_progress`` sends progress."""
    global _progress_sink
    _progress_sink = sink


_BOOKKEEPING = (
    "result",
    "state",
    "error",
    "traceback",
    "exception",
    "worker_pid",
    "exitcode",
    "submitted_at",
    "started_at",
    "finished_at",
    "attempts",
    "progress",
    "_seq",
    "_payload",
    "_where",
    "_deadline",
    "_limit",
    "_owner",
)


class WorkerCrash(BaseException):
    """Raised by a task to kill its worker from the worker's own loop.

    It is deliberately not an ``Exception``: the worker turns a task's exceptions into
    FAILED, but lets this one escape, so the worker process dies with it.
    """


class Task:
    """Base class for user tasks: subclass it at module level and override ``do_task``."""

    __slots__ = ("ID", "timeout", "__dict__", *_BOOKKEEPING)
    _state_names: ClassVar[dict[type, tuple[str, ...]]] = {}

    def __init__(self, ID: str, *, timeout: float | None = None) -> None:
        self.ID = ID
        self.timeout = timeout
        self._owner: Any = None  # a weak reference to the facade that accepted it, once one has
        self._reset_bookkeeping()

    def _reset_bookkeeping(self) -> None:
        self.result: Any = None
        self.state = TaskState.NEW
        self.error: str | None = None
        self.traceback: str | None = None
        self.exception: BaseException | None = None  # do_task's own, when it could travel
        self.worker_pid: int | None = None
        self.exitcode: int | None = None
        self.submitted_at: float | None = None
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self.attempts = 0
        self.progress: float | None = None
        self._seq = 0  # the number of its current queueing or dispatch
        self._payload: bytes | None = None  # pickled once, in process_task
        self._where = -1  # index of the worker whose window holds it, or -1
        self._deadline = 0.0  # monotonic time its timeout expires while running, or 0
        self._limit: float | None = None  # its timeout as accepted: later changes do not count

    # -- what runs in the worker ------------------------------------------------------
    def is_valid(self) -> bool:
        """Whether the task may run; checked by ``process_task`` and again in the worker."""
        return self.why_invalid() is None

    def why_invalid(self) -> str | None:
        """A one-line reason the task is invalid, or None: ``is_valid``'s explanation."""
        return None

    def do_task(self) -> Any:
        """The work. A return value other than None becomes ``result``."""
        raise NotImplementedError(f"{type(self).__name__} must override do_task()")

    def report_progress(self, fraction: float, message: str = "") -> None:
        """Tell the parent how far along the task is (0.0 to 1.0), live, from ``do_task``."""
        fraction = float(fraction)
        if math.isnan(fraction):
            raise ValueError("progress fraction is NaN")
        fraction = min(1.0, max(0.0, fraction))
        self.progress = fraction
        if _progress_sink is not None:
            _progress_sink(self, fraction, str(message))

    # -- pickling: only what the task is, never what happened to it -------------------
    def __getstate__(self) -> dict[str, Any]:
        state = dict(getattr(self, "__dict__", ()))
        state["ID"] = self.ID
        state["timeout"] = self.timeout
        for name in self._extra_slots():
            if hasattr(self, name):
                state[name] = getattr(self, name)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._owner = None  # a copy belongs to nobody yet
        self._reset_bookkeeping()
        for name, value in state.items():
            object.__setattr__(self, name, value)

    @classmethod
    def _extra_slots(cls) -> tuple[str, ...]:
        """Slots that subclasses declare: part of what the task is, so they travel."""
        names = Task._state_names.get(cls)
        if names is None:
            found: list[str] = []
            for klass in cls.__mro__:
                if klass is Task or klass is object:
                    continue
                slots = klass.__dict__.get("__slots__", ())
                found.extend([slots] if isinstance(slots, str) else slots)
            names = Task._state_names[cls] = tuple(n for n in found if n != "__dict__")
        return names

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.ID!r} {self.state.name}>"


def load_task(payload: bytes | memoryview) -> Task:
    """Unpickles a task where it runs; a payload that is not a Task is a TypeError."""
    task = pickle.loads(payload)
    if not isinstance(task, Task):
        raise TypeError(f"expected a Task, got {type(task).__name__}")
    return task


def why_not_valid(task: Task) -> str | None:
    """None when the task may run, else why: its ``why_invalid()``, or a generic line."""
    if task.is_valid():
        return None
    return task.why_invalid() or f"{type(task).__name__}.is_valid() returned False"


class SimpleTask(Task):
    """Sleeps ``estimated_processing_time`` seconds, reporting progress, then says so.

    As in the original design, a SimpleTask whose ID is "crash" (any case) kills its worker.
    """

    def __init__(self, ID: str, estimated_processing_time: float, **kwargs: Any) -> None:
        super().__init__(ID, **kwargs)
        self.estimated_processing_time = estimated_processing_time

    def why_invalid(self) -> str | None:
        t = self.estimated_processing_time
        if isinstance(t, bool) or not isinstance(t, int | float):
            return f"estimated_processing_time must be a number of seconds, not {t!r}"
        if math.isnan(t):
            return "estimated_processing_time is NaN"
        if math.isinf(t):
            return f"estimated_processing_time is infinite ({t})"
        if t < 0:
            return f"estimated_processing_time is negative ({t})"
        return None

    def do_task(self) -> str:
        if isinstance(self.ID, str) and self.ID.lower() == "crash":
            raise WorkerCrash(f"task {self.ID!r} crashes its worker")
        total = float(self.estimated_processing_time)
        if total > 0:
            steps = max(1, min(100, math.ceil(total / 0.1)))
            start = time.monotonic()
            for step in range(1, steps + 1):
                remaining = start + total * step / steps - time.monotonic()
                if remaining > 0:
                    time.sleep(remaining)
                self.report_progress(step / steps)
        return f"{self.ID} solved after {self.estimated_processing_time}"


CRASH_WAYS = ("exception", "exit", "exit0", "kill", "segfault", "hang")


class CrashTask(Task):
    """Kills the worker that runs it, in one of the ways of ``CRASH_WAYS``."""

    def __init__(self, ID: str, how: str = "exception", **kwargs: Any) -> None:
        super().__init__(ID, **kwargs)
        self.how = how

    def why_invalid(self) -> str | None:
        if self.how not in CRASH_WAYS:
            return f"unknown crash way {self.how!r}; expected one of {', '.join(CRASH_WAYS)}"
        return None

    def do_task(self) -> None:
        how = self.how
        if how == "exception":
            raise WorkerCrash(f"CrashTask {self.ID!r} raised in the worker's loop")
        if how == "exit":
            os._exit(3)
        if how == "exit0":
            os._exit(0)
        if how == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        if how == "segfault":
            ctypes.string_at(0)  # reads address 0: a real SIGSEGV
        if how == "hang":
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            while True:
                time.sleep(3600)
        raise ValueError(f"unknown crash way {how!r}")


class CallTask(Task):
    """A function call made a task: what ``WorkingProcessFacade.submit`` queues.

    The function travels by reference, as with ``ProcessPoolExecutor``: it must be
    importable by name in the worker (no lambdas, no functions nested in others).
    """

    released = False  # its function, arguments and outcome were let go (``release``)

    def __init__(
        self, ID: str, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        super().__init__(ID)
        self.fn = fn
        self.args = args
        self.kwargs = kwargs

    def why_invalid(self) -> str | None:
        return None if callable(self.fn) else f"{self.fn!r} is not callable"

    def do_task(self) -> Any:
        return self.fn(*self.args, **self.kwargs)

    def release(self) -> None:
        """Lets go of the function, arguments, result and exception once the call has
        ended and its future is gone; its state, times, worker, error and traceback text
        stay, for the monitor."""
        self.fn = _released_call
        self.args = ()
        self.kwargs = {}
        self.result = None
        self.exception = None
        self._payload = None
        self.released = True


def _released_call() -> None:
    """What a released call holds instead of its function."""
