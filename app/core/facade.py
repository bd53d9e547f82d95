"""``WorkingProcessFacade``: hand tasks to background worker processes, safely.

The facade is a thin public front; the state and the I/O thread live in an ``Engine``
that never refers back to the facade, so a facade dropped without ``collect_tasks()``
is garbage-collected and its finalizer kills the workers (GUIDE, trap 9).
"""

from __future__ import annotations

import math
import multiprocessing
import weakref
from types import TracebackType

from app.core.engine import _KILL_CLOSE, _KILL_COLLECT, Engine
from app.core.events import Event, WorkerInfo
from app.core.executor import TaskExecutor
from app.core.futures import TaskFuture
from app.core.task import Task


class WorkingProcessFacade(TaskExecutor):
    """Runs tasks in ``workers`` background processes, spawned at once.

    ``process_task`` never blocks; ``poll_events`` reports what happens, live;
    ``collect_tasks`` ends the job and returns every task with its exact fate.
    It is also a ``concurrent.futures.Executor`` (``submit``, ``map``, ``shutdown``), so
    it drops in where a ``ProcessPoolExecutor`` is used; each call is a task too.
    """

    def __init__(
        self,
        workers: int = 1,
        *,
        start_method: str = "spawn",
        restart: bool = False,
        task_timeout: float | None = None,
    ) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be a positive integer, not {workers!r}")
        if start_method not in multiprocessing.get_all_start_methods():
            raise ValueError(
                f"unknown start method {start_method!r}; "
                f"this platform has {', '.join(multiprocessing.get_all_start_methods())}"
            )
        if task_timeout is not None and not _positive_seconds(task_timeout):
            raise ValueError(
                f"task_timeout must be a positive number of seconds or None, not {task_timeout!r}"
            )
        self._engine = Engine(workers, start_method, restart, task_timeout)
        self._finalizer = weakref.finalize(self, self._engine.abandon)

    def process_task(self, task: Task) -> bool:
        """Queues ``task`` without blocking; False when refused (REJECTED) or LOST.

        The task is pickled here, so an unpicklable task is refused at once instead of
        being dropped later by a feeder thread (GUIDE, trap 1).
        """
        if not isinstance(task, Task):
            raise TypeError(f"process_task expects a Task, got {type(task).__name__}")
        return self._engine.submit(task)

    def poll_events(self, timeout: float | None = 0.0) -> list[Event]:
        """Everything that happened since the last call, waiting up to ``timeout`` for it."""
        if timeout is not None and not (timeout >= 0):
            raise ValueError(f"timeout must be >= 0 or None, not {timeout!r}")
        return self._engine.poll(timeout)

    def collect_tasks(self, timeout: float | None = None) -> list[Task]:
        """Ends the job and returns every recorded task, in submission order.

        Waits for queued tasks to finish (or for the workers to die), draining results
        all along; after ``timeout`` seconds kills the workers: a running task ends
        TIMED_OUT, queued ones CANCELLED. Later calls return the same tasks at once.
        """
        if timeout is not None and not (_positive_seconds(timeout) or timeout == 0):
            raise ValueError(f"timeout must be >= 0 seconds or None, not {timeout!r}")
        tasks = self._engine.collect(timeout, _KILL_COLLECT)
        self._engine.flush_futures()
        return tasks

    # -- what TaskExecutor (submit, map, shutdown) builds on ---------------------------
    def _submit_call(self, task: Task, future: TaskFuture) -> bool:
        return self._engine.submit(task, future)

    def _unused_id(self, prefix: str) -> str:
        return self._engine.unused_id(prefix)

    def _closing_reason(self) -> str | None:
        return self._engine.closing_reason

    def _cancel_pending(self) -> int:
        return self._engine.cancel_pending()

    def close(self) -> None:
        """Ends the job now, as ``collect_tasks(timeout=0)`` would; idempotent.

        Called while another thread waits in ``collect_tasks``, it ends that wait now.
        """
        self._engine.collect(0, _KILL_CLOSE)
        self._engine.flush_futures()

    def cancel(self, task_id: str) -> bool:
        """Takes a PENDING task out of the queue (CANCELLED); False if it already runs."""
        return self._engine.cancel(task_id)

    def resubmit(self, task_id: str) -> bool:
        """Queues a FAILED, CRASHED, LOST, CANCELLED or TIMED_OUT task again."""
        return self._engine.resubmit(task_id)

    def restart_worker(self, requeue_lost: bool = True) -> int:
        """Replaces dead workers; LOST tasks go back to PENDING. Returns how many started."""
        return self._engine.restart_workers(requeue_lost)

    def worker_info(self) -> list[WorkerInfo]:
        """One snapshot per worker slot."""
        return self._engine.worker_info()

    def task(self, task_id: str) -> Task:
        """The recorded task with this ID (KeyError if there is none)."""
        return self._engine.task(task_id)

    def tasks_from(self, start: int) -> list[Task]:
        """The recorded tasks from position ``start`` on, in submission order: a viewer
        that knows the first ``start`` fetches only the new ones, in one call."""
        return self._engine.tasks_from(start)

    @property
    def tasks(self) -> list[Task]:
        """A snapshot of every recorded task, in submission order."""
        return self._engine.snapshot()

    def __enter__(self) -> WorkingProcessFacade:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.collect_tasks()
        else:
            self.close()


def _positive_seconds(value: object) -> bool:
    return (
        not isinstance(value, bool)
        and isinstance(value, int | float)
        and math.isfinite(value)
        and value > 0
    )
