"""The latency of a forced cancel: from ``cancel(task_id, force=True)`` of a running task
to the CANCELLED event that ``poll_events`` returns.

Each run starts a task that sleeps, waits until the facade shows it RUNNING, then times
the cancel: the worker's SIGKILL, the parent seeing its death and deciding the task's
fate, and the event reaching the caller. The replacement worker is waited for (untimed)
before the next run, so every cancel meets a worker that is up and busy.
"""

from __future__ import annotations

import time
from typing import Any

from app.bench.common import POLL, BenchError, check_deadline, wait_ready
from app.core import Task, TaskChanged, TaskState, WorkingProcessFacade

_NAP = 3600.0  # longer than any run: only the cancel ends it


class NapTask(Task):
    """Sleeps until it is cancelled."""

    def do_task(self) -> None:
        time.sleep(_NAP)


def measure_cancel_to_event(runs: int, timeout: float) -> list[float]:
    """Milliseconds from each ``cancel(force=True)`` to its CANCELLED event."""
    facade = WorkingProcessFacade(workers=1)
    samples: list[float] = []
    try:
        wait_ready(facade, time.monotonic() + timeout)
        for i in range(runs):
            samples.append(_cancel_once(facade, f"nap{i}", time.monotonic() + timeout))
        tasks = facade.collect_tasks(timeout=timeout)
    finally:
        facade.close()
    wrong = [t for t in tasks if t.state is not TaskState.CANCELLED]
    if len(tasks) != runs or wrong:
        raise BenchError(f"forced cancels: {len(tasks)} tasks, not all CANCELLED: {wrong[:1]!r}")
    return samples


def _cancel_once(facade: WorkingProcessFacade, task_id: str, deadline: float) -> float:
    task = NapTask(task_id)
    if not facade.process_task(task):
        raise BenchError(f"process_task refused {task_id}: {task.state.name}, {task.error}")
    _until(facade, deadline, f"{task_id} RUNNING", lambda e: _is(e, task_id, TaskState.RUNNING))
    start = time.perf_counter()
    if not facade.cancel(task_id, force=True):
        raise BenchError(f"cancel({task_id!r}, force=True) refused a running task")
    _until(facade, deadline, f"{task_id} CANCELLED", lambda e: _is(e, task_id, TaskState.CANCELLED))
    elapsed = time.perf_counter() - start
    wait_ready(facade, deadline)  # its replacement, untimed
    return elapsed * 1000


def _is(event: Any, task_id: str, state: TaskState) -> bool:
    return isinstance(event, TaskChanged) and event.task_id == task_id and event.state is state


def _until(facade: WorkingProcessFacade, deadline: float, what: str, seen: Any) -> None:
    """Polls until an event satisfies ``seen``."""
    while not any(seen(event) for event in facade.poll_events(POLL)):
        check_deadline(deadline, f"no event for {what}")
