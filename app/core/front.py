"""What both facades share: the calls that only reach their engine's records, and the
``concurrent.futures.Executor`` side (``submit``, ``map``, ``shutdown``: a call is a task).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from app.core import exit_wait
from app.core.book import TaskBook
from app.core.events import Event, WorkerInfo
from app.core.futures import TaskFuture, TaskRejectedError
from app.core.mapping import mapped
from app.core.recording import Recorder
from app.core.run_paths import RecordChoice, chosen_path
from app.core.states import TaskState
from app.core.task import CallTask, Task
from app.core.timeouts import as_given, is_seconds


class FacadeFront(Executor):
    """The public calls of a facade over a ``TaskBook`` engine.

    Each facade adds how it starts (its engine) and how it ends (``collect_tasks``,
    ``close``). Each call given to ``submit`` becomes a ``CallTask`` with ID
    ``<function name>-<n>``: a row in the monitor like any task, with a ``TaskFuture``
    that follows it to its fate.
    """

    _engine: TaskBook[Any]
    _shutdown_called = False
    _exit_tracked = False  # its pending calls finish at the interpreter's exit
    _recorder: Recorder | None = None

    @property
    def record_path(self) -> Path | None:
        """The file this facade's run is recorded to, or None when it is not recorded."""
        return None if self._recorder is None else self._recorder.path

    @property
    def record_problems(self) -> list[str]:
        """What went wrong with the recording after it began (a full disk, events the
        disk was too slow for); empty while all is well."""
        return [] if self._recorder is None else list(self._recorder.problems)

    def collect_tasks(self, timeout: float | None = None) -> list[Task]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    # -- recording ----------------------------------------------------------------------
    @staticmethod
    def _open_recording(record: RecordChoice) -> Recorder | None:
        """The recorder ``record`` asks for, its file open: before any worker starts, so a
        path that cannot be written raises (``OSError``) before anything else happens."""
        target = chosen_path(record)
        return None if target is None else Recorder(target)

    def _start_recording(
        self, recorder: Recorder | None, backend: str, workers: int | None
    ) -> None:
        """Writes the run's header and starts recording; closes the facade if it cannot."""
        if recorder is None:
            return
        try:
            self._engine.record_to(recorder, backend, workers)
        except BaseException:
            recorder.discard()
            self.close()
            raise
        self._recorder = recorder

    # -- tasks and events ---------------------------------------------------------------
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
        if timeout is not None and not is_seconds(timeout, zero=True):
            raise ValueError(f"timeout must be >= 0 seconds, inf or None, not {timeout!r}")
        return self._engine.poll(timeout)

    def cancel(self, task_id: str, force: bool = False) -> bool:
        """Takes a PENDING task out of the queue (CANCELLED); False if it already runs.

        ``force=True`` ends a RUNNING task too: its worker is killed (with the processes
        the task started) and replaced, whatever ``restart`` says; the task ends CANCELLED
        as soon as the death is seen (a few milliseconds), and the tasks that worker held
        but had not begun go back to the queue. ``DaskFacade`` cannot stop a running call:
        there it returns False."""
        if not isinstance(force, bool):
            raise TypeError(f"force must be True or False, not {force!r}")
        return self._engine.cancel(task_id, force)

    def stack(self, task_id: str, timeout: float = 1.0) -> str:
        """The Python stack of every thread of the worker running ``task_id``, taken now:
        where it is, whether it sleeps in C (``time.sleep``), loops in Python or waits
        on a lock. The task's thread comes first, from the task's own first call.

        ``ValueError`` when the task is not running (unknown, PENDING, finished: the
        message says which); ``TimeoutError`` when the worker does not answer within
        ``timeout`` seconds (a positive, finite number), as when the task holds the GIL
        in one long call into C code. A local worker answers from a thread of its own,
        which the task never sees in ``threading.enumerate()`` and which no signal
        wakes: the task is not disturbed. On ``DaskFacade`` the stacks come from
        ``Client.run`` on the task's worker."""
        seconds = as_given(timeout) if is_seconds(timeout) else None
        if seconds is None or not math.isfinite(seconds):
            raise ValueError(
                f"timeout must be a positive, finite number of seconds, not {timeout!r}"
            )
        return self._engine.stack(task_id, seconds)

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

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Collects at the end of the block; closes at once on an exception, or when the
        collect itself is interrupted (Ctrl-C), and lets the interrupt go on."""
        if exc_type is not None:
            self.close()
            return
        try:
            self.collect_tasks()
        except BaseException:
            self.close()
            raise

    # -- concurrent.futures.Executor --------------------------------------------------
    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        """Runs ``fn(*args, **kwargs)`` in a worker, as a task with ID ``<name>-<n>``.

        The future resolves to the return value or the call's own exception (with the
        worker's traceback as ``__cause__``); a dead worker fails it with
        ``TaskCrashedError`` (exit code included), no worker left with ``TaskLostError``.
        A call that cannot be pickled gets a future that has already failed, with the
        pickling error itself.
        """
        if not callable(fn):
            raise TypeError(f"submit expects a callable, got {type(fn).__name__}")
        engine = self._engine
        reason = "after shutdown" if self._shutdown_called else engine.closing_reason
        if reason is not None:
            raise RuntimeError(f"cannot schedule new futures: {reason}")
        name = getattr(fn, "__name__", None) or type(fn).__name__
        task = CallTask(engine.unused_id(name), fn, args, kwargs)
        future = TaskFuture(task.ID, self)
        if not engine.submit(task, future) and task.state is TaskState.REJECTED:
            future._owner = None
            future.set_exception(_refusal(task))
        elif not self._exit_tracked:
            exit_wait.track(self)  # first: a Ctrl-C between the two never leaves it untracked
            self._exit_tracked = True
        return future

    def finish_calls(self) -> None:
        """What the interpreter's exit does to an executor never shut down, as it does to a
        ``ProcessPoolExecutor``: waits for every call whose future is unresolved, then
        collects the facade, unless plain tasks are still unfinished (its finalizer then
        kills them, as for any facade dropped without a collect)."""
        if self._engine.await_calls():
            self.collect_tasks()

    def map(
        self,
        fn: Callable[..., Any],
        *iterables: Iterable[Any],
        timeout: float | None = None,
        chunksize: int = 1,
        buffersize: int | None = None,
    ) -> Iterator[Any]:
        """The results of ``fn`` over the zipped ``iterables``, in order, as
        ``Executor.map``. Each call is one task (``chunksize`` is checked, as
        ``ProcessPoolExecutor`` does, and changes nothing else); ``buffersize=N`` keeps at
        most N calls in flight and reads the iterables only as results are taken."""
        return mapped(self.submit, fn, iterables, timeout, chunksize, buffersize)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Ends the job, as ``ProcessPoolExecutor.shutdown`` does.

        ``cancel_futures`` first cancels whatever has not started; ``wait=False`` returns
        at once while a thread collects the rest (the interpreter waits for it at exit).
        """
        self._shutdown_called = True
        if cancel_futures:
            self._engine.cancel_pending()
        if wait:
            self.collect_tasks()
        else:
            threading.Thread(target=self.collect_tasks, name="facade-shutdown").start()


def _refusal(task: Task) -> BaseException:
    """What a refused call's future raises: the error that kept it from being pickled,
    as ``ProcessPoolExecutor``'s future does (with a note naming the task), else
    ``TaskRejectedError``."""
    refused = task.exception
    if refused is None:
        return TaskRejectedError(f"task {task.ID!r}: {task.error}")
    task.exception = None  # the future has it now
    refused.add_note(f"task {task.ID!r} was refused: {task.error}")
    return refused
