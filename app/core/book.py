"""The records every engine keeps, whoever runs the tasks: local workers or a cluster,
and the contract both engines implement.

Tasks by ID and in submission order, the events not yet polled, and the futures of
submitted calls. One lock guards all of it; callers only ever touch memory under it.
``submit``, ``cancel``, ``resubmit`` and ``collect`` are the same for both engines; each
engine says, in the abstract methods, how its tasks reach workers and how its job ends.
"""

from __future__ import annotations

import pickle
import threading
import time
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable
from functools import partial
from typing import Any, Generic, TypeVar

from app.core import timeouts
from app.core.errors import describe
from app.core.events import Event, EventsDropped, WorkerInfo, WorkerLog
from app.core.futures import Settler, TaskFuture, outcome
from app.core.recording import Recorder
from app.core.states import RESUBMITTABLE, TaskState
from app.core.task import CallTask, Task
from app.core.validation import why_refused


def _future_gone(engine: weakref.ref[TaskBook[Any]], task_id: str, _: object) -> None:
    """A call's future was collected: its engine, if alive, lets the call's objects go."""
    book = engine()
    if book is not None:
        book.future_gone(task_id)


def pickled(task: Task) -> tuple[bytes, str | None]:
    """The task pickled in the caller's thread, or why it must be refused."""
    error = why_refused(task)
    if error is not None:
        return b"", error
    try:
        return pickle.dumps(task, protocol=pickle.HIGHEST_PROTOCOL), None
    except BaseException as exc:
        task.exception = exc  # kept on the refused task: a call's future raises it
        return b"", f"the task cannot be pickled: {describe(exc)}"


MAX_UNPOLLED_EVENTS = 100_000
"""Events kept for a caller that does not poll (about 10 MB); past it the oldest go."""
MAX_UNPOLLED_TEXT = 32 << 20
"""Characters of worker log lines kept for a caller that does not poll: a worker that
floods its output with long lines reaches this long before the count."""

_PASS_CHUNK = 1024  # events handed to the recorder per lock hold
_OWNERSHIP = threading.Lock()  # taken after an engine's lock, never before

Ticket = TypeVar("Ticket")
"""What an engine's queueing (under the lock) hands to its hand-over (outside it)."""


class TaskBook(ABC, Generic[Ticket]):
    """Bookkeeping shared by the engines; each adds how its tasks reach workers."""

    _task_timeout: float | None = None  # the facade's, for tasks that give none

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)  # entered as _lock: see console._Printer
        self._tasks: dict[str, Task] = {}  # every recorded task, by ID
        self._order: list[Task] = []  # the same, in submission order
        self._events: list[Event] = []
        self._max_events = MAX_UNPOLLED_EVENTS
        self._max_text = MAX_UNPOLLED_TEXT
        self._text = 0  # characters of the WorkerLog lines in _events
        self._dropped = 0  # events dropped since the last poll
        self._waiting = 0  # threads waiting on _changed: notify only when someone listens
        self._accepting = True
        self._closing_reason: str | None = None  # why no task is accepted any more
        self._final: list[Task] | None = None  # what collect returned, once it has
        self._futures: dict[str, TaskFuture] = {}  # of submit()ted calls, until final
        self._settler: Settler | None = None  # started by the first of them
        self._called: set[str] = set()  # IDs of submit()ted calls: their futures resolve once
        self._calls = 0
        # A weak reference to each call's future, until it is gone: then the call's record
        # lets go of its function, arguments and outcome (see _release_call).
        self._watched: dict[str, weakref.ref[TaskFuture]] = {}
        self._gone: list[str] = []  # calls whose future went while the lock was busy
        self._collecting = False  # a collect is under way (or was interrupted)
        self._kill_now = False  # close() was called while another thread collects
        self._recorder: Recorder | None = None  # records the run, when asked to
        self._passed = 0  # events before this index were handed to the recorder

    # == what each engine provides ========================================================
    @abstractmethod
    def restart_workers(self, requeue_lost: bool) -> int:
        """Replaces dead workers; LOST tasks run again if asked. Returns how many started."""

    @abstractmethod
    def worker_info(self) -> list[WorkerInfo]:
        """One snapshot per worker slot."""

    @abstractmethod
    def stack(self, task_id: str, timeout: float) -> str:
        """The stacks of the worker running the task (``ValueError`` if it is not
        running, ``TimeoutError`` if the worker does not answer in time)."""

    @abstractmethod
    def abandon(self) -> None:
        """The facade was dropped without a collect: end quietly, leave no process."""

    @abstractmethod
    def _queue_new(self, task: Task, payload: bytes, now: float) -> Ticket:
        """Queues a task just recorded (under the lock)."""

    @abstractmethod
    def _queue_again(self, task: Task) -> Ticket:
        """Queues a resubmitted task once more (under the lock)."""

    @abstractmethod
    def _hand_over(self, task: Task, ticket: Ticket) -> bool:
        """Sends what was queued on its way (outside the lock); False if it was not."""

    @abstractmethod
    def _withdraw(self, task: Task) -> Callable[[], None] | None:
        """Takes a PENDING task back from wherever it waits (under the lock): None if it
        is too late, else what to release once the lock is let go."""

    @abstractmethod
    def _emit(self, task: Task, message: str = "", when: float | None = None) -> None:
        """Records a task's change as an event, and passes it on to its future."""

    @abstractmethod
    def _await_collector(self) -> None:
        """Waits a while (under the lock) for the thread that is collecting."""

    @abstractmethod
    def _end_job(self, timeout: float | None, closing: bool) -> Callable[[], None]:
        """Ends the job (under the lock; it may wait): every task final. Returns what
        stops the workers, run outside the lock."""

    def _collected(self, closing: bool) -> None:
        """The job has ended, workers and all (under the lock)."""

    # == caller side ======================================================================
    def submit(self, task: Task, future: TaskFuture | None = None) -> bool:
        """Records and queues ``task``; ``future``, if given, follows it to its fate."""
        payload, error = pickled(task)
        now = time.time()
        with self._lock:
            if not self._record(task, future, error, now):
                return False
            try:
                ticket = self._queue_new(task, payload, now)
            except BaseException:  # Ctrl-C: the task must not stay PENDING and unqueued
                self._cut_short(task)
                raise
        return self._hand_over(task, ticket)

    def _cut_short(self, task: Task) -> None:
        """A recorded task whose queueing was interrupted (Ctrl-C, or any exception a
        signal handler raises) ends CANCELLED, its future with it (under the lock): left
        PENDING, it would never run, nor end, and the exit would wait for its future."""
        if task.state.is_final or self._queued(task):
            return
        task.state = TaskState.CANCELLED
        task.error = "cancelled: its submission was interrupted"
        task.finished_at = time.time()
        task._payload = None
        self._emit(task, task.error)
        self._notify()

    def _queued(self, task: Task) -> bool:
        """Whether the engine holds ``task`` where it will run: see ``_cut_short``."""
        return False

    def cancel(self, task_id: str, force: bool = False) -> bool:
        """A task no worker has begun; with ``force``, a running one too (its worker is
        killed and replaced, where the engine can: see ``_cancel_running_locked``)."""
        with self._lock:
            task = self._recorded(task_id)
            if task.state is TaskState.RUNNING and force:
                return self._cancel_running_locked(task)
            if task.state is not TaskState.PENDING:
                return False
            release = self._withdraw(task)
            if release is None:
                return False
            task.state = TaskState.CANCELLED
            task.error = "cancelled before it ran"
            task.finished_at = time.time()
            task._payload = None
            self._emit(task, task.error)
            self._notify()
        release()
        return True

    def _cancel_running_locked(self, task: Task) -> bool:
        """Ends a running task now; False where the engine cannot (Dask cannot stop a
        call once a worker runs it)."""
        return False

    def resubmit(self, task_id: str) -> bool:
        with self._lock:
            task = self._recorded(task_id)
            if task.state not in RESUBMITTABLE:
                return False
            if isinstance(task, CallTask) and task.released:
                task.error = (
                    "not resubmitted: the call's function and arguments were let go once "
                    "its future was gone"
                )
                return False
            if not self._accepting:
                task.error = f"not resubmitted: {self._closing_reason}"
                return False
            ticket = self._queue_again(task)
        return self._hand_over(task, ticket)

    def collect(self, timeout: float | None, closing: bool) -> list[Task]:
        """Ends the job (``closing``: now) and returns every task, in submission order.

        Each step may be interrupted (Ctrl-C) and is taken over by the next collect.
        """
        with self._lock:
            while self._collecting and self._final is None:
                # Another thread is collecting: wait for its answer, or take over if it
                # was interrupted (Ctrl-C); close() means now, even then.
                if closing:
                    self._kill_now = True
                    self._changed.notify_all()
                self._await_collector()
            if self._final is not None:
                return list(self._final)
            self._collecting = True
            try:
                stop_workers = self._end_job(timeout, closing)
            except BaseException:  # interrupted: the facade stays consistent, not collecting
                self._collecting = False
                self._changed.notify_all()
                raise
        try:
            stop_workers()
        except BaseException:
            with self._lock:
                self._collecting = False
                self._changed.notify_all()
            raise
        with self._lock:
            self._collected(closing)
            self._final = list(self._order)
            self._changed.notify_all()
            final = list(self._final)
        self.end_recording("closed" if closing else "collected")
        return final

    def poll(self, timeout: float | None) -> list[Event]:
        until = timeouts.deadline(timeout)
        forever = until is None
        with self._lock:
            if forever or timeout:
                self._waiting += 1
                try:
                    # Once collected nothing more happens: only "wait for ever" returns early.
                    while not self._events and not (forever and self._final is not None):
                        left = timeouts.remaining(until)
                        if left <= 0:
                            break
                        self._changed.wait(left)
                finally:
                    self._waiting -= 1
            if self._recorder is not None:
                self._pass_on()
            events, self._events = self._events, []
            self._passed = 0
            self._text = 0
            if self._dropped:
                events.insert(0, EventsDropped(self._dropped, time.time()))
                self._dropped = 0
        return events

    def task(self, task_id: str) -> Task:
        with self._lock:
            return self._recorded(task_id)

    def snapshot(self) -> list[Task]:
        with self._lock:
            return list(self._order)

    def tasks_from(self, start: int) -> list[Task]:
        with self._lock:
            return self._order[start:]

    def unused_id(self, prefix: str) -> str:
        """``prefix-N`` with the next N that no recorded task has taken."""
        with self._lock:
            while True:
                self._calls += 1
                task_id = f"{prefix}-{self._calls}"
                if task_id not in self._tasks:
                    return task_id

    @property
    def closing_reason(self) -> str | None:
        """Why no task is accepted any more, or None while the facade accepts tasks."""
        return None if self._accepting else self._closing_reason

    def await_calls(self) -> bool:
        """Waits until every submitted call's future is resolved (its task final) and its
        done-callbacks have run, which may submit more calls (waited for too); True when
        no task at all is left unfinished and the job has not ended yet."""
        while True:
            with self._lock:
                if self._final is not None or self._collecting:
                    return False
                self._wait_for(lambda: not self._futures)
                settler = self._settler
                settled = settler.settled if settler is not None else 0
            if settler is not None:
                settler.flush()
            with self._lock:
                # A call that ended during the flush was posted after it: its callbacks
                # may not have run yet, and they may submit more. Flush again then.
                if settler is not None and settler.settled != settled:
                    continue
                if not self._futures:
                    return all(task.state.is_final for task in self._order)

    def _wait_for(self, predicate: Callable[[], bool]) -> None:
        """Waits (under the lock) until ``predicate`` holds; an engine that can tell when
        nothing will change any more overrides it."""
        while not predicate():
            self._waiting += 1
            try:
                self._changed.wait(0.5)
            finally:
                self._waiting -= 1

    def cancel_pending(self) -> int:
        """Cancels every task still waiting for a worker; returns how many."""
        with self._lock:
            pending = [t.ID for t in self._order if t.state is TaskState.PENDING]
        cancelled = sum(self.cancel(task_id) for task_id in pending)
        settler = self._settler
        if settler is not None:
            settler.flush()  # their futures read cancelled once this returns
        return cancelled

    def flush_futures(self) -> None:
        """Once the job has ended: resolves every future still posted, then stops."""
        with self._lock:
            settler = self._settler if self._final is not None else None
        if settler is not None:
            settler.flush()
            settler.stop()

    # == the run's recording ==============================================================
    def record_to(self, recorder: Recorder, backend: str, workers: int | None) -> None:
        """Starts recording every event from now on, and those not yet polled
        (``OSError`` if the file's first line cannot be written)."""
        recorder.start(backend, workers, partial(self._pull_recorded, recorder))
        with self._lock:
            self._recorder = recorder
            self._passed = 0

    def end_recording(self, how: str) -> None:
        """Hands the recorder what is left and ends the file (outside the lock)."""
        with self._lock:
            recorder = self._recorder
            if recorder is None:
                return
            self._pass_on()
            self._recorder = None
        recorder.close(how)

    def _pull_recorded(self, recorder: Recorder) -> list[Any]:
        """The writer's look, every flush: the events since the last one, taken in short
        lock holds, so callers never wait long."""
        while True:
            with self._lock:
                if self._recorder is recorder:
                    self._pass_on(_PASS_CHUNK)
                if self._recorder is not recorder or self._passed >= len(self._events):
                    return recorder.swap()
            time.sleep(0)  # the GIL to a thread that waited for the lock, at once

    def _pass_on(self, most: int | None = None) -> None:
        """Hands the events recorded since the last call to the recorder (under _lock):
        before they are polled, trimmed, or a resubmission clears a task's outcome."""
        events = self._events
        start = self._passed
        end = len(events) if most is None else min(len(events), start + most)
        if self._recorder is not None and start < end:
            self._recorder.take(events, start, end, self._tasks)
        self._passed = end

    def _death_recorded(self) -> None:
        """A worker died: the recorder writes it at once (under _lock)."""
        if self._recorder is not None:
            self._recorder.wake()

    # == bookkeeping (under _lock) ========================================================
    def _notify(self) -> None:
        """Wakes pollers and collectors; free when nobody waits (the common case)."""
        if self._gone:
            self._release_gone()
        self._trim_events()
        if self._waiting:
            self._changed.notify_all()

    def _log_event(self, event: WorkerLog) -> None:
        """Keeps a worker's line, counting its size for ``_trim_events``."""
        self._events.append(event)
        self._text += len(event.message)

    def _trim_events(self) -> None:
        """Bounds what a caller that never polls keeps, in events and in log text: drops
        the oldest, a tenth more than needed so that this runs rarely. The recorder gets
        every event first."""
        events = self._events
        excess = len(events) - self._max_events
        if excess <= 0 and self._text <= self._max_text:
            return
        if self._recorder is not None:
            self._pass_on()
        drop = max(excess + self._max_events // 10, 0)
        text = self._text
        for event in events[:drop]:
            if type(event) is WorkerLog:
                text -= len(event.message)
        goal = self._max_text - self._max_text // 10
        while text > goal and drop < len(events):
            event = events[drop]
            if type(event) is WorkerLog:
                text -= len(event.message)
            drop += 1
        del events[:drop]
        self._passed = len(events)
        self._text = text
        self._dropped += drop

    def _record(self, task: Task, future: TaskFuture | None, error: str | None, now: float) -> bool:
        """Records a task about to be queued, or marks it REJECTED with ``error``.

        A task object belongs to the first facade that accepts it: any later submission,
        here or to another facade, raises ``ValueError`` and leaves the task untouched.
        """
        with _OWNERSHIP:  # one object raced to two facades is accepted by one of them
            owner = getattr(task, "_owner", None)
            if owner is not None:
                where = "this facade" if owner() is self else "another facade"
                raise ValueError(
                    f"task {task.ID!r} was already submitted to {where}; its first "
                    "submission stands (submit a new task object to run it again)"
                )
            if error is None and not self._accepting:
                error = f"not accepted: {self._closing_reason}"
            if error is None and task.ID in self._tasks:
                error = f"duplicate ID: a task with ID {task.ID!r} was already submitted"
            if error is not None:
                task.state = TaskState.REJECTED
                task.error = error
                return False
            task._owner = weakref.ref(self)
        try:
            task._reset_bookkeeping()
            task._limit = timeouts.as_given(task.timeout)  # checked by why_refused just before
            task.submitted_at = now
            task.attempts = 1
            self._tasks[task.ID] = task
            self._order.append(task)
            if future is not None:
                if self._settler is None:
                    self._settler = Settler()
                self._futures[task.ID] = future
                self._called.add(task.ID)
                self._watched[task.ID] = weakref.ref(
                    future, partial(_future_gone, weakref.ref(self), task.ID)
                )
        except BaseException:  # Ctrl-C: not recorded at all, and free to be submitted again
            self._unrecord(task)
            raise
        return True

    def _unrecord(self, task: Task) -> None:
        """Undoes a recording cut short (see ``_record``)."""
        if self._tasks.get(task.ID) is task:
            del self._tasks[task.ID]
        if self._order and self._order[-1] is task:
            self._order.pop()
        if self._futures.get(task.ID) is not None:
            del self._futures[task.ID]
        self._called.discard(task.ID)
        self._watched.pop(task.ID, None)
        task._owner = None

    def _timeout_of(self, task: Task) -> float | None:
        """The seconds ``task`` may run, or None for no limit: its timeout as accepted,
        else the facade's."""
        given = task._limit if task._limit is not None else self._task_timeout
        return timeouts.limit(given)

    def _again(self, task: Task, now: float) -> None:
        """Clears what the last attempt left, before a task is queued once more."""
        if self._recorder is not None:
            self._pass_on()  # the last attempt's outcome is recorded before it is cleared
        if task.timeout is None or timeouts.is_seconds(task.timeout):
            task._limit = timeouts.as_given(task.timeout)  # else the accepted one stays
        task.attempts += 1
        task.result = task.error = task.traceback = task.exception = None
        task.exitcode = task.worker_pid = None
        task.started_at = task.finished_at = task.progress = None
        task.submitted_at = now

    def _recorded(self, task_id: str) -> Task:
        task = self._tasks.get(task_id) if isinstance(task_id, str) else None
        if task is None:
            raise KeyError(f"no task with ID {task_id!r} in this facade")
        return task

    def _follow(self, task: Task) -> None:
        """Passes a task's start or fate on to its future, if it has one."""
        future = self._futures.get(task.ID) if self._futures else None
        if future is None or self._settler is None:
            return
        if task.state is TaskState.RUNNING:
            self._settler.running(future)
        elif task.state.is_final:
            del self._futures[task.ID]
            self._settler.settle(future, *outcome(task))

    def future_gone(self, task_id: str) -> None:
        """A call's future was garbage-collected: nobody can observe the call any more.

        Runs wherever the last reference went, so it never waits long for the lock: when
        the lock stays busy, the release is left to the next change (``_notify``).
        """
        if self._lock.acquire(timeout=0.1):
            try:
                self._release_call(task_id)
            finally:
                self._lock.release()
        else:
            self._gone.append(task_id)

    def _release_gone(self) -> None:
        while self._gone:
            self._release_call(self._gone.pop())

    def _release_call(self, task_id: str) -> None:
        """Lets a finished call's record go of its function, arguments, result and
        exception (under _lock), keeping what the monitor shows: a long-lived executor
        then holds no object of its past calls (CPython #14406, #16284). The recorder
        takes the call's outcome first."""
        self._watched.pop(task_id, None)
        task = self._tasks.get(task_id)
        if isinstance(task, CallTask) and task.state.is_final:
            if self._recorder is not None:
                self._pass_on()
            task.release()

    def _requeueable_lost(self) -> list[Task]:
        """LOST tasks that may run again: not calls, whose futures have already failed."""
        return [t for t in self._order if t.state is TaskState.LOST and t.ID not in self._called]
