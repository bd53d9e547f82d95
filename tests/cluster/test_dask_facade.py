"""The facade's API over a real Dask LocalCluster (2 worker processes, loopback only)."""

from __future__ import annotations

import concurrent.futures as cf
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.core import CrashTask, TaskChanged, TaskState, WorkerDied, WorkerLog, WorkerStarted
from app.core.futures import TaskCrashedError
from tests.cluster.conftest import DaskFactory
from tests.cluster.tasks_for_cluster import PrintTask, SleepTask
from tests.core.calls_for_tests import die, divide, square, wait_for_file
from tests.core.tasks_for_tests import (
    LambdaTask,
    ProgressMessageTask,
    RaiseTask,
    SquareTask,
)

pytestmark = pytest.mark.cluster

DEADLINE = 60.0


def poll_until(facade: Any, predicate: Callable[[list[Any]], bool], what: str) -> list[Any]:
    """Polls events until ``predicate(events so far)`` holds, or fails after DEADLINE."""
    events: list[Any] = []
    end = time.monotonic() + DEADLINE
    while not predicate(events):
        assert time.monotonic() < end, f"{what}: not within {DEADLINE} s; {facade.tasks!r}"
        events.extend(facade.poll_events(0.1))
    return events


def test_tasks_and_calls_come_back_as_the_very_objects(make_dask: DaskFactory) -> None:
    facade = make_dask()
    tasks = [SquareTask(f"sq{n}", n) for n in range(10)]
    for task in tasks:
        assert facade.process_task(task)
    futures = [facade.submit(square, n) for n in range(10)]
    assert [f.result(DEADLINE) for f in futures] == [n * n for n in range(10)]
    collected = facade.collect_tasks(DEADLINE)
    assert collected[:10] == tasks and all(a is b for a, b in zip(collected, tasks, strict=False))
    assert [t.result for t in tasks] == [n * n for n in range(10)]
    assert all(t.state is TaskState.DONE and t.worker_pid for t in collected)
    assert [t.ID for t in collected[10:]] == [f"square-{n}" for n in range(1, 11)]


def test_executor_patterns_on_the_cluster(make_dask: DaskFactory) -> None:
    facade = make_dask()
    futures = {facade.submit(square, n): n for n in range(20)}
    got = {futures[f]: f.result() for f in cf.as_completed(futures, timeout=DEADLINE)}
    assert got == {n: n * n for n in range(20)}
    assert list(facade.map(square, range(5), timeout=DEADLINE)) == [0, 1, 4, 9, 16]
    with pytest.raises(ZeroDivisionError):
        facade.submit(divide, 1, 0).result(DEADLINE)


def test_a_failing_task_is_failed_with_the_workers_traceback(make_dask: DaskFactory) -> None:
    facade = make_dask()
    bad = RaiseTask("bad")
    facade.process_task(bad)
    poll_until(facade, lambda _: bad.state.is_final, "bad final")
    assert bad.state is TaskState.FAILED
    assert bad.error == "ZeroDivisionError: division by zero"
    assert bad.traceback is not None and "in do_task" in bad.traceback
    assert isinstance(bad.exception, ZeroDivisionError)


def test_killing_a_worker_from_outside_is_survived_and_shown(
    make_dask: DaskFactory, tmp_path: Path
) -> None:
    facade = make_dask()
    gate = tmp_path / "gate"
    future = facade.submit(wait_for_file, str(gate))
    (task,) = facade.tasks
    events = poll_until(facade, lambda _: task.state is TaskState.RUNNING, "the call runs")
    victim = task.worker_pid
    assert victim is not None
    index = next(i.index for i in facade.worker_info() if i.pid == victim)
    os.kill(victim, signal.SIGKILL)

    def replaced(seen: list[Any]) -> bool:
        return any(isinstance(e, WorkerDied) and e.pid == victim for e in seen) and any(
            isinstance(e, WorkerStarted) and e.index == index and e.pid != victim for e in seen
        )

    events = poll_until(facade, replaced, "the worker died and came back")
    retried = [e for e in events if isinstance(e, TaskChanged) and e.state is TaskState.PENDING]
    assert retried and "Dask retries it" in retried[0].message
    gate.touch()
    assert future.result(DEADLINE) == "released"
    assert task.state is TaskState.DONE and task.worker_pid != victim
    info = next(i for i in facade.worker_info() if i.index == index)
    assert info.alive and info.restarts >= 1


def test_a_crash_task_ends_killed_worker_and_the_cluster_goes_on(make_dask: DaskFactory) -> None:
    facade = make_dask()
    boom = CrashTask("boom", "exit")
    facade.process_task(boom)
    doomed = facade.submit(die, 3)
    events = poll_until(facade, lambda _: boom.state.is_final, "boom final")
    # Blamed at each death by the scheduler's own list, even when the worker died too
    # fast to say it had begun: the same count Dask keeps.
    retries = [
        e.message
        for e in events
        if isinstance(e, TaskChanged) and e.task_id == "boom" and "Dask retries it" in e.message
    ]
    assert [m.rsplit("(", 1)[1] for m in retries] == [
        f"death {n} for this task)" for n in range(1, 4)
    ]
    assert boom.state is TaskState.CRASHED
    assert "KilledWorker" in (boom.error or "") and "allowed-failures=3" in (boom.error or "")
    assert "workers died" in (boom.traceback or "")  # Dask's own message
    exc = doomed.exception(DEADLINE)
    assert isinstance(exc, TaskCrashedError) and "KilledWorker" in str(exc)
    after = SquareTask("after", 6)
    facade.process_task(after)
    poll_until(facade, lambda _: after.state.is_final, "after final")
    assert after.result == 36


def test_progress_and_printed_lines_reach_the_client(make_dask: DaskFactory) -> None:
    facade = make_dask()
    progress = ProgressMessageTask("p")
    printer = PrintTask("printer", "hello from a Dask worker")
    facade.process_task(progress)
    facade.process_task(printer)

    def seen(events: list[Any]) -> bool:
        return (
            any(
                isinstance(e, WorkerLog) and e.message == "hello from a Dask worker" for e in events
            )
            and progress.state.is_final
        )

    events = poll_until(facade, seen, "progress and the printed line")
    assert any(
        isinstance(e, TaskChanged) and e.task_id == "p" and e.message == "halfway there"
        for e in events
    )


def test_cancel_timeout_and_collect(make_dask: DaskFactory) -> None:
    facade = make_dask(workers=1, task_timeout=None)
    slow = SleepTask("slow", 30.0, timeout=1.0)
    queued = SquareTask("queued", 2)
    facade.process_task(slow)
    facade.process_task(queued)
    poll_until(facade, lambda _: slow.state is TaskState.RUNNING, "slow runs")
    assert not facade.cancel("slow")
    assert facade.cancel("queued") and queued.state is TaskState.CANCELLED
    poll_until(facade, lambda _: slow.state.is_final, "slow times out")
    assert slow.state is TaskState.TIMED_OUT and "timeout of 1.0 s" in (slow.error or "")
    last = SleepTask("last", 30.0)
    facade.process_task(last)
    poll_until(facade, lambda _: last.state is TaskState.RUNNING, "last runs")
    tasks = facade.collect_tasks(timeout=0.5)
    assert last.state is TaskState.TIMED_OUT and "job ended" in (last.error or "")
    assert tasks == [slow, queued, last]


def test_bad_input_is_refused_at_once(make_dask: DaskFactory) -> None:
    facade = make_dask()
    lam = LambdaTask("lam")
    assert not facade.process_task(lam)
    assert lam.state is TaskState.REJECTED and "cannot be pickled" in (lam.error or "")
    assert not facade.process_task(SquareTask("", 1))
    with pytest.raises(KeyError):
        facade.cancel("nope")
    facade.collect_tasks(DEADLINE)
    late = SquareTask("late", 1)
    assert not facade.process_task(late) and "collected" in (late.error or "")


def test_two_facades_share_a_cluster_without_mixing(make_dask: DaskFactory) -> None:
    from app.cluster.facade import DaskFacade

    owner = make_dask()
    cluster = owner.client.cluster
    other = DaskFacade(cluster, workers=2)
    try:
        mine = [owner.submit(square, n) for n in range(5)]
        theirs = [other.submit(square, n + 10) for n in range(5)]
        printer = PrintTask("printer", "only for the second facade")
        other.process_task(printer)
        assert [f.result(DEADLINE) for f in mine] == [n * n for n in range(5)]
        assert [f.result(DEADLINE) for f in theirs] == [(n + 10) ** 2 for n in range(5)]
        assert [t.ID for t in owner.tasks] == [f"square-{n}" for n in range(1, 6)]
        poll_until(other, lambda _: printer.state.is_final, "printer final")
        owner_lines = [e for e in owner.poll_events(0.2) if isinstance(e, WorkerLog)]
        assert not any("second facade" in e.message for e in owner_lines)
    finally:
        other.close()


def test_an_unreachable_scheduler_is_a_clear_error_at_once() -> None:
    from app.cluster.facade import DaskFacade

    started = time.monotonic()
    with pytest.raises(OSError, match="connect"):
        DaskFacade("tcp://127.0.0.1:9", connect_timeout=1.0)
    assert time.monotonic() - started < 10


def test_by_scheduler_address_as_for_a_remote_cluster(make_dask: DaskFactory) -> None:
    """``--dask tcp://host:8786``: the facade neither owns nor resizes the cluster."""
    from app.cluster.facade import DaskFacade

    owner = make_dask()
    address = owner.client.scheduler.address
    assert address.startswith("tcp://127.0.0.1:")
    remote = DaskFacade(address)
    try:
        assert remote.submit(square, 12).result(DEADLINE) == 144
        assert len([i for i in remote.worker_info() if i.alive]) == 2
        assert remote.restart_worker() == 0  # nothing of its own to resize
    finally:
        remote.close()
    assert owner.submit(square, 3).result(DEADLINE) == 9  # the cluster lives on


def test_results_that_cannot_travel_fail_their_task(make_dask: DaskFactory) -> None:
    from tests.core.tasks_for_tests import LambdaResultTask, ParentBombResultTask

    facade = make_dask()
    lam = LambdaResultTask("lam")
    bomb = ParentBombResultTask("bomb")
    facade.process_task(lam)
    facade.process_task(bomb)
    poll_until(facade, lambda _: lam.state.is_final and bomb.state.is_final, "both final")
    assert lam.state is TaskState.FAILED and "could not be pickled" in (lam.error or "")
    assert bomb.state is TaskState.FAILED and "unpickled here" in (bomb.error or "")
    assert "refuses to be unpickled in the parent" in (bomb.error or "")
