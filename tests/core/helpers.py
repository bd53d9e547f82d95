"""Waiting helpers: every wait is a condition with a deadline, never a fixed sleep."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import psutil

from app.core import RecordedRun, Task, TaskChanged, TaskState, WorkingProcessFacade

DEADLINE = 10.0
"""Default seconds to wait for something the facade should do promptly."""


def wait_for(
    facade: WorkingProcessFacade,
    predicate: Callable[[], bool],
    deadline: float = DEADLINE,
    what: str = "",
    into: list[Any] | None = None,
) -> list[Any]:
    """Poll ``facade`` until ``predicate()`` holds; return every event seen on the way.

    Events are appended to ``into`` when given (so ``predicate`` may look at them as they
    arrive), else to a new list. Fails the test if ``deadline`` seconds pass first.
    """
    events: list[Any] = [] if into is None else into
    end = time.monotonic() + deadline
    while True:
        if predicate():
            return events
        if time.monotonic() >= end:
            break
        events.extend(facade.poll_events(0.1))
    events.extend(facade.poll_events(0.0))
    if predicate():
        return events
    label = what or getattr(predicate, "__name__", "condition")
    raise AssertionError(
        f"{label} did not hold within {deadline} s; tasks: {facade.tasks!r}; "
        f"workers: {facade.worker_info()!r}"
    )


def all_final(tasks: Iterable[Any]) -> Callable[[], bool]:
    """A predicate: every task has reached a final state."""
    tasks = list(tasks)

    def predicate() -> bool:
        return all(t.state.is_final for t in tasks)

    predicate.__name__ = f"all of {[t.ID for t in tasks]} final"
    return predicate


def in_state(task: Any, *states: TaskState) -> Callable[[], bool]:
    """A predicate: ``task`` is in one of ``states``."""

    def predicate() -> bool:
        return task.state in states

    predicate.__name__ = f"{task.ID!r} in {[s.name for s in states]}"
    return predicate


def worker_ready(facade: WorkingProcessFacade, index: int = 0) -> Callable[[], bool]:
    """A predicate: worker ``index`` is alive and has finished starting."""

    def predicate() -> bool:
        info = facade.worker_info()[index]
        return bool(info.alive and info.ready)

    predicate.__name__ = f"worker {index} ready"
    return predicate


def worker_dead(facade: WorkingProcessFacade, index: int = 0) -> Callable[[], bool]:
    """A predicate: the facade sees worker ``index`` as dead."""

    def predicate() -> bool:
        return not facade.worker_info()[index].alive

    predicate.__name__ = f"worker {index} dead"
    return predicate


def states_of(events: Sequence[Any], task_id: str) -> list[TaskState]:
    """The successive distinct states TaskChanged events report for ``task_id``."""
    seen: list[TaskState] = []
    for event in events:
        is_change = isinstance(event, TaskChanged) and event.task_id == task_id
        if is_change and (not seen or seen[-1] != event.state):
            seen.append(event.state)
    return seen


def pid_gone(pid: int) -> bool:
    """True when ``pid`` no longer runs (a zombie waiting to be reaped counts as gone)."""
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def wait_pids_gone(pids: Iterable[int], deadline: float = 5.0) -> None:
    """Fail unless every pid in ``pids`` is gone within ``deadline`` seconds."""
    pids = list(pids)
    end = time.monotonic() + deadline
    while True:
        left = [pid for pid in pids if not pid_gone(pid)]
        if not left:
            return
        if time.monotonic() >= end:
            raise AssertionError(f"processes {left} still alive after {deadline} s")
        time.sleep(0.02)


def timed(call: Callable[[], Any]) -> tuple[Any, float]:
    """Run ``call``; return its value and how many seconds it took."""
    start = time.perf_counter()
    value = call()
    return value, time.perf_counter() - start


def all_workers_ready(facade: WorkingProcessFacade) -> Callable[[], bool]:
    """A predicate: every worker slot is alive and has finished starting."""

    def predicate() -> bool:
        return all(info.alive and info.ready for info in facade.worker_info())

    predicate.__name__ = "all workers ready"
    return predicate


def assert_recorded_as_collected(tasks: Sequence[Task], run: RecordedRun) -> None:
    """Every collected task's fate, exactly as the run's recording tells it."""
    recorded = run.tasks()
    assert list(recorded) == [t.ID for t in tasks]
    for task in tasks:
        r = recorded[task.ID]
        seen = (r.state, r.exitcode, r.attempts, r.worker_pid, r.error)
        expected = (task.state, task.exitcode, task.attempts, task.worker_pid, task.error)
        assert seen == expected, task.ID
        assert r.result == (repr(task.result) if task.state is TaskState.DONE else None)
        assert r.task_class == f"{type(task).__module__}.{type(task).__qualname__}"


def finish(process: subprocess.Popen[Any], timeout: float) -> tuple[Any, Any]:
    """A process's output once it has ended, waiting at most ``timeout`` seconds; past
    that (``subprocess.TimeoutExpired``), or on any failure, it is killed and reaped."""
    try:
        return process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=10)
