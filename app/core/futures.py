"""``concurrent.futures`` for the facade: each submitted call is a task with a Future.

A future follows its task: RUNNING when a worker claims it, then resolved by the task's
first final state. Futures are resolved on a thread of their own, never under the
engine's lock nor on its I/O thread, so a slow ``add_done_callback`` cannot stall a
worker's results or a caller's ``process_task``; and they resolve whether or not anybody
polls events.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from concurrent.futures import CancelledError, Future, InvalidStateError, wait
from concurrent.futures.process import BrokenProcessPool
from queue import SimpleQueue
from typing import Any, Protocol

from app.core.states import TaskState
from app.core.task import Task
from app.core.timeouts import MAX_SLICE, deadline, remaining

log = logging.getLogger("app.core")


class RemoteTraceback(Exception):
    """The worker's traceback, attached as ``__cause__`` of a call's exception."""

    def __init__(self, tb: str) -> None:
        super().__init__(tb)
        self.tb = tb

    def __str__(self) -> str:
        return self.tb


class TaskRejectedError(ValueError):
    """``submit`` refused the call for another reason than pickling (the facade began
    to close as it came); it never ran. A call that cannot be pickled fails with the
    pickling error itself, as with ``ProcessPoolExecutor``."""


class TaskFailedError(Exception):
    """The call raised an exception that could not be sent back; its text is kept."""


class TaskCrashedError(BrokenProcessPool):
    """The worker died while running this call; ``exitcode`` says how.

    A ``BrokenProcessPool``, so code written for ``ProcessPoolExecutor`` still catches
    it; but unlike there, only this call's future fails: the facade goes on.
    """

    def __init__(self, message: str, exitcode: int | None, pid: int | None) -> None:
        super().__init__(message)
        self.exitcode = exitcode
        self.pid = pid


class TaskLostError(BrokenProcessPool):
    """No worker was left alive to run the call (they died, or their initializer failed).

    A ``BrokenProcessPool`` (so a ``RuntimeError`` still), as ``ProcessPoolExecutor``
    raises when its pool can run nothing more.
    """


class TaskTimedOutError(TimeoutError):
    """The call ran past its timeout (or the job ended) and its worker was killed."""


class _Cancels(Protocol):
    def cancel(self, task_id: str) -> bool: ...


class TaskFuture(Future[Any]):
    """A Future whose ``cancel()`` takes its task out of the facade's queue."""

    def __init__(self, task_id: str, owner: _Cancels) -> None:
        super().__init__()
        self.task_id = task_id
        # Keeps the facade (and so its workers) alive while the call is unresolved, as
        # an executor's pending work does: a dropped facade would kill them. Cleared
        # once resolved, so a kept future does not keep a finished facade alive.
        self._owner: _Cancels | None = owner

    def cancel(self) -> bool:
        """True when the call had not started and never will; False once it runs."""
        owner = self._owner
        if self.done() or owner is None:
            return self.cancelled()
        if not owner.cancel(self.task_id):
            return self.cancelled()
        _resolve_cancelled(self)
        return True

    def result(self, timeout: float | None = None) -> Any:
        return super().result(self._waited(timeout))

    def exception(self, timeout: float | None = None) -> BaseException | None:
        return super().exception(self._waited(timeout))

    def _waited(self, timeout: float | None) -> float | None:
        """Waits out a timeout too long for one lock wait (``inf`` is no limit); returns
        what is left for the base class to wait, which then raises or returns at once."""
        if timeout is None or not timeout > MAX_SLICE:
            return timeout
        until = deadline(timeout)
        while not self.done():
            left = remaining(until)
            if left <= 0:
                break
            wait([self], left)
        return 0

    def __repr__(self) -> str:
        return f"<TaskFuture {self.task_id!r} {super().__repr__()[1:-1]}>"


def outcome(task: Task) -> tuple[bool, Any]:
    """What a future settles to for a final task: (True, result) or (False, exception).

    Read under the engine's lock, the moment the task becomes final.
    """
    state = task.state
    if state is TaskState.DONE:
        return True, task.result
    error = task.error or state.value
    exc: BaseException
    if state is TaskState.FAILED:
        exc = task.exception if task.exception is not None else TaskFailedError(error)
        if task.traceback:
            exc.__cause__ = RemoteTraceback(task.traceback)
    elif state is TaskState.CRASHED:
        exc = TaskCrashedError(f"task {task.ID!r}: {error}", task.exitcode, task.worker_pid)
    elif state is TaskState.TIMED_OUT:
        exc = TaskTimedOutError(f"task {task.ID!r}: {error}")
    elif state is TaskState.CANCELLED:
        exc = CancelledError(f"task {task.ID!r}: {error}")
    else:
        exc = TaskLostError(f"task {task.ID!r}: {error}")
    return False, exc


class Settler:
    """The thread that resolves futures, in the order their tasks changed."""

    def __init__(self) -> None:
        self._inbox: SimpleQueue[tuple[Future[Any], bool | None, Any] | threading.Event | None] = (
            SimpleQueue()
        )
        self._lock = threading.Lock()
        self._stopped = False
        self.settled = 0  # futures posted to be resolved so far
        self._thread = threading.Thread(target=self._run, name="facade-futures", daemon=True)
        self._thread.start()

    def running(self, future: Future[Any]) -> None:
        self._inbox.put((future, None, None))

    def settle(self, future: Future[Any], ok: bool, value: Any) -> None:
        self.settled += 1
        self._inbox.put((future, ok, value))

    def flush(self, timeout: float | None = None) -> bool:
        """Waits until every future posted so far is resolved (False after ``timeout``)."""
        if threading.current_thread() is self._thread:
            return False  # a done-callback collecting its own facade: cannot wait on itself
        with self._lock:
            if self._stopped:  # everything posted is resolved once the thread ends
                done = None
            else:
                done = threading.Event()
                self._inbox.put(done)
        if done is None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return done.wait(timeout)

    def stop(self) -> None:
        """Ends the thread once what was posted before is resolved; idempotent."""
        with self._lock:
            if not self._stopped:
                self._stopped = True
                self._inbox.put(None)

    def _run(self) -> None:
        while self._step(self._inbox.get()):
            pass

    @staticmethod
    def _step(item: tuple[Future[Any], bool | None, Any] | threading.Event | None) -> bool:
        """One item of the inbox; False at the end. A step of its own, so that nothing of
        a resolved future stays referenced here while the next item is awaited."""
        if item is None:
            return False
        if isinstance(item, threading.Event):
            item.set()
            return True
        try:
            _resolve(*item)
        except BaseException:  # a done-callback's SystemExit must not end this thread
            log.exception("a future's done-callback raised")
        return True


def _resolve(future: Future[Any], ok: bool | None, value: Any) -> None:
    """One step of a future: started (``ok`` None), resolved, or cancelled."""
    if ok is not None and isinstance(future, TaskFuture):
        future._owner = None
    if ok is None:
        with _transition:
            if not future.done() and not future.running():
                future.set_running_or_notify_cancel()
    elif ok:
        with contextlib.suppress(InvalidStateError):
            future.set_result(value)
    elif isinstance(value, CancelledError):
        _resolve_cancelled(future)
    else:
        with contextlib.suppress(InvalidStateError):
            future.set_exception(value)


# Serializes the steps that read a future's state then change it, which the caller's
# cancel() and the resolving thread may both attempt: done twice, the standard library
# logs "Future in unexpected state" and raises.
_transition = threading.Lock()


def _resolve_cancelled(future: Future[Any]) -> None:
    """Cancels a future and tells its waiters (``wait``, ``as_completed``) at once."""
    with _transition:
        if future.done():
            return
        if Future.cancel(future):
            future.set_running_or_notify_cancel()
        else:  # running: it cannot be cancelled, so it fails as such
            future.set_exception(CancelledError())
