"""The records of one ``DaskFacade``: each task's current Dask attempt, the worker rows,
and the rules that turn what Dask reports into the same states and events as the local
engine (a task began, ended, was requeued by Dask, failed, crashed its workers; a worker
joined or left).

Everything here runs under the engine's lock and never waits on the cluster; the
threads that listen to Dask, fetch results and watch timeouts are ``DaskEngine``'s.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from app.core.book import TaskBook
from app.core.errors import describe, describe_exit, signal_name
from app.core.events import TaskChanged, WorkerDied, WorkerInfo, WorkerStarted
from app.core.states import TaskState
from app.core.task import Task

log = logging.getLogger("app.cluster")

Ticket = tuple[str, bytes] | None
"""A queued attempt's Dask key and pickled task, for the hand-over; None if refused."""


@dataclass(slots=True)
class Slot:
    """One row of workers: a nanny and the worker processes it starts, one after another."""

    index: int
    name: Any
    key: Any  # what stays the same across restarts: its nanny's address, or its name
    address: str | None = None
    pid: int | None = None
    alive: bool = False
    exitcode: int | None = None
    restarts: int = 0
    tasks_done: int = 0


class DaskRecords(TaskBook[Ticket]):
    """What a ``DaskEngine`` knows of its tasks and workers, and how it changes."""

    def __init__(self, task_timeout: float | None) -> None:
        super().__init__()
        self._task_timeout = task_timeout
        self._key_of: dict[str, str] = {}  # task ID -> Dask key of its current attempt
        self._by_key: dict[str, Task] = {}
        self._dask: dict[str, Any] = {}  # task ID -> its Dask future, held until done
        self._running_on: dict[str, str] = {}  # task ID -> worker address
        self._deaths: dict[str, list[int | None]] = {}  # task ID -> pids that died running it
        self._slots: list[Slot] = []
        self._exit_codes: dict[int, int] = {}  # pid -> exit code, from the nannies
        self._attempt = 0
        self._allowed_failures: int | None = None  # the scheduler's, read at start
        self._watch_stop = False
        self._timer = threading.Condition(self._lock)  # wakes the timeout watcher
        self._timed: dict[str, Task] = {}  # running tasks that have a deadline
        self._live: set[str] = set()  # IDs of tasks not yet final: collect waits on them
        self._refetches: dict[str, int] = {}  # Dask key -> times its result was lost
        self._timed_out_at: set[str] = set()  # addresses restarted for a task's timeout

    # == caller side ======================================================================
    def worker_info(self) -> list[WorkerInfo]:
        """One snapshot per worker row. ``rss_bytes`` and ``cpu_percent`` stay None: the
        scheduler has each worker's memory, but a client reaches it only by a round trip
        (``Client.scheduler_info()``; its periodic cache has no per-worker figures), too
        slow for a call that must never wait on the cluster."""
        with self._lock:
            running = {address: task_id for task_id, address in self._running_on.items()}
            return [
                WorkerInfo(
                    s.index,
                    s.pid,
                    s.alive,
                    s.exitcode,
                    running.get(s.address) if s.alive and s.address else None,
                    s.tasks_done,
                    s.restarts,
                    s.alive,
                    0,
                )
                for s in self._slots
            ]

    # == bookkeeping (under _lock) ========================================================
    def _emit(self, task: Task, message: str = "", when: float | None = None) -> None:
        self._events.append(
            TaskChanged(task.ID, task.state, task.progress, message, when or time.time())
        )
        if task.state.is_final:
            self._live.discard(task.ID)
        else:
            self._live.add(task.ID)
        self._follow(task)
        self._trim_events()
        self._changed.notify_all()

    def _queue(self, task: Task, now: float, message: str) -> str:
        """PENDING under a fresh Dask key (a retry must not reuse a finished key)."""
        self._attempt += 1
        key = f"{type(task).__name__}-{self._attempt}-{uuid.uuid4().hex}"
        self._key_of[task.ID] = key
        self._by_key[key] = task
        task.state = TaskState.PENDING
        self._emit(task, message, now)
        return key

    def _forget(self, task: Task) -> Any:
        """Unlinks a task's current attempt; returns its Dask future for release."""
        self._timed.pop(task.ID, None)
        key = self._key_of.pop(task.ID, None)
        if key is not None:
            self._by_key.pop(key, None)
        self._running_on.pop(task.ID, None)
        return self._dask.pop(task.ID, None)

    def _current(self, key: str) -> Task | None:
        task = self._by_key.get(key)
        if task is None or self._key_of.get(task.ID) != key:
            return None
        return task

    def _slot_at(self, address: str | None) -> Slot | None:
        return next((s for s in self._slots if s.address == address), None)

    def _end_unfinished(self, why: str) -> tuple[list[Any], list[str]]:
        """The job ends now: queued tasks CANCELLED, running ones TIMED_OUT."""
        now = time.time()
        dropped: list[Any] = []
        busy: list[str] = []
        for task in self._order:
            if task.state is TaskState.PENDING:
                task.state = TaskState.CANCELLED
                task.error = f"cancelled: {why} before it ran"
            elif task.state is TaskState.RUNNING:
                address = self._running_on.get(task.ID)
                if address is not None:
                    busy.append(address)
                task.state = TaskState.TIMED_OUT
                task.error = f"still running when the job ended ({why})"
            else:
                continue
            task.finished_at = now
            self._emit(task, task.error)
            dropped.append(self._forget(task))
        self._watch_stop = True
        self._timer.notify_all()
        return dropped, busy

    # == what Dask reported, applied (under _lock) ========================================
    def _apply_outcome(
        self, task: Task, status: str, value: Any, error: BaseException | None, now: float
    ) -> None:
        self._refetches.pop(self._key_of.get(task.ID, ""), None)
        self._forget(task)
        if status == "finished":
            self._finished(task, value, now)
        elif status == "error" and type(error).__name__ == "KilledWorker":
            self._killed_workers(task, error, now)
        elif status == "error":
            task.state = TaskState.FAILED
            task.error = f"Dask reported an error: {describe(error or RuntimeError(status))}"
            task.finished_at = now
            self._emit(task, task.error)
        else:  # cancelled or lost, and not by us: the cluster went away
            task.state = TaskState.LOST
            why = "its result could not be fetched" if status == "lost" else f"Dask said {status}"
            task.error = f"{why} (did the scheduler go away?)"
            task.finished_at = now
            self._emit(task, task.error)

    def _finished(self, task: Task, value: tuple[Any, ...], now: float) -> None:
        """``value`` is what ``run_task`` returned, as ``_decoded`` left it."""
        started, finished, pid = value[-3:]
        task.started_at, task.finished_at, task.worker_pid = started, finished, pid
        slot = next((s for s in self._slots if s.pid == pid), None)
        if slot is not None:
            slot.tasks_done += 1
        if value[0] == "R":
            task.state = TaskState.DONE
            task.result = value[1]
            task.progress = 1.0
            self._emit(task, "", now)
            return
        _, error, tb, exception = value[:4]
        task.state = TaskState.FAILED
        task.error = error
        task.traceback = tb
        task.exception = exception
        self._emit(task, error, now)

    def _killed_workers(self, task: Task, error: Any, now: float) -> None:
        deaths = self._deaths.get(task.ID, [])
        allowed = getattr(error, "allowed_failures", None)
        task.state = TaskState.CRASHED
        task.finished_at = now
        last = deaths[-1] if deaths else None
        task.exitcode = self._exit_codes.get(last) if last is not None else None
        tries = f"{allowed + 1} workers" if isinstance(allowed, int) else "several workers"
        last_how = f"; the last one {describe_exit(task.exitcode)}" if task.exitcode else ""
        task.error = (
            f"KilledWorker: Dask ran it on {tries} and each died while running it "
            f"(allowed-failures={allowed}){last_how}"
        )
        task.traceback = str(error)
        self._emit(task, task.error, now)

    def _began(self, task: Task, msg: dict[str, Any]) -> None:
        address = msg.get("worker")
        task.state = TaskState.RUNNING
        task.started_at = msg["time"]
        task.worker_pid = msg["pid"]
        if address is not None:
            self._running_on[task.ID] = address
        timeout = self._timeout_of(task)
        if timeout is not None:
            task._deadline = time.monotonic() + timeout
            self._timed[task.ID] = task
            self._timer.notify_all()
        self._emit(task)

    def _ended(self, task: Task) -> None:
        """The worker is done with it; its outcome waits there until it is fetched."""
        self._running_on.pop(task.ID, None)
        task._deadline = 0.0
        self._timed.pop(task.ID, None)

    def _joined(self, address: str, pid: int | None, name: Any, key: Any, now: float) -> None:
        """A worker joined: into the row of the nanny that restarted it, or a new one."""
        slot = next((s for s in self._slots if s.key == key), None)
        if slot is None:
            slot = Slot(len(self._slots), name, key)
            self._slots.append(slot)
        elif slot.alive and slot.address == address:
            return
        slot.address, slot.pid, slot.alive, slot.exitcode = address, pid, True, None
        log.info("worker-%d started (pid %s, %s)", slot.index, pid, address)
        self._events.append(WorkerStarted(slot.index, pid or 0, now))
        self._changed.notify_all()

    def _left(
        self,
        address: str,
        now: float,
        processing: Iterable[str],
        lost: Iterable[str],
        expected: bool,
    ) -> None:
        """A worker left. ``processing`` and ``lost`` are the scheduler's own lists: the
        tasks it had given the worker (Dask counts an unexpected death against each) and
        the results that lived only there (Dask computes them again). Going by them, not
        by what the worker managed to say before it died, keeps the count Dask's."""
        slot = self._slot_at(address)
        if slot is None or not slot.alive:
            return
        slot.alive = False
        if slot.pid is not None:
            slot.exitcode = self._exit_codes.get(slot.pid, slot.exitcode)
        code = slot.exitcode
        reason = "stopped" if expected else "crashed"
        if address in self._timed_out_at:
            self._timed_out_at.discard(address)
            reason = "timeout"
        died = WorkerDied(slot.index, slot.pid or 0, code, signal_name(code), now, reason)
        self._events.append(died)
        self._death_recorded()
        for task_id in [i for i, a in self._running_on.items() if a == address]:
            del self._running_on[task_id]  # it cannot be running there any more
        if self._collecting:
            self._changed.notify_all()
            return
        # Counted at the death, not when the nanny's new process joins: that may come
        # after a collect has already disconnected, and the count must not depend on it.
        slot.restarts += 1
        how = "was retired" if expected else describe_exit(code) if code is not None else "left"
        who = f"worker-{slot.index} (pid {slot.pid})"
        held = [t for t in map(self._current, processing) if t is not None]
        gone = [t for t in map(self._current, lost) if t is not None and t not in held]
        for task in held:
            if expected:
                message = f"{who} was retired while holding it; Dask runs it elsewhere"
            else:
                deaths = self._deaths.setdefault(task.ID, [])
                deaths.append(slot.pid)
                allowed = self._allowed_failures
                then = (
                    f"past allowed-failures={allowed}, Dask gives up on it (KilledWorker)"
                    if allowed is not None and len(deaths) > allowed
                    else "Dask retries it on another worker"
                )
                doing = "running it" if task.state is TaskState.RUNNING else "holding it"
                message = f"{who} {how} while {doing}; {then} (death {len(deaths)} for this task)"
            self._requeued(task, message, now)
        for task in gone:
            self._requeued(
                task,
                f"its outcome was lost with {who} before it was fetched; Dask computes it again",
                now,
            )
        names = f" while holding {', '.join(repr(t.ID) for t in held)}" if held else ""
        log.warning("%s %s%s", who, how, names)
        self._changed.notify_all()

    def _requeued(self, task: Task, message: str, now: float) -> None:
        """Back to PENDING: Dask runs it again, on a worker of its choosing."""
        if task.state.is_final:
            return
        self._running_on.pop(task.ID, None)
        self._timed.pop(task.ID, None)
        task._deadline = 0.0
        task.state = TaskState.PENDING
        task.started_at = task.progress = task.worker_pid = None
        self._emit(task, message, now)
