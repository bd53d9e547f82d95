"""``initializer(*initargs)``: run in each worker before its first task; a failure is told
once, blames no task and is never respawned; bad arguments fail the constructor."""

from __future__ import annotations

import logging
import math
import multiprocessing
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest

from app.core import TaskState, WorkerDied, WorkerLog, WorkerStarted, WorkingProcessFacade
from app.core.futures import TaskLostError
from app.core.lifecycle import initializer_failure
from app.testing import FacadeFactory
from tests.core import lifecycle_calls as calls
from tests.core.calls_for_tests import die
from tests.core.helpers import all_final, wait_for

DEADLINE = 30.0


def _deaths(events: list[Any]) -> list[WorkerDied]:
    return [e for e in events if isinstance(e, WorkerDied)]


def test_initargs_reach_every_worker_and_its_replacements(
    monitor_facade: FacadeFactory,
) -> None:
    facade = monitor_facade(2, restart=True, initializer=calls.remember, initargs=["x", 2])
    futures = [facade.submit(calls.setting) for _ in range(6)]
    assert [f.result(DEADLINE) for f in futures] == [("x", 2)] * 6
    crash = facade.submit(die, 3)
    events = wait_for(facade, all_final(facade.tasks), DEADLINE)
    events += facade.poll_events()  # what came between its last poll and its check
    assert facade.task(crash.task_id).state is TaskState.CRASHED
    (died,) = _deaths(events)
    assert died.reason == "crashed" and died.exitcode == 3
    again = [facade.submit(calls.setting) for _ in range(4)]
    assert [f.result(DEADLINE) for f in again] == [("x", 2)] * 4  # the replacement ran it too
    tasks = facade.collect_tasks(DEADLINE)
    assert [t.state for t in tasks].count(TaskState.DONE) == 10
    assert all(t.state is TaskState.DONE for t in tasks if crash.task_id != t.ID)


@pytest.mark.parametrize("restart", [False, True])
def test_a_failing_initializer_loses_the_queue_naming_it_and_blames_nothing(
    monitor_facade: FacadeFactory, restart: bool
) -> None:
    facade = monitor_facade(
        1, restart=restart, initializer=calls.fail_init, initargs=("no database",)
    )
    futures = [facade.submit(calls.pid_of, n) for n in range(5)]
    events = wait_for(facade, all_final(facade.tasks), DEADLINE)
    events += facade.poll_events()  # what came between its last poll and its check
    for task in facade.tasks:
        assert task.state is TaskState.LOST, task
        assert task.started_at is None and task.worker_pid is None
        assert task.error == (
            "no worker left: the initializer failed in every worker (ValueError: no database)"
        )
    for future in futures:
        with pytest.raises(TaskLostError, match="initializer failed"):
            future.result(DEADLINE)
    (died,) = _deaths(events)
    assert (died.reason, died.exitcode, died.signal_name) == ("initializer failed", 1, None)
    logged = [e for e in events if isinstance(e, WorkerLog) and e.level >= logging.ERROR]
    assert any("Traceback" in e.message and "ValueError: no database" in e.message for e in logged)
    assert initializer_failure(logged[0].message) == "ValueError: no database"
    # Not respawned, whatever restart says: no replacement is on its way, so a task sent
    # now is LOST at once instead of waiting for one.
    (info,) = facade.worker_info()
    assert not info.alive and info.restarts == 0
    late = facade.submit(calls.pid_of, 99)
    assert facade.task(late.task_id).state is TaskState.LOST  # at once: none on its way
    with pytest.raises(TaskLostError, match="initializer failed in every worker"):
        late.result(DEADLINE)
    events += facade.poll_events()
    assert sum(isinstance(e, WorkerStarted) for e in events) == 1
    tasks = facade.collect_tasks(DEADLINE)
    assert [t.state for t in tasks] == [TaskState.LOST] * 6


def test_only_the_worker_whose_initializer_fails_is_lost_the_other_runs_all(
    monitor_facade: FacadeFactory, tmp_path: Path
) -> None:
    facade = monitor_facade(
        2, restart=True, initializer=calls.fail_if_first, initargs=(str(tmp_path),)
    )
    futures = [facade.submit(calls.pid_of, n) for n in range(12)]
    results = [f.result(DEADLINE) for f in futures]
    assert [n for n, _ in results] == list(range(12))
    pids = {pid for _, pid in results}
    assert len(pids) == 1
    events = wait_for(facade, lambda: any(not w.alive for w in facade.worker_info()), DEADLINE)
    tasks = facade.collect_tasks(DEADLINE)
    events += facade.poll_events()
    assert all(t.state is TaskState.DONE and t.worker_pid in pids for t in tasks)
    failed = [d for d in _deaths(events) if d.reason == "initializer failed"]
    assert len(failed) == 1 and failed[0].pid not in pids and failed[0].exitcode == 1
    # The survivor leaves cleanly at the end of the collect.
    assert [d.reason for d in _deaths(events) if d.pid in pids] == ["stopped"]


@pytest.mark.parametrize(
    ("initializer", "code", "signal_name"),
    [(calls.exit_in_init, 7, None), (calls.kill_self_in_init, -9, "SIGKILL")],
)
def test_a_worker_that_dies_inside_its_initializer_is_an_initializer_failure(
    monitor_facade: FacadeFactory,
    initializer: Callable[[int], None],
    code: int,
    signal_name: str | None,
) -> None:
    facade = monitor_facade(1, restart=True, initializer=initializer, initargs=(7,))
    futures = [facade.submit(calls.pid_of, n) for n in range(3)]
    events = wait_for(facade, all_final(facade.tasks), DEADLINE)
    events += facade.poll_events()  # what came between its last poll and its check
    (died,) = _deaths(events)
    assert (died.reason, died.exitcode, died.signal_name) == (
        "initializer failed",
        code,
        signal_name,
    )
    how = f"exited with code {code}" if code > 0 else f"killed by SIGKILL (exit code {code})"
    for task, future in zip(facade.tasks, futures, strict=True):
        assert task.state is TaskState.LOST and task.started_at is None
        assert task.error == (
            f"no worker left: the initializer failed in every worker (the worker {how} inside it)"
        )
        assert isinstance(future.exception(DEADLINE), TaskLostError)
    assert not facade.worker_info()[0].alive and facade.worker_info()[0].restarts == 0


def test_tasks_queued_while_initializing_wait_for_it_and_are_never_blamed(
    monitor_facade: FacadeFactory, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    facade = monitor_facade(1, initializer=calls.wait_then_fail, initargs=(str(go), "late failure"))
    futures = [facade.submit(calls.pid_of, n) for n in range(5)]
    # Nothing is sent to a worker still in its initializer: it might never be ready.
    wait_for(facade, lambda: facade.worker_info()[0].alive, DEADLINE)
    for _ in range(3):
        facade.poll_events(0.05)
        (info,) = facade.worker_info()
        assert info.alive and not info.ready and info.queued == 0 and info.task_id is None
    assert all(t.state is TaskState.PENDING for t in facade.tasks)
    go.touch()
    events = wait_for(facade, all_final(facade.tasks), DEADLINE)
    events += facade.poll_events()  # what came between its last poll and its check
    assert [t.state for t in facade.tasks] == [TaskState.LOST] * 5
    assert all("RuntimeError: late failure" in (t.error or "") for t in facade.tasks)
    assert not any(f.running() for f in futures)
    assert [d.reason for d in _deaths(events)] == ["initializer failed"]


def test_restart_worker_on_request_tries_the_initializer_again(
    monitor_facade: FacadeFactory, tmp_path: Path
) -> None:
    facade = monitor_facade(1, initializer=calls.fail_if_first, initargs=(str(tmp_path),))
    lost = facade.submit(calls.pid_of, 1)
    assert isinstance(lost.exception(DEADLINE), TaskLostError)
    assert facade.restart_worker() == 1  # the file exists now: this one succeeds
    assert facade.submit(calls.pid_of, 2).result(DEADLINE)[0] == 2
    tasks = facade.collect_tasks(DEADLINE)
    assert [t.state for t in tasks] == [TaskState.LOST, TaskState.DONE]  # a call's future
    # had failed already: a LOST call is not run again
    events = facade.poll_events()
    assert [d.reason for d in _deaths(events)] == ["initializer failed", "stopped"]


# == bad arguments, refused before any worker starts =======================================
def _lock_arg() -> Any:
    return threading.Lock()


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"initializer": 5}, TypeError, "initializer must be callable or None, not 5"),
        ({"initializer": calls.remember, "initargs": "ab"}, TypeError, "initargs must be a tuple"),
        ({"initializer": calls.remember, "initargs": 3}, TypeError, "initargs must be a tuple"),
        ({"initargs": b"xy"}, TypeError, "initargs must be a tuple"),
        ({"initializer": lambda: None}, TypeError, r"initializer .*<lambda> cannot be pickled"),
        (
            {"initializer": calls.remember, "initargs": (threading.Lock(),)},
            TypeError,
            "initargs of initializer tests.core.lifecycle_calls.remember cannot be pickled",
        ),
        ({"max_tasks_per_child": 0}, ValueError, "max_tasks_per_child must be a positive"),
        ({"max_tasks_per_child": -3}, ValueError, "max_tasks_per_child must be a positive"),
        ({"max_tasks_per_child": True}, TypeError, "max_tasks_per_child must be a positive"),
        ({"max_tasks_per_child": 2.0}, TypeError, "max_tasks_per_child must be a positive"),
        ({"max_tasks_per_child": "3"}, TypeError, "max_tasks_per_child must be a positive"),
        ({"max_memory_per_child": 0}, ValueError, "max_memory_per_child must be a positive"),
        ({"max_memory_per_child": -1}, ValueError, "max_memory_per_child must be a positive"),
        ({"max_memory_per_child": math.inf}, TypeError, "max_memory_per_child must be a pos"),
        ({"max_memory_per_child": math.nan}, TypeError, "max_memory_per_child must be a pos"),
        ({"max_memory_per_child": False}, TypeError, "max_memory_per_child must be a pos"),
        ({"max_memory_per_child": 1e8}, TypeError, "max_memory_per_child must be a pos"),
    ],
)
def test_bad_arguments_fail_the_constructor_before_any_worker_starts(
    options: dict[str, Any], error: type[Exception], match: str
) -> None:
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    with pytest.raises(error, match=match):
        WorkingProcessFacade(1, **options)
    after = {p.pid for p in psutil.Process().children(recursive=True)}
    assert after <= before


@pytest.mark.parametrize("method", ["spawn", "forkserver", "fork"])
def test_initargs_may_hold_a_queue_and_a_lock_that_travel_only_to_new_processes(
    monitor_facade: FacadeFactory, method: str
) -> None:
    ctx = multiprocessing.get_context(method)
    queue, lock = ctx.Queue(), ctx.Lock()
    facade = monitor_facade(
        2, start_method=method, initializer=calls.keep_shared, initargs=(queue, lock)
    )
    pids = {facade.submit(calls.put_under_lock, n).result(DEADLINE) for n in range(4)}
    got = [queue.get(timeout=DEADLINE) for _ in range(6)]
    assert sorted(m for m in got if isinstance(m, int)) == [0, 1, 2, 3]
    assert {m[1] for m in got if isinstance(m, tuple)} >= pids  # each worker said hello
    assert [t.state for t in facade.collect_tasks(DEADLINE)] == [TaskState.DONE] * 4
    queue.close()
    queue.join_thread()


def test_initargs_without_an_initializer_are_ignored_as_the_standard_executor_does(
    monitor_facade: FacadeFactory,
) -> None:
    facade = monitor_facade(1, initargs=(1, 2), max_tasks_per_child=10**30)
    assert facade.submit(calls.pid_of, 5).result(DEADLINE)[0] == 5
    assert [t.state for t in facade.collect_tasks(DEADLINE)] == [TaskState.DONE]


def test_an_initializer_that_never_returns_does_not_hold_a_collect_past_its_timeout(
    monitor_facade: FacadeFactory, tmp_path: Path
) -> None:
    facade = monitor_facade(
        2, initializer=calls.wait_for_file_in_init, initargs=(str(tmp_path / "never"),)
    )
    futures = [facade.submit(calls.pid_of, n) for n in range(4)]
    start = time.monotonic()
    tasks = facade.collect_tasks(timeout=0.5)
    assert time.monotonic() - start < 10
    assert [t.state for t in tasks] == [TaskState.CANCELLED] * 4
    assert all(f.cancelled() for f in futures)
    assert [d.reason for d in _deaths(facade.poll_events())] == ["killed", "killed"]


def test_a_thread_the_failed_initializer_left_running_does_not_hide_its_death(
    monitor_facade: FacadeFactory,
) -> None:
    facade = monitor_facade(1, initializer=calls.start_a_thread_then_fail)
    future = facade.submit(calls.pid_of, 1)
    assert isinstance(future.exception(DEADLINE), TaskLostError)
    events: list[Any] = []
    wait_for(facade, lambda: bool(_deaths(events)), DEADLINE, into=events)
    (died,) = _deaths(events)
    assert (died.reason, died.exitcode) == ("initializer failed", 1)
    (warned,) = [e for e in events if isinstance(e, WorkerLog) and "did not end" in e.message]
    assert warned.pid == died.pid and "left-behind" in warned.message
    task = facade.task(future.task_id)
    assert task.state is TaskState.LOST and "after starting a thread" in (task.error or "")
