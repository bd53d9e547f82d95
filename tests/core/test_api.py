"""The public API: submitting, collecting, events, cancel/resubmit, rejected inputs."""

from __future__ import annotations

import itertools
import math
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from app.core import (
    CrashTask,
    SimpleTask,
    Task,
    TaskChanged,
    TaskState,
    WorkerDied,
    WorkerLog,
    WorkerStarted,
    WorkingProcessFacade,
)
from app.testing import FacadeFactory
from tests.core.helpers import (
    all_final,
    all_workers_ready,
    in_state,
    pid_gone,
    states_of,
    timed,
    wait_for,
)
from tests.core.tasks_for_tests import (
    FailOnceTask,
    LogTask,
    ModuleLoadedTask,
    NeverValidTask,
    PidTask,
    ProgressMessageTask,
    SetsResultTask,
    SquareTask,
    TouchTask,
)

ROOT = Path(__file__).resolve().parents[2]


def test_public_names_import() -> None:
    import app.core as core

    for name in (
        "WorkingProcessFacade",
        "Task",
        "SimpleTask",
        "CrashTask",
        "TaskState",
        "TaskChanged",
        "WorkerStarted",
        "WorkerDied",
        "WorkerLog",
    ):
        assert hasattr(core, name), name
    assert [s.name for s in TaskState] == [
        "NEW",
        "PENDING",
        "RUNNING",
        "DONE",
        "FAILED",
        "CRASHED",
        "LOST",
        "CANCELLED",
        "TIMED_OUT",
        "REJECTED",
    ]


@pytest.mark.timeout(60)
def test_original_example_runs_as_written(capsys: pytest.CaptureFixture[str]) -> None:
    w = WorkingProcessFacade()
    w.process_task(SimpleTask("one", 1.0))
    w.process_task(SimpleTask("two", 2.5))
    for t in w.collect_tasks():
        print(f"{t.ID} - {t.result}")
    lines = capsys.readouterr().out.splitlines()
    expected = ["one - one solved after 1.0", "two - two solved after 2.5"]
    assert [line for line in lines if line in expected] == expected


def test_new_task_has_empty_bookkeeping() -> None:
    t = SimpleTask("fresh", 0.1)
    assert t.ID == "fresh"
    assert t.state is TaskState.NEW
    assert t.result is None
    assert t.error is None
    assert t.traceback is None
    assert t.attempts == 0
    assert t.timeout is None
    assert t.submitted_at is None
    assert isinstance(t, Task)


def test_submit_then_collect_fills_in_the_task(monitor_facade: FacadeFactory) -> None:
    w = monitor_facade()
    t = SimpleTask("a", 0.2)
    before = time.time()
    assert w.process_task(t) is True
    assert t.state is TaskState.PENDING
    assert t.attempts == 1
    assert t.submitted_at is not None and t.submitted_at >= before - 1e-3
    assert [x.ID for x in w.tasks] == ["a"]
    pid = w.worker_info()[0].pid

    tasks = w.collect_tasks()

    assert tasks == [t] and tasks[0] is t
    assert t.state is TaskState.DONE
    assert t.result == "a solved after 0.2"
    assert t.error is None and t.traceback is None
    assert t.worker_pid == pid
    assert t.started_at is not None and t.finished_at is not None
    assert t.submitted_at <= t.started_at + 0.05  # same clock, another process
    assert t.finished_at - t.started_at >= 0.19
    assert t.attempts == 1


def test_task_may_set_its_result_itself(monitor_facade: FacadeFactory) -> None:
    w = monitor_facade()
    t = SetsResultTask("s")
    assert w.process_task(t)
    pid = w.worker_info()[0].pid
    w.collect_tasks()
    assert t.state is TaskState.DONE
    assert t.result == ("set", pid)


def test_collect_returns_the_given_objects_in_submission_order(
    monitor_facade: FacadeFactory,
) -> None:
    w = monitor_facade(workers=2)
    wait_for(w, all_workers_ready(w))  # else the slow task may hold back the quick ones
    given: list[Task] = [SimpleTask("slow", 0.5)]
    given += [SquareTask(f"sq{i}", i) for i in range(6)]
    for t in given:
        assert w.process_task(t)
    tasks = w.collect_tasks()
    assert [id(t) for t in tasks] == [id(t) for t in given]
    assert all(t.state is TaskState.DONE for t in tasks)
    assert [t.result for t in tasks[1:]] == [i * i for i in range(6)]
    # The quick ones finished before the slow one: order is submission, not completion.
    assert tasks[1].finished_at is not None and tasks[0].finished_at is not None
    assert min(t.finished_at for t in tasks[1:]) < tasks[0].finished_at


@pytest.mark.timeout(60)
def test_collect_tasks_three_times(monitor_facade: FacadeFactory) -> None:
    w = monitor_facade()
    given = [SimpleTask("a", 0.3), SquareTask("b", 4)]
    for t in given:
        assert w.process_task(t)
    first = w.collect_tasks()
    assert [t.state for t in first] == [TaskState.DONE, TaskState.DONE]
    second, took2 = timed(w.collect_tasks)
    third, took3 = timed(w.collect_tasks)
    assert took2 < 1.0 and took3 < 1.0
    assert [id(t) for t in second] == [id(t) for t in given]
    assert [id(t) for t in third] == [id(t) for t in given]
    assert [t.result for t in third] == ["a solved after 0.3", 16]
    assert not any(info.alive for info in w.worker_info())


def test_collect_with_nothing_submitted(monitor_facade: FacadeFactory) -> None:
    w = monitor_facade(workers=2)
    assert w.collect_tasks() == []
    assert not any(info.alive for info in w.worker_info())


def test_with_block_collects_at_the_end() -> None:
    with WorkingProcessFacade() as w:
        a = SimpleTask("a", 0.2)
        b = SquareTask("b", 5)
        assert w.process_task(a) and w.process_task(b)
    assert a.state is TaskState.DONE and a.result == "a solved after 0.2"
    assert b.state is TaskState.DONE and b.result == 25
    again, took = timed(w.collect_tasks)
    assert took < 1.0
    assert again == [a, b]
    assert not any(info.alive for info in w.worker_info())


@pytest.mark.timeout(60)
def test_with_block_closes_on_exception() -> None:
    long = SimpleTask("long", 60.0)
    queued = SquareTask("queued", 2)
    start = time.monotonic()
    with pytest.raises(RuntimeError, match="boom"), WorkingProcessFacade() as w:
        assert w.process_task(long) and w.process_task(queued)
        wait_for(w, in_state(long, TaskState.RUNNING))
        raise RuntimeError("boom")
    assert time.monotonic() - start < 15.0
    # close() is collect_tasks(timeout=0): the running task is cut short, the queued dropped.
    assert long.state is TaskState.TIMED_OUT
    assert queued.state is TaskState.CANCELLED
    assert not any(info.alive for info in w.worker_info())


@pytest.mark.timeout(60)
def test_close_is_idempotent_and_rejects_later_tasks(monitor_facade: FacadeFactory) -> None:
    w = monitor_facade()
    long = SimpleTask("long", 60.0)
    assert w.process_task(long)
    wait_for(w, in_state(long, TaskState.RUNNING))
    _, took = timed(w.close)
    assert took < 10.0
    assert long.state is TaskState.TIMED_OUT
    _, took = timed(w.close)
    assert took < 1.0
    late = SquareTask("late", 1)
    assert w.process_task(late) is False
    assert late.state is TaskState.REJECTED
    assert late.error and any(word in late.error.lower() for word in ("close", "collect"))
    assert w.collect_tasks() == [long]


def test_submit_after_collect_is_rejected(monitor_facade: FacadeFactory) -> None:
    w = monitor_facade()
    assert w.process_task(SquareTask("a", 1))
    w.collect_tasks()
    late = SquareTask("late", 2)
    ok, took = timed(lambda: w.process_task(late))
    assert ok is False and took < 0.5
    assert late.state is TaskState.REJECTED
    assert late.error and any(word in late.error.lower() for word in ("close", "collect"))
    assert [t.ID for t in w.collect_tasks()] == ["a"]


# -- rejected inputs -------------------------------------------------------------------


REJECTED_CASES = [
    pytest.param(lambda: NeverValidTask("never"), ("valid",), id="is_valid-false"),
    pytest.param(lambda: SimpleTask("neg", -1.0), ("negative",), id="negative-time"),
    pytest.param(lambda: SimpleTask("nan", math.nan), ("nan",), id="nan-time"),
    pytest.param(lambda: SimpleTask("inf", math.inf), ("inf",), id="inf-time"),
    pytest.param(lambda: SimpleTask("str", "1.0"), ("number", "seconds"), id="str-time"),
    pytest.param(lambda: SimpleTask(123, 0.1), ("id",), id="int-id"),
    pytest.param(lambda: SimpleTask(None, 0.1), ("id",), id="none-id"),
    pytest.param(lambda: SimpleTask("", 0.1), ("id",), id="empty-id"),
    pytest.param(lambda: CrashTask("c", how="gently"), ("gently",), id="unknown-crash-way"),
]


@pytest.mark.parametrize(("make_task", "words"), REJECTED_CASES)
def test_invalid_task_is_rejected_with_a_precise_error(
    monitor_facade: FacadeFactory, make_task: object, words: tuple[str, ...]
) -> None:
    w = monitor_facade()
    assert callable(make_task)
    bad = make_task()
    ok, took = timed(lambda: w.process_task(bad))
    assert ok is False
    assert took < 0.5
    assert bad.state is TaskState.REJECTED
    assert bad.error, "a REJECTED task must say why"
    assert "\n" not in bad.error
    assert all(word in bad.error.lower() for word in words), bad.error
    assert bad.attempts == 0
    good = SquareTask("good", 3)
    assert w.process_task(good)
    assert w.collect_tasks() == [good]
    assert good.state is TaskState.DONE


def test_duplicate_id_is_rejected_and_the_first_is_untouched(
    monitor_facade: FacadeFactory,
) -> None:
    w = monitor_facade()
    first = SquareTask("same", 2)
    second = SquareTask("same", 3)
    assert w.process_task(first)
    assert w.process_task(second) is False
    assert second.state is TaskState.REJECTED
    assert second.error and "same" in second.error
    assert any(word in second.error.lower() for word in ("duplicate", "already")), second.error
    assert first.state is TaskState.PENDING
    # The very same object submitted twice is refused too (False or ValueError: either way
    # the recorded task must not be spoiled by a REJECTED state).
    try:
        again = w.process_task(first)
    except ValueError:
        again = False
    assert again is False
    assert first.state is TaskState.PENDING and first.error is None
    tasks = w.collect_tasks()
    assert tasks == [first]
    assert first.state is TaskState.DONE and first.result == 4


# -- events ------------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_worker_started_events_and_worker_info(monitor_facade: FacadeFactory) -> None:
    w = monitor_facade(workers=2)
    events = wait_for(w, all_workers_ready(w))
    infos = w.worker_info()
    assert [i.index for i in infos] == [0, 1]
    pids = [i.pid for i in infos]
    assert len(set(pids)) == 2 and all(isinstance(p, int) for p in pids)
    for info in infos:
        assert info.alive and info.ready
        assert info.exitcode is None
        assert info.task_id is None
        assert info.tasks_done == 0
        assert info.restarts == 0
        assert info.queued == 0
    started = [e for e in events if isinstance(e, WorkerStarted)]
    assert sorted((e.index, e.pid) for e in started) == [(0, pids[0]), (1, pids[1])]
    assert not any(isinstance(e, WorkerDied) for e in events)

    tasks = [SquareTask(f"t{i}", i) for i in range(10)]
    for t in tasks:
        assert w.process_task(t)
    wait_for(w, all_final(tasks))
    assert sum(i.tasks_done for i in w.worker_info()) == 10
    assert {t.worker_pid for t in tasks} <= set(pids)


@pytest.mark.timeout(60)
def test_task_changed_sequence_pending_running_done(monitor_facade: FacadeFactory) -> None:
    w = monitor_facade()
    t = SimpleTask("ev", 0.3)
    assert w.process_task(t)
    events = wait_for(w, all_final([t]))
    assert states_of(events, "ev") == [TaskState.PENDING, TaskState.RUNNING, TaskState.DONE]
    changes = [e for e in events if isinstance(e, TaskChanged)]
    assert all(isinstance(e.time, float) for e in changes)
    # Events come in order; their times may be stamped in the worker (DONE: when the task
    # finished) or in the parent (progress: when it arrived), so allow a little skew.
    times = [e.time for e in changes]
    assert all(later >= earlier - 0.05 for earlier, later in itertools.pairwise(times))
    with pytest.raises(AttributeError):
        changes[0].state = TaskState.DONE  # type: ignore[misc]
    # Everything was returned once: a later poll has nothing more about this task.
    assert not [e for e in w.poll_events(0.0) if isinstance(e, TaskChanged)]


@pytest.mark.timeout(60)
def test_simple_task_reports_progress_live(monitor_facade: FacadeFactory) -> None:
    w = monitor_facade()
    t = SimpleTask("slowish", 0.6)
    assert w.process_task(t)
    events: list[Any] = []
    # The task's own record shows partial progress while it still runs.
    wait_for(
        w,
        lambda: t.state.is_final or (t.progress is not None and t.progress < 1.0),
        what="partial progress",
        into=events,
    )
    assert t.state is TaskState.RUNNING, "progress must be visible while the task runs"
    assert t.progress is not None and 0.0 < t.progress < 1.0
    wait_for(w, all_final([t]), into=events)
    assert t.state is TaskState.DONE
    reports = [
        e
        for e in events
        if isinstance(e, TaskChanged) and e.task_id == "slowish" and e.progress is not None
    ]
    progress = [e.progress for e in reports]
    assert len(set(progress)) >= 2, progress
    assert progress == sorted(progress)
    assert all(0.0 <= p <= 1.0 for p in progress)
    assert all(e.state is TaskState.RUNNING for e in reports if e.progress < 1.0)


def test_progress_message_reaches_the_parent(monitor_facade: FacadeFactory) -> None:
    w = monitor_facade()
    t = ProgressMessageTask("msg")
    assert w.process_task(t)
    events = wait_for(w, all_final([t]))
    messages = [
        (e.progress, e.message)
        for e in events
        if isinstance(e, TaskChanged) and e.task_id == "msg" and e.message
    ]
    assert (0.5, "halfway there") in messages
    assert t.state is TaskState.DONE and t.result == "reported"


def test_worker_logging_becomes_worker_log_events(monitor_facade: FacadeFactory) -> None:
    w = monitor_facade()
    t = LogTask("logger")
    assert w.process_task(t)
    events: list[Any] = []
    wait_for(w, all_final([t]), into=events)
    # The log record may arrive just after the result: wait for it too.
    wait_for(
        w,
        lambda: any(
            isinstance(e, WorkerLog) and "hello from the worker logger" in e.message for e in events
        ),
        what="WorkerLog event",
        into=events,
    )
    logs = [e for e in events if isinstance(e, WorkerLog) and "hello from the worker" in e.message]
    assert len(logs) == 1
    assert logs[0].pid == t.worker_pid
    assert logs[0].level == 30  # logging.WARNING
    assert "\n" not in logs[0].message


# -- cancel and resubmit -------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_cancel_pending_task_never_runs_and_running_cannot_be_cancelled(
    monitor_facade: FacadeFactory, tmp_path: Path
) -> None:
    w = monitor_facade()
    running = SimpleTask("running", 0.8)
    marker = tmp_path / "pending-ran"
    pending = TouchTask("pending", str(marker))
    assert w.process_task(running) and w.process_task(pending)
    wait_for(w, in_state(running, TaskState.RUNNING))
    assert w.cancel("running") is False
    assert w.cancel("pending") is True
    wait_for(w, in_state(pending, TaskState.CANCELLED))
    assert w.cancel("pending") is False
    tasks = w.collect_tasks()
    assert tasks == [running, pending]
    assert running.state is TaskState.DONE
    assert pending.state is TaskState.CANCELLED
    assert pending.result is None and pending.started_at is None
    assert not marker.exists(), "a cancelled task ran"
    assert w.cancel("running") is False


@pytest.mark.timeout(60)
def test_resubmit_a_failed_task(monitor_facade: FacadeFactory, tmp_path: Path) -> None:
    w = monitor_facade()
    t = FailOnceTask("flaky", str(tmp_path / "attempted"))
    done = SquareTask("done", 3)
    assert w.process_task(t) and w.process_task(done)
    wait_for(w, all_final([t, done]))
    assert t.state is TaskState.FAILED
    assert t.error == "RuntimeError: first attempt fails on purpose"
    assert t.attempts == 1
    assert w.resubmit("done") is False, "a DONE task is not resubmitted"
    assert w.resubmit("flaky") is True
    assert t.attempts == 2
    assert t.state is TaskState.PENDING
    tasks = w.collect_tasks()
    assert tasks == [t, done]
    assert t.state is TaskState.DONE
    assert t.result == "second time lucky"
    assert t.error is None and t.traceback is None
    assert t.attempts == 2
    assert done.attempts == 1


# -- no Qt in the core ---------------------------------------------------------------------


def test_import_app_core_loads_no_pyside6() -> None:
    code = (
        "import sys, app.core\n"
        "print(sorted(m for m in sys.modules if m == 'PySide6' or m.startswith('PySide6.')"
        " or m == 'shiboken6'))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_worker_process_never_imports_pyside6(monitor_facade: FacadeFactory) -> None:
    w = monitor_facade()
    probes = [ModuleLoadedTask("pyside", "PySide6"), ModuleLoadedTask("shiboken", "shiboken6")]
    control = ModuleLoadedTask("control", "app.core")
    for t in [*probes, control]:
        assert w.process_task(t)
    w.collect_tasks()
    assert [t.state for t in probes] == [TaskState.DONE, TaskState.DONE]
    assert [t.result for t in probes] == [False, False]
    assert control.result is True  # the probe itself works


def test_pid_task_runs_in_another_process(monitor_facade: FacadeFactory) -> None:
    import os

    w = monitor_facade()
    t = PidTask("pid")
    assert w.process_task(t)
    w.collect_tasks()
    assert t.result == t.worker_pid
    assert t.result != os.getpid()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("workers", [1, 2])
def test_a_forced_cancel_ends_a_running_task_and_requeues_what_its_worker_held(
    workers: int,
) -> None:
    """cancel(force=True): the running task CANCELLED, its worker killed and replaced
    (restart=False notwithstanding), every other task run to DONE; nothing lost."""
    hung = SimpleTask("hung", 600.0)
    rest = [SimpleTask(f"after-{n}", 0.05) for n in range(6)]
    with WorkingProcessFacade(workers) as w:
        assert w.process_task(hung)
        wait_for(w, in_state(hung, TaskState.RUNNING), 30)
        for task in rest:
            assert w.process_task(task)
        victim = hung.worker_pid
        assert not w.cancel("hung")  # without force, a running task runs on
        assert w.cancel("hung", force=True)
        wait_for(w, all_final([hung, *rest]), 30)
        assert hung.state is TaskState.CANCELLED and "force=True" in (hung.error or "")
        assert [t.state for t in rest] == [TaskState.DONE] * len(rest)
        assert victim is not None and pid_gone(victim)
        assert all(info.alive for info in w.worker_info())  # replaced, though restart=False
        assert not w.cancel("hung", force=True)  # already ended: nothing to do
        assert not w.cancel("after-0", force=True)  # DONE


@pytest.mark.timeout(60)
def test_what_waits_behind_a_forced_cancel_runs_even_if_asked_for_at_once() -> None:
    """Between the kill and the death being seen, the worker being replaced still counts:
    a collect or a submit right after the cancel must not find the facade without one."""
    with WorkingProcessFacade(1) as w:
        tasks = [SimpleTask(f"t{n}", 0.2) for n in range(3)]
        for task in tasks:
            assert w.process_task(task)
        wait_for(w, in_state(tasks[0], TaskState.RUNNING), 30)
        assert w.cancel("t0", force=True)
        late = SimpleTask("late", 0.0)
        assert w.process_task(late)
        collected = w.collect_tasks(timeout=30)
    assert [t.state for t in collected] == [TaskState.CANCELLED] + [TaskState.DONE] * 3


def test_force_takes_a_bool() -> None:
    with WorkingProcessFacade(1) as w:
        task = SimpleTask("a", 0.0)
        w.process_task(task)
        with pytest.raises(TypeError, match="force"):
            w.cancel("a", force="yes")  # type: ignore[arg-type]
