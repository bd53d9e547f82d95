"""Faults the facade must survive: every task ends in the right state, no process is left.

One test (or a parametrized family) per fault of issue 2's list.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import pytest

from app.core import CrashTask, SimpleTask, Task, TaskState, WorkerDied, WorkerStarted
from app.core.task import CRASH_WAYS
from app.testing import FacadeFactory
from tests.core.helpers import (
    all_final,
    all_workers_ready,
    in_state,
    timed,
    wait_for,
    worker_dead,
    worker_ready,
)
from tests.core.tasks_for_tests import (
    LambdaResultTask,
    LambdaTask,
    LockResultTask,
    LockTask,
    ParentBombResultTask,
    PayloadTask,
    PidTask,
    RaiseTask,
    SquareTask,
    SysExitTask,
    UnpickleFailsInWorkerTask,
    UnpickleKillsWorkerTask,
)

EXIT_CODES = {
    "exception": 1,
    "exit": 3,
    "exit0": 0,
    "kill": -signal.SIGKILL,
    "segfault": -signal.SIGSEGV,
}
SIGNAL_NAMES = {"kill": "SIGKILL", "segfault": "SIGSEGV"}
DYING_WAYS = [way for way in CRASH_WAYS if way != "hang"]


def test_crash_ways_are_known() -> None:
    assert set(CRASH_WAYS) == {*EXIT_CODES, "hang"}


def died_events(events: list[Any]) -> list[WorkerDied]:
    return [e for e in events if isinstance(e, WorkerDied)]


def check_crashed(task: Task, way: str, pid: int | None) -> None:
    """``task`` is CRASHED with the exit code and signal its crash way implies."""
    assert task.state is TaskState.CRASHED, (task, task.error)
    assert task.exitcode == EXIT_CODES[way]
    assert task.worker_pid == pid
    assert task.error and "\n" not in task.error
    if way in SIGNAL_NAMES:
        assert SIGNAL_NAMES[way] in task.error
    assert task.result is None


# -- failures inside do_task: the worker lives on ----------------------------------------


@pytest.mark.timeout(60)
def test_exception_in_do_task_fails_the_task_and_the_worker_lives_on(
    monitor_facade: FacadeFactory,
) -> None:
    w = monitor_facade()
    bad = RaiseTask("bad")
    nxt = PidTask("next")
    assert w.process_task(bad) and w.process_task(nxt)
    wait_for(w, all_final([bad, nxt]))
    pid = w.worker_info()[0].pid
    assert bad.state is TaskState.FAILED
    assert bad.error == "ZeroDivisionError: division by zero"
    assert bad.traceback is not None
    assert "Traceback" in bad.traceback
    assert "ZeroDivisionError: division by zero" in bad.traceback
    assert "in do_task" in bad.traceback and "tasks_for_tests.py" in bad.traceback
    assert bad.result is None and bad.exitcode is None
    assert bad.worker_pid == pid
    assert nxt.state is TaskState.DONE
    assert nxt.result == pid == nxt.worker_pid
    info = w.worker_info()[0]
    assert info.alive and info.restarts == 0 and info.tasks_done == 2
    w.collect_tasks()
    assert bad.state is TaskState.FAILED and nxt.state is TaskState.DONE


@pytest.mark.timeout(60)
def test_sys_exit_in_do_task_fails_the_task_and_the_worker_lives_on(
    monitor_facade: FacadeFactory,
) -> None:
    w = monitor_facade()
    bad = SysExitTask("exits", 5)
    nxt = PidTask("next")
    assert w.process_task(bad) and w.process_task(nxt)
    events = wait_for(w, all_final([bad, nxt]))
    pid = w.worker_info()[0].pid
    assert bad.state is TaskState.FAILED
    assert bad.error and "SystemExit" in bad.error and "\n" not in bad.error
    assert bad.exitcode is None
    assert nxt.state is TaskState.DONE and nxt.result == pid
    assert bad.worker_pid == pid
    assert w.worker_info()[0].alive and w.worker_info()[0].restarts == 0
    assert not died_events(events)


# -- CrashTask, each way ------------------------------------------------------------------


@pytest.mark.timeout(60)
@pytest.mark.parametrize("way", DYING_WAYS)
def test_crash_while_busy_without_restart(monitor_facade: FacadeFactory, way: str) -> None:
    w = monitor_facade()
    pid = w.worker_info()[0].pid
    before = SquareTask("before", 2)
    crash = CrashTask("crash", way)
    queued = [SquareTask(f"queued{i}", i) for i in range(3)]
    for t in [before, crash, *queued]:
        assert w.process_task(t)
    events = wait_for(w, all_final([before, crash, *queued]))
    assert before.state is TaskState.DONE and before.result == 4
    check_crashed(crash, way, pid)
    for t in queued:
        assert t.state is TaskState.LOST, (t, t.error)
        assert t.error and "\n" not in t.error
        assert t.result is None and t.started_at is None
    info = w.worker_info()[0]
    assert not info.alive
    assert info.exitcode == EXIT_CODES[way]
    assert info.task_id is None
    died = died_events(events)
    assert [(e.index, e.pid, e.exitcode) for e in died] == [(0, pid, EXIT_CODES[way])]
    assert died[0].signal_name == SIGNAL_NAMES.get(way)
    assert not [e for e in events if isinstance(e, WorkerStarted) and e.pid != pid]
    tasks, took = timed(w.collect_tasks)
    assert took < 5.0
    assert [t.state for t in tasks] == [TaskState.DONE, TaskState.CRASHED] + [TaskState.LOST] * 3


@pytest.mark.timeout(60)
@pytest.mark.parametrize("config", [{"restart": True}, {"workers": 2}], ids=["restart", "2workers"])
@pytest.mark.parametrize("way", DYING_WAYS)
def test_crash_while_busy_is_survived(
    monitor_facade: FacadeFactory, way: str, config: dict[str, Any]
) -> None:
    w = monitor_facade(**config)
    wait_for(w, all_workers_ready(w))
    pids = [i.pid for i in w.worker_info()]
    crash = CrashTask("crash", way)
    queued = [SquareTask(f"queued{i}", i) for i in range(6)]
    for t in [crash, *queued]:
        assert w.process_task(t)
    events = wait_for(w, all_final([crash, *queued]))
    assert crash.worker_pid in pids
    check_crashed(crash, way, crash.worker_pid)
    for i, t in enumerate(queued):
        assert t.state is TaskState.DONE, (t, t.error)
        assert t.result == i * i
        assert t.worker_pid != crash.worker_pid
    died = died_events(events)
    assert [(e.pid, e.exitcode) for e in died] == [(crash.worker_pid, EXIT_CODES[way])]
    if config.get("restart"):
        wait_for(w, worker_ready(w, 0))
        info = w.worker_info()[0]
        assert info.pid != crash.worker_pid and info.restarts == 1
        assert {t.worker_pid for t in queued} == {info.pid}
    else:
        infos = w.worker_info()
        dead = [i for i in infos if i.pid == crash.worker_pid]
        alive = [i for i in infos if i.alive]
        assert len(dead) == 1 and not dead[0].alive
        assert dead[0].exitcode == EXIT_CODES[way]
        assert len(alive) == 1
        assert {t.worker_pid for t in queued} == {alive[0].pid}
    tasks = w.collect_tasks()
    assert [t.state for t in tasks] == [TaskState.CRASHED] + [TaskState.DONE] * 6


@pytest.mark.timeout(60)
@pytest.mark.parametrize("way", DYING_WAYS)
def test_crash_while_idle(monitor_facade: FacadeFactory, way: str) -> None:
    w = monitor_facade()
    pid = w.worker_info()[0].pid
    crash = CrashTask("crash", way)
    assert w.process_task(crash)
    events = wait_for(w, all_final([crash]))
    wait_for(w, worker_dead(w))
    check_crashed(crash, way, pid)
    info = w.worker_info()[0]
    assert not info.alive and info.exitcode == EXIT_CODES[way]
    assert [(e.pid, e.exitcode) for e in died_events(events)] == [(pid, EXIT_CODES[way])]
    late = SquareTask("late", 3)
    ok, took = timed(lambda: w.process_task(late))
    assert ok is False and took < 0.5
    assert late.state is TaskState.LOST
    assert late.error
    assert w.collect_tasks() == [crash, late]
    assert late.state is TaskState.LOST


@pytest.mark.timeout(60)
def test_simple_task_named_crash_kills_its_worker(monitor_facade: FacadeFactory) -> None:
    w = monitor_facade()
    pid = w.worker_info()[0].pid
    crash = SimpleTask("CrAsH", 0.1)
    queued = SquareTask("queued", 2)
    assert w.process_task(crash) and w.process_task(queued)
    w.collect_tasks()
    check_crashed(crash, "exception", pid)
    assert queued.state is TaskState.LOST


# -- hangs and timeouts --------------------------------------------------------------------


@pytest.mark.timeout(60)
@pytest.mark.parametrize("busy", [False, True], ids=["idle", "busy"])
def test_hung_task_with_timeout_is_timed_out_and_worker_replaced(
    monitor_facade: FacadeFactory, busy: bool
) -> None:
    w = monitor_facade()  # restart=False: a timeout replaces the worker anyway
    wait_for(w, worker_ready(w))
    old = w.worker_info()[0].pid
    hang = CrashTask("hang", "hang", timeout=0.5)
    queued = [SquareTask(f"queued{i}", i) for i in range(3)] if busy else []
    start = time.monotonic()
    for t in [hang, *queued]:
        assert w.process_task(t)
    events = wait_for(w, all_final([hang, *queued]))
    assert hang.state is TaskState.TIMED_OUT
    assert hang.error
    assert time.monotonic() - start < 8.0
    assert [(e.pid) for e in died_events(events)] == [old]
    wait_for(w, worker_ready(w))
    info = w.worker_info()[0]
    assert info.pid != old and info.restarts == 1
    nxt = PidTask("next")
    assert w.process_task(nxt)
    wait_for(w, all_final([nxt]))
    assert nxt.state is TaskState.DONE and nxt.result == info.pid
    for i, t in enumerate(queued):
        assert t.state is TaskState.DONE and t.result == i * i
        assert t.worker_pid == info.pid


@pytest.mark.timeout(60)
def test_facade_task_timeout_applies_to_every_task(monitor_facade: FacadeFactory) -> None:
    w = monitor_facade(task_timeout=0.5)
    ok = SimpleTask("quick", 0.1)
    hang = CrashTask("hang", "hang")
    nxt = SquareTask("next", 7)
    for t in [ok, hang, nxt]:
        assert w.process_task(t)
    wait_for(w, all_final([ok, hang, nxt]))
    assert ok.state is TaskState.DONE
    assert hang.state is TaskState.TIMED_OUT
    assert nxt.state is TaskState.DONE and nxt.result == 49
    assert nxt.worker_pid != hang.worker_pid


@pytest.mark.timeout(60)
def test_collect_timeout_kills_a_hung_worker(monitor_facade: FacadeFactory) -> None:
    w = monitor_facade()
    hang = CrashTask("hang", "hang")
    queued = [SquareTask(f"queued{i}", i) for i in range(3)]
    for t in [hang, *queued]:
        assert w.process_task(t)
    wait_for(w, in_state(hang, TaskState.RUNNING))
    tasks, took = timed(lambda: w.collect_tasks(timeout=0.5))
    assert took < 8.0
    assert tasks == [hang, *queued]
    assert hang.state is TaskState.TIMED_OUT
    assert [t.state for t in queued] == [TaskState.CANCELLED] * 3
    assert not w.worker_info()[0].alive


@pytest.mark.timeout(60)
def test_process_task_never_blocks_on_a_hung_worker_with_a_full_pipe(
    monitor_facade: FacadeFactory,
) -> None:
    w = monitor_facade()
    hang = CrashTask("hang", "hang")
    assert w.process_task(hang)
    wait_for(w, in_state(hang, TaskState.RUNNING))
    payload = b"p" * 200_000
    slowest = 0.0
    start = time.perf_counter()
    tasks = [PayloadTask(f"payload{i}", payload) for i in range(60)]  # ~12 MB, pipe ~64 KiB
    for t in tasks:
        ok, took = timed(lambda t=t: w.process_task(t))
        assert ok is True
        slowest = max(slowest, took)
    assert slowest < 0.25, f"slowest process_task took {slowest:.3f} s"
    assert time.perf_counter() - start < 3.0
    collected = w.collect_tasks(timeout=0.5)
    assert hang.state is TaskState.TIMED_OUT
    assert {t.state for t in collected[1:]} == {TaskState.CANCELLED}


# -- SIGKILL from outside ------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_sigkill_of_a_busy_worker(monitor_facade: FacadeFactory) -> None:
    w = monitor_facade()
    long = SimpleTask("long", 30.0)
    queued = SquareTask("queued", 2)
    assert w.process_task(long) and w.process_task(queued)
    wait_for(w, in_state(long, TaskState.RUNNING))
    info = w.worker_info()[0]
    assert info.task_id == "long"
    os.kill(info.pid, signal.SIGKILL)
    events = wait_for(w, all_final([long, queued]), deadline=5.0)
    assert long.state is TaskState.CRASHED
    assert long.exitcode == -signal.SIGKILL
    assert long.error and "SIGKILL" in long.error
    assert long.worker_pid == info.pid
    assert queued.state is TaskState.LOST
    died = died_events(events)
    assert [(e.pid, e.exitcode, e.signal_name) for e in died] == [
        (info.pid, -signal.SIGKILL, "SIGKILL")
    ]
    after = w.worker_info()[0]
    assert not after.alive and after.exitcode == -signal.SIGKILL


@pytest.mark.timeout(60)
def test_sigkill_of_an_idle_worker_makes_later_submits_lost(monitor_facade: FacadeFactory) -> None:
    w = monitor_facade()
    wait_for(w, worker_ready(w))
    pid = w.worker_info()[0].pid
    os.kill(pid, signal.SIGKILL)
    events = wait_for(w, worker_dead(w), deadline=5.0)
    assert [(e.pid, e.exitcode, e.signal_name) for e in died_events(events)] == [
        (pid, -signal.SIGKILL, "SIGKILL")
    ]
    late = [SquareTask(f"late{i}", i) for i in range(3)]
    for t in late:
        assert w.process_task(t) is False
        assert t.state is TaskState.LOST
        assert t.error and t.attempts == 1
    assert w.collect_tasks() == late


@pytest.mark.timeout(60)
def test_process_task_in_a_loop_after_the_worker_died(monitor_facade: FacadeFactory) -> None:
    w = monitor_facade()
    wait_for(w, worker_ready(w))
    os.kill(w.worker_info()[0].pid, signal.SIGKILL)
    wait_for(w, worker_dead(w), deadline=5.0)
    tasks = [SquareTask(f"t{i}", i) for i in range(1000)]
    slowest = 0.0
    start = time.perf_counter()
    for t in tasks:
        ok, took = timed(lambda t=t: w.process_task(t))
        slowest = max(slowest, took)
        assert ok is False
    total = time.perf_counter() - start
    assert total < 0.5, f"1000 submits to a dead worker took {total:.3f} s"
    assert slowest < 0.05, f"slowest submit took {slowest:.3f} s"
    assert {t.state for t in tasks} == {TaskState.LOST}
    assert len(w.collect_tasks()) == 1000


@pytest.mark.timeout(60)
def test_process_task_right_after_an_unnoticed_death_does_not_block(
    monitor_facade: FacadeFactory,
) -> None:
    """The worker dies and nobody polls: submits still return at once, and end LOST."""
    w = monitor_facade()
    wait_for(w, worker_ready(w))
    pid = w.worker_info()[0].pid
    os.kill(pid, signal.SIGKILL)
    tasks = [SquareTask(f"t{i}", i) for i in range(200)]
    slowest = 0.0
    for t in tasks:
        _, took = timed(lambda t=t: w.process_task(t))
        slowest = max(slowest, took)
    assert slowest < 0.1
    wait_for(w, all_final(tasks), deadline=5.0)
    assert {t.state for t in tasks} == {TaskState.LOST}
    assert all(t.error for t in tasks)


@pytest.mark.timeout(60)
def test_restart_replaces_a_killed_worker_at_once(monitor_facade: FacadeFactory) -> None:
    w = monitor_facade(restart=True)
    events = wait_for(w, worker_ready(w))
    old = w.worker_info()[0].pid
    os.kill(old, signal.SIGKILL)
    events = wait_for(w, lambda: worker_ready(w)() and w.worker_info()[0].pid != old, deadline=10.0)
    new = w.worker_info()[0].pid
    kinds = [(type(e).__name__, e.pid) for e in events if isinstance(e, WorkerDied | WorkerStarted)]
    assert kinds == [("WorkerDied", old), ("WorkerStarted", new)]
    died = died_events(events)[0]
    assert died.index == 0 and died.exitcode == -signal.SIGKILL and died.signal_name == "SIGKILL"
    assert w.worker_info()[0].restarts == 1
    t = PidTask("after")
    assert w.process_task(t)
    w.collect_tasks()
    assert t.state is TaskState.DONE and t.result == new


@pytest.mark.timeout(60)
def test_restart_worker_requeues_lost_tasks(monitor_facade: FacadeFactory) -> None:
    w = monitor_facade()
    long = SimpleTask("long", 30.0)
    queued = [SquareTask(f"queued{i}", i) for i in range(3)]
    for t in [long, *queued]:
        assert w.process_task(t)
    wait_for(w, in_state(long, TaskState.RUNNING))
    old = w.worker_info()[0].pid
    os.kill(old, signal.SIGKILL)
    wait_for(w, all_final([long, *queued]), deadline=5.0)
    assert long.state is TaskState.CRASHED
    assert [t.state for t in queued] == [TaskState.LOST] * 3
    w.restart_worker(requeue_lost=True)
    assert [t.state for t in queued] == [TaskState.PENDING] * 3
    assert long.state is TaskState.CRASHED, "the crashed task is not retried"
    wait_for(w, all_final(queued))
    new = w.worker_info()[0].pid
    assert new != old
    for i, t in enumerate(queued):
        assert t.state is TaskState.DONE and t.result == i * i and t.worker_pid == new
        assert t.error is None
    w.collect_tasks()
    assert long.state is TaskState.CRASHED


@pytest.mark.timeout(60)
def test_two_workers_one_killed_its_queue_goes_to_the_survivor(
    monitor_facade: FacadeFactory,
) -> None:
    w = monitor_facade(workers=2)
    wait_for(w, all_workers_ready(w))  # else one worker may take both long tasks in turn
    longs = [SimpleTask("long0", 1.5), SimpleTask("long1", 1.5)]
    quick = [SquareTask(f"quick{i}", i) for i in range(8)]
    for t in [*longs, *quick]:
        assert w.process_task(t)
    wait_for(w, lambda: all(t.state is TaskState.RUNNING for t in longs))
    victim = next(i for i in w.worker_info() if i.task_id == "long0")
    os.kill(victim.pid, signal.SIGKILL)
    wait_for(w, all_final([*longs, *quick]), deadline=15.0)
    survivor = next(i for i in w.worker_info() if i.index != victim.index)
    assert survivor.alive
    assert longs[0].state is TaskState.CRASHED and longs[0].worker_pid == victim.pid
    assert longs[1].state is TaskState.DONE and longs[1].worker_pid == survivor.pid
    for i, t in enumerate(quick):
        assert t.state is TaskState.DONE and t.result == i * i
        assert t.worker_pid == survivor.pid
    assert not w.worker_info()[victim.index].alive


# -- pickling in both directions -------------------------------------------------------------


@pytest.mark.parametrize("task_class", [LambdaTask, LockTask])
def test_task_that_cannot_be_pickled_is_rejected_at_once(
    monitor_facade: FacadeFactory, task_class: type[Task]
) -> None:
    w = monitor_facade()
    bad = task_class("bad")
    ok, took = timed(lambda: w.process_task(bad))
    assert ok is False
    assert took < 0.5
    assert bad.state is TaskState.REJECTED
    assert bad.error and "pickl" in bad.error.lower() and "\n" not in bad.error
    assert "bad" not in [t.ID for t in w.tasks]
    good = SquareTask("good", 3)
    assert w.process_task(good)
    again = SquareTask("bad", 4)  # a rejected task is not recorded: its ID is free
    assert w.process_task(again)
    tasks = w.collect_tasks()
    assert tasks == [good, again]
    assert good.state is TaskState.DONE and again.result == 16


@pytest.mark.timeout(60)
def test_task_whose_unpickling_fails_in_the_worker(monitor_facade: FacadeFactory) -> None:
    w = monitor_facade()
    pid = w.worker_info()[0].pid
    bad = UnpickleFailsInWorkerTask("bad")
    nxt = PidTask("next")
    assert w.process_task(bad) and w.process_task(nxt)
    events = wait_for(w, all_final([bad, nxt]))
    assert bad.state is TaskState.FAILED, (bad, bad.error)
    assert bad.error and "refusing to be unpickled in the worker" in bad.error
    assert "RuntimeError" in bad.error and "\n" not in bad.error
    assert nxt.state is TaskState.DONE and nxt.result == pid
    assert w.worker_info()[0].alive and not died_events(events)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("restart", [False, True], ids=["no-restart", "restart"])
def test_task_whose_unpickling_kills_the_worker_is_blamed_alone(
    monitor_facade: FacadeFactory, restart: bool
) -> None:
    w = monitor_facade(restart=restart)
    pid = w.worker_info()[0].pid
    before = SquareTask("before", 2)
    killer = UnpickleKillsWorkerTask("killer")
    after = [SquareTask(f"after{i}", i) for i in range(3)]
    for t in [before, killer, *after]:
        assert w.process_task(t)
    wait_for(w, all_final([before, killer, *after]))
    assert before.state is TaskState.DONE and before.worker_pid == pid
    assert killer.state is TaskState.CRASHED, (killer, killer.error)
    assert killer.exitcode == UnpickleKillsWorkerTask.EXIT_CODE
    expected = TaskState.DONE if restart else TaskState.LOST
    assert [t.state for t in after] == [expected] * 3
    if restart:
        assert all(t.worker_pid not in (None, pid) for t in after)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("task_class", [LambdaResultTask, LockResultTask])
def test_result_that_cannot_be_pickled(
    monitor_facade: FacadeFactory, task_class: type[Task]
) -> None:
    w = monitor_facade()
    pid = w.worker_info()[0].pid
    bad = task_class("bad")
    nxt = PidTask("next")
    assert w.process_task(bad) and w.process_task(nxt)
    events = wait_for(w, all_final([bad, nxt]))
    assert bad.state is TaskState.FAILED, (bad, bad.error)
    assert bad.error and "pickl" in bad.error.lower() and "\n" not in bad.error
    assert bad.result is None
    assert nxt.state is TaskState.DONE and nxt.result == pid
    assert w.worker_info()[0].alive and not died_events(events)


@pytest.mark.timeout(60)
def test_result_whose_unpickling_fails_in_the_parent(monitor_facade: FacadeFactory) -> None:
    w = monitor_facade()
    pid = w.worker_info()[0].pid
    bad = ParentBombResultTask("bomb")
    nxt = PidTask("next")
    assert w.process_task(bad) and w.process_task(nxt)
    events = wait_for(w, all_final([bad, nxt]))
    assert bad.state is TaskState.FAILED, (bad, bad.error)
    assert bad.error and "refuses to be unpickled in the parent" in bad.error
    assert "\n" not in bad.error
    assert bad.result is None
    assert nxt.state is TaskState.DONE and nxt.result == pid
    assert w.worker_info()[0].alive and not died_events(events)
    # The facade lives on: more work goes through.
    more = SquareTask("more", 9)
    assert w.process_task(more)
    w.collect_tasks()
    assert more.state is TaskState.DONE and more.result == 81


@pytest.mark.timeout(60)
def test_worker_dying_during_collect(monitor_facade: FacadeFactory) -> None:
    """Nobody polls: the worker dies while collect_tasks waits, and every fate is known."""
    w = monitor_facade()
    pid = w.worker_info()[0].pid
    first = SimpleTask("first", 0.3)
    crash = CrashTask("crash", "exit")
    queued = [SquareTask(f"queued{i}", i) for i in range(3)]
    for t in [first, crash, *queued]:
        assert w.process_task(t)
    tasks, took = timed(w.collect_tasks)
    assert took < 10.0
    assert tasks == [first, crash, *queued]
    assert first.state is TaskState.DONE and first.result == "first solved after 0.3"
    check_crashed(crash, "exit", pid)
    assert [t.state for t in queued] == [TaskState.LOST] * 3
    assert all(t.error for t in queued)
