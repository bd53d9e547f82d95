"""``submit``, ``map`` and ``shutdown`` for any facade that runs tasks: a call is a task."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any

from app.core.futures import TaskFuture, TaskRejectedError
from app.core.states import TaskState
from app.core.task import CallTask, Task


class TaskExecutor(Executor):
    """The ``concurrent.futures.Executor`` side of a facade.

    Each call becomes a ``CallTask`` with ID ``<function name>-<n>``: a row in the
    monitor like any task, with a ``TaskFuture`` that follows it to its fate.
    """

    _shutdown_called = False

    # -- what the facade provides -----------------------------------------------------
    def _submit_call(self, task: Task, future: TaskFuture) -> bool:
        raise NotImplementedError

    def _unused_id(self, prefix: str) -> str:
        raise NotImplementedError

    def _closing_reason(self) -> str | None:
        raise NotImplementedError

    def _cancel_pending(self) -> int:
        raise NotImplementedError

    def cancel(self, task_id: str) -> bool:
        raise NotImplementedError

    def collect_tasks(self, timeout: float | None = None) -> list[Task]:
        raise NotImplementedError

    # -- concurrent.futures.Executor --------------------------------------------------
    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        """Runs ``fn(*args, **kwargs)`` in a worker, as a task with ID ``<name>-<n>``.

        The future resolves to the return value or the call's own exception (with the
        worker's traceback as ``__cause__``); a dead worker fails it with
        ``TaskCrashedError`` (exit code included), no worker left with ``TaskLostError``.
        A call that cannot be pickled gets a future that has already failed.
        """
        if not callable(fn):
            raise TypeError(f"submit expects a callable, got {type(fn).__name__}")
        reason = "after shutdown" if self._shutdown_called else self._closing_reason()
        if reason is not None:
            raise RuntimeError(f"cannot schedule new futures: {reason}")
        name = getattr(fn, "__name__", None) or type(fn).__name__
        task = CallTask(self._unused_id(name), fn, args, kwargs)
        future = TaskFuture(task.ID, self)
        if not self._submit_call(task, future) and task.state is TaskState.REJECTED:
            future._owner = None
            future.set_exception(TaskRejectedError(f"task {task.ID!r}: {task.error}"))
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Ends the job, as ``ProcessPoolExecutor.shutdown`` does.

        ``cancel_futures`` first cancels whatever has not started; ``wait=False`` returns
        at once while a thread collects the rest (the interpreter waits for it at exit).
        """
        self._shutdown_called = True
        if cancel_futures:
            self._cancel_pending()
        if wait:
            self.collect_tasks()
        else:
            threading.Thread(target=self.collect_tasks, name="facade-shutdown").start()
