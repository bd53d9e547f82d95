"""``WorkingProcessFacade``: hand tasks to background worker processes, safely.

The facade is a thin public front; the state and the I/O thread live in a ``WorkerPool``
that never refers back to the facade, so a facade dropped without ``collect_tasks()``
is garbage-collected and its finalizer kills the workers (GUIDE, trap 9).
"""

from __future__ import annotations

import multiprocessing
import os
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from app.core.front import FacadeFront
from app.core.lifecycle import lifecycle_of
from app.core.pool import WorkerPool
from app.core.room import check_room
from app.core.run_paths import RecordChoice
from app.core.task import Task
from app.core.timeouts import is_seconds, limit


class WorkingProcessFacade(FacadeFront):
    """Runs tasks in ``workers`` background processes, spawned at once.

    ``process_task`` never blocks; ``poll_events`` reports what happens, live;
    ``collect_tasks`` ends the job and returns every task with its exact fate.
    It is also a ``concurrent.futures.Executor`` (``submit``, ``map``, ``shutdown``), so
    it drops in where a ``ProcessPoolExecutor`` is used; each call is a task too.

    ``record`` records the run to a JSON Lines file (``app.core.read_run`` reads it): a
    path (a file, or a folder for a new file in it), True (a new file in the runs
    folder), False (never), or None: as ``WORKER_MONITOR_RECORD`` says. A path that
    cannot be written raises ``OSError`` here; ``record_path`` is the file.

    ``initializer(*initargs)`` runs in each worker process (replacements too) before its
    first task; both are checked here, so one that cannot travel raises ``TypeError``
    before any worker starts (a multiprocessing ``Queue`` or ``Lock`` may travel: it goes
    as each worker starts). A worker whose initializer raises, or which dies inside it,
    is reported dead (``WorkerDied.reason == "initializer failed"``, the traceback in the
    log) and never respawned, whatever ``restart`` says: it would fail again
    (``restart_worker()`` still tries, on request). No task is blamed: the others take the
    queue, or, with none left, it ends LOST with an error naming the failure.

    ``max_tasks_per_child`` (tasks) and ``max_memory_per_child`` (bytes of resident
    memory, read after each task) recycle a worker: it exits cleanly after the task that
    reaches the limit and is replaced at once, whatever ``restart`` says
    (``WorkerDied.reason == "recycled"``); nothing is blamed, and tasks sent to it that it
    had not started go back to the queue.

    ``telemetry`` (on by default) samples each live worker's resident memory and CPU use
    twice a second (``WorkerInfo.rss_bytes``, ``cpu_percent``, a ``WorkerStats`` event per
    sample) and tells whether a dead worker was killed by the kernel's out-of-memory
    killer (``WorkerDied.oom_killed``, ``oom_evidence``). ``telemetry=False`` runs no
    sampler thread and leaves those None: for a benchmark, or whoever wants none.

    The workers belong to the process that made the facade: in a child forked from it,
    ``collect_tasks`` returns nothing and ``close``, ``shutdown`` and the end of a
    ``with`` block do nothing, as a ``ProcessPoolExecutor``'s copy does nothing there.
    """

    _engine: WorkerPool

    def __init__(
        self,
        workers: int = 1,
        *,
        start_method: str = "spawn",
        restart: bool = False,
        task_timeout: float | None = None,
        initializer: Callable[..., object] | None = None,
        initargs: Sequence[Any] = (),
        max_tasks_per_child: int | None = None,
        max_memory_per_child: int | None = None,
        record: RecordChoice = None,
        telemetry: bool = True,
    ) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be a positive integer, not {workers!r}")
        check_room(workers)
        if start_method not in multiprocessing.get_all_start_methods():
            raise ValueError(
                f"unknown start method {start_method!r}; "
                f"this platform has {', '.join(multiprocessing.get_all_start_methods())}"
            )
        if task_timeout is not None and not is_seconds(task_timeout):
            raise ValueError(
                "task_timeout must be a positive number of seconds (inf for no limit) or "
                f"None, not {task_timeout!r}"
            )
        life = lifecycle_of(initializer, initargs, max_tasks_per_child, max_memory_per_child)
        if not isinstance(telemetry, bool):
            raise TypeError(f"telemetry must be True or False, not {telemetry!r}")
        recorder = self._open_recording(record)
        try:
            self._engine = WorkerPool(
                workers, start_method, restart, limit(task_timeout), life, telemetry
            )
        except BaseException:
            if recorder is not None:
                recorder.discard()
            raise
        self._pid = os.getpid()
        self._finalizer = weakref.finalize(self, _abandon_in, self._pid, self._engine)
        self._start_recording(recorder, "local", workers)

    def collect_tasks(self, timeout: float | None = None) -> list[Task]:
        """Ends the job and returns every recorded task, in submission order.

        Waits for queued tasks to finish (or for the workers to die), draining results
        all along; after ``timeout`` seconds kills the workers: a running task ends
        TIMED_OUT, queued ones CANCELLED. Later calls return the same tasks at once.
        """
        if timeout is not None and not is_seconds(timeout, zero=True):
            raise ValueError(
                f"timeout must be >= 0 seconds (inf for no limit) or None, not {timeout!r}"
            )
        if os.getpid() != self._pid:
            return []  # a forked child's copy: the workers and their tasks are the parent's
        tasks = self._engine.collect(timeout, closing=False)
        self._engine.flush_futures()
        return tasks

    def close(self) -> None:
        """Ends the job now, as ``collect_tasks(timeout=0)`` would; idempotent.

        Called while another thread waits in ``collect_tasks``, it ends that wait now.
        """
        if os.getpid() != self._pid:
            return  # a forked child's copy: the workers are the parent's
        self._engine.collect(0, closing=True)
        self._engine.flush_futures()


def _abandon_in(pid: int, engine: WorkerPool) -> None:
    """The finalizer: in the process that made the facade only. A child forked from it
    (``os.fork()`` in the program) inherits the finalizer and runs it as it exits; there
    it would kill its parent's workers, under a lock the fork may have copied held."""
    if os.getpid() == pid:
        engine.abandon()
