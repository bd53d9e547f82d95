"""``stack()``: the stacks of a running task's worker, taken now, from its stack thread;
and the stack kept in a TIMED_OUT task's traceback. Every task's fate is checked."""

from __future__ import annotations

import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.core import SimpleTask, Task, TaskState, WorkerDied, WorkingProcessFacade, read_run
from app.core.stack_text import MAX_FRAMES
from app.core.stacks import AT_TIMEOUT, KILL_GRACE
from app.core.task import CallTask
from app.testing import FacadeFactory
from tests.core import stack_tasks
from tests.core.helpers import DEADLINE, in_state, wait_for

FOREVER = 600.0  # a task that would run this long is ended by the test


def _call(task_id: str, fn: Callable[..., Any], *args: Any, timeout: float | None = None) -> Task:
    task = CallTask(task_id, fn, args, {})
    task.timeout = timeout
    return task


def _running(w: WorkingProcessFacade, task: Task) -> None:
    assert w.process_task(task), task.error
    wait_for(w, in_state(task, TaskState.RUNNING), what=f"{task.ID} running")


def _stack_in(w: WorkingProcessFacade, task_id: str, function: str, line: str = "") -> str:
    """The stacks, once the task's thread is inside ``function`` (at ``line``, if given):
    the worker may still be unpickling the task when it is first shown RUNNING."""
    end = time.monotonic() + DEADLINE
    while True:
        text = w.stack(task_id)
        first = text.split("\nThread ", 1)[0]
        if f", in {function}\n    {line}" in first or time.monotonic() > end:
            return text
        w.poll_events(0.05)


def _end(w: WorkingProcessFacade, task: Task) -> None:
    """Ends a task the test left running: CANCELLED, its worker replaced."""
    assert w.cancel(task.ID, force=True)
    wait_for(w, in_state(task, TaskState.CANCELLED), what=f"{task.ID} cancelled")


@pytest.mark.timeout(60)
def test_a_task_sleeping_in_c_shows_its_function_and_the_sleep_line(
    monitor_facade: FacadeFactory,
) -> None:
    w = monitor_facade()
    task = _call("nap", stack_tasks.nap, FOREVER)
    _running(w, task)
    text = _stack_in(w, "nap", "nap")
    assert text.startswith("Thread 'MainThread' (id "), text
    first = text.split("\nThread ", 1)[0]
    assert ", running the task:" in first.splitlines()[0]
    assert "in nap\n    time.sleep(seconds)  # the line the stack names" in first
    # From the task's own first call: the worker's loop is left out; its stack thread too.
    assert "worker_main" not in text and "_run_one" not in text
    assert "_answer_stacks" not in text
    assert "stack_tasks.py" in first
    _end(w, task)


@pytest.mark.timeout(60)
def test_a_busy_python_loop(monitor_facade: FacadeFactory) -> None:
    w = monitor_facade()
    task = _call("spin", stack_tasks.spin, FOREVER)
    _running(w, task)
    first = _stack_in(w, "spin", "spin").split("\nThread ", 1)[0]
    assert ", in spin\n" in first, first
    _end(w, task)


@pytest.mark.timeout(60)
def test_a_task_waiting_on_a_lock(monitor_facade: FacadeFactory) -> None:
    w = monitor_facade()
    task = _call("lock", stack_tasks.wait_on_lock, FOREVER)
    _running(w, task)
    first = _stack_in(w, "lock", "wait_on_lock").split("\nThread ", 1)[0]
    assert "in wait_on_lock\n    return lock.acquire(timeout=seconds)" in first, first
    _end(w, task)


@pytest.mark.timeout(60)
def test_a_second_thread_of_the_task_appears_by_name(monitor_facade: FacadeFactory) -> None:
    w = monitor_facade()
    task = _call("two", stack_tasks.with_helper, FOREVER)
    _running(w, task)
    end = time.monotonic() + DEADLINE
    text = ""
    while "in helper_loop" not in text and time.monotonic() < end:
        text = _stack_in(w, "two", "with_helper", "time.sleep(seconds)")
    first, _, rest = text.partition("\nThread ")
    assert "in with_helper\n    time.sleep(seconds)" in first, text
    assert "Thread 'stack-helper'" in "Thread " + rest, text
    assert "in helper_loop\n    stop.wait(60)" in rest, text
    _end(w, task)


@pytest.mark.timeout(60)
def test_a_deep_recursion_shows_its_most_recent_calls(monitor_facade: FacadeFactory) -> None:
    w = monitor_facade()
    task = _call("deep", stack_tasks.deep, 900, FOREVER)
    _running(w, task)
    first = _stack_in(w, "deep", "deep", "time.sleep(seconds)").split("\nThread ", 1)[0]
    head, calls = first.split(":\n", 1)
    assert "earlier calls left out" in head, head
    # traceback's own shorthand for a repeated call: 3 shown, the rest counted, the bottom.
    assert calls.count("  File ") == 4
    assert f"[Previous line repeated {MAX_FRAMES - 4} more times]" in calls
    assert calls.rstrip().endswith("time.sleep(seconds)  # the bottom of the recursion")
    _end(w, task)


@pytest.mark.timeout(60)
def test_the_task_does_not_see_the_stack_thread(monitor_facade: FacadeFactory) -> None:
    w = monitor_facade()
    task = _call("seen", stack_tasks.threads_seen)
    assert w.process_task(task)
    wait_for(w, in_state(task, TaskState.DONE, TaskState.FAILED))
    assert task.state is TaskState.DONE, task.error
    assert task.result == ["MainThread"]  # the watchdog is a process, the stack thread hidden


@pytest.mark.timeout(60)
def test_not_running_tasks_raise_value_error_saying_why(monitor_facade: FacadeFactory) -> None:
    w = monitor_facade()
    done = SimpleTask("done", 0.0)
    assert w.process_task(done)
    wait_for(w, in_state(done, TaskState.DONE))
    busy = _call("busy", stack_tasks.nap, FOREVER)
    _running(w, busy)
    queued = SimpleTask("queued", 0.0)
    assert w.process_task(queued)
    with pytest.raises(ValueError, match=r"no task with ID 'nobody'"):
        w.stack("nobody")
    with pytest.raises(ValueError, match=r"no task with ID 42"):
        w.stack(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"'queued' is PENDING"):
        w.stack("queued")
    with pytest.raises(ValueError, match=r"'done' has finished \(DONE\)"):
        w.stack("done")
    _end(w, busy)
    with pytest.raises(ValueError, match=r"'busy' has finished \(CANCELLED\)"):
        w.stack("busy")
    wait_for(w, in_state(queued, TaskState.DONE))  # it ran on the replacement
    tasks = w.collect_tasks()
    assert [t.state for t in tasks] == [TaskState.DONE, TaskState.CANCELLED, TaskState.DONE]
    with pytest.raises(ValueError, match=r"finished"):
        w.stack("queued")


@pytest.mark.timeout(30)
@pytest.mark.parametrize("bad", [0, -1, -0.5, math.nan, math.inf, 10**400, True, "1", None])
def test_a_timeout_that_is_no_positive_finite_number_is_refused(
    facade: WorkingProcessFacade, bad: Any
) -> None:
    task = _call("nap", stack_tasks.nap, FOREVER)
    _running(facade, task)
    with pytest.raises(ValueError, match="timeout must be a positive, finite number"):
        facade.stack("nap", bad)
    _end(facade, task)


def _in_the_gil_holder(w: WorkingProcessFacade, task_id: str) -> TimeoutError:
    """The TimeoutError of a stack asked of a task inside its long C call (before it, the
    worker still answers: the stack shows the task starting)."""
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        try:
            w.stack(task_id, timeout=0.3)
        except TimeoutError as exc:
            return exc
    raise AssertionError("the worker kept answering: the task never held the GIL")


@pytest.mark.timeout(60)
def test_a_task_holding_the_gil_in_c_times_out_and_the_facade_goes_on(
    monitor_facade: FacadeFactory,
) -> None:
    """``re`` keeps the GIL for a whole match: no thread of the worker runs meanwhile."""
    w = monitor_facade()
    task = _call("gil", stack_tasks.hold_the_gil, 40)
    _running(w, task)
    started = time.monotonic()
    exc = _in_the_gil_holder(w, "gil")
    assert time.monotonic() - started < DEADLINE
    assert "did not answer within 0.3 s" in str(exc)
    assert "holds the GIL" in str(exc)
    _end(w, task)
    after = _call("after", stack_tasks.nap, FOREVER)
    _running(w, after)
    assert "in nap" in _stack_in(w, "after", "nap")  # the late answers were dropped
    _end(w, after)


@pytest.mark.timeout(60)
def test_a_timed_out_task_keeps_its_workers_stack(monitor_facade: FacadeFactory) -> None:
    w = monitor_facade()
    task = _call("hung", stack_tasks.nap, FOREVER, timeout=1.0)
    other = SimpleTask("other", 0.0)
    assert w.process_task(task) and w.process_task(other)
    wait_for(w, in_state(task, TaskState.TIMED_OUT), deadline=30)
    wait_for(w, in_state(other, TaskState.DONE))
    assert task.traceback is not None
    assert task.traceback.startswith(AT_TIMEOUT + "\nThread 'MainThread'"), task.traceback
    assert "in nap\n    time.sleep(seconds)" in task.traceback
    assert task.started_at is not None and task.finished_at is not None
    assert task.finished_at - task.started_at < 1.0 + KILL_GRACE + 2.0
    assert [t.state for t in w.collect_tasks()] == [TaskState.TIMED_OUT, TaskState.DONE]


@pytest.mark.timeout(60)
def test_many_threads_asking_at_once_each_get_the_stack(monitor_facade: FacadeFactory) -> None:
    w = monitor_facade()
    task = _call("nap", stack_tasks.nap, FOREVER)
    _running(w, task)
    _stack_in(w, "nap", "nap", "time.sleep(seconds)")
    answers: list[str | BaseException] = []

    def ask() -> None:
        for _ in range(5):
            try:
                answers.append(w.stack("nap", timeout=DEADLINE))
            except BaseException as exc:
                answers.append(exc)

    askers = [threading.Thread(target=ask) for _ in range(8)]
    for asker in askers:
        asker.start()
    for asker in askers:
        asker.join(DEADLINE * 2)
    assert not any(asker.is_alive() for asker in askers)
    assert len(answers) == 40
    assert all(isinstance(a, str) and "in nap\n    time.sleep(seconds)" in a for a in answers)
    _end(w, task)


@pytest.mark.timeout(60)
def test_ctrl_c_while_waiting_for_a_stack_leaves_the_facade_usable(
    monitor_facade: FacadeFactory,
) -> None:
    w = monitor_facade(workers=2)
    gil = _call("gil", stack_tasks.hold_the_gil, 40)
    nap = _call("nap", stack_tasks.nap, FOREVER)
    _running(w, gil)
    _running(w, nap)
    _in_the_gil_holder(w, "gil")

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    started = time.monotonic()
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        with pytest.raises(KeyboardInterrupt):
            w.stack("gil", timeout=FOREVER)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert time.monotonic() - started < DEADLINE
    assert "in nap" in _stack_in(w, "nap", "nap")  # the lock was let go, the facade goes on
    _end(w, gil)
    _end(w, nap)


@pytest.mark.timeout(60)
def test_a_task_that_ends_while_its_stack_is_awaited_keeps_its_outcome(
    monitor_facade: FacadeFactory,
) -> None:
    """Its timeout ran out, but its worker did not answer (the task held a lock the stack
    thread needs) and its result came within the grace: DONE, and its worker lives on."""
    w = monitor_facade()
    task = _call("late", stack_tasks.hide_threads, 1.1, timeout=1.0)
    after = SimpleTask("after", 0.0)
    assert w.process_task(task) and w.process_task(after)
    events = wait_for(w, in_state(after, TaskState.DONE, TaskState.FAILED), deadline=30)
    assert task.state is TaskState.DONE and task.result == "done", task.error
    assert after.state is TaskState.DONE
    assert not [e for e in events if isinstance(e, WorkerDied)]
    assert w.worker_info()[0].pid == task.worker_pid == after.worker_pid


@pytest.mark.timeout(60)
def test_the_recording_keeps_the_stack_of_a_timed_out_task(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    task = _call("hung", stack_tasks.nap, FOREVER, timeout=1.0)
    with WorkingProcessFacade(record=path) as w:
        assert w.process_task(task)
    assert task.state is TaskState.TIMED_OUT
    record = read_run(path).tasks()["hung"]
    assert record.state is TaskState.TIMED_OUT
    assert record.traceback == task.traceback
    assert record.traceback is not None and record.traceback.startswith(AT_TIMEOUT)
    assert "in nap\n    time.sleep(seconds)" in record.traceback


@pytest.mark.timeout(60)
def test_a_timed_out_task_holding_the_gil_is_killed_after_the_grace(
    monitor_facade: FacadeFactory,
) -> None:
    w = monitor_facade(task_timeout=1.0)
    task = _call("gil", stack_tasks.hold_the_gil, 40)
    assert w.process_task(task)
    wait_for(w, in_state(task, TaskState.TIMED_OUT), deadline=30)
    assert task.traceback is not None
    assert task.traceback.startswith(f"{AT_TIMEOUT} none (it did not answer within {KILL_GRACE}")
    assert task.started_at is not None and task.finished_at is not None
    assert task.finished_at - task.started_at < 1.0 + KILL_GRACE + 2.0
    assert [t.state for t in w.collect_tasks()] == [TaskState.TIMED_OUT]


def _waiting_in_stack(thread: threading.Thread) -> Callable[[], bool]:
    """A predicate: ``thread`` is inside the facade's wait for an answer."""

    def predicate() -> bool:
        frame = sys._current_frames().get(thread.ident or 0)
        while frame is not None:
            if frame.f_code.co_name == "_wait":
                return True
            frame = frame.f_back
        return False

    return predicate


def _asked_forever(w: WorkingProcessFacade, task_id: str) -> tuple[threading.Thread, list[Any]]:
    """A thread waiting in ``stack(task_id)`` with no timeout to speak of."""
    outcome: list[BaseException | str] = []

    def ask() -> None:
        try:
            outcome.append(w.stack(task_id, timeout=FOREVER))
        except BaseException as exc:
            outcome.append(exc)

    asker = threading.Thread(target=ask)
    asker.start()
    wait_for(w, _waiting_in_stack(asker), what="the stack() call waiting")
    return asker, outcome


@pytest.mark.timeout(60)
@pytest.mark.parametrize("how", ["SIGKILL", "close"])
def test_a_worker_ending_during_a_request_ends_the_wait_at_once(
    monitor_facade: FacadeFactory, how: str
) -> None:
    w = monitor_facade()
    task = _call("gil", stack_tasks.hold_the_gil, 40)
    _running(w, task)
    _in_the_gil_holder(w, "gil")  # inside the C call: the next request stays unanswered
    asker, outcome = _asked_forever(w, "gil")
    try:
        assert task.worker_pid is not None
        if how == "SIGKILL":
            os.kill(task.worker_pid, signal.SIGKILL)
        else:
            w.close()
        asker.join(DEADLINE)
        assert not asker.is_alive(), "stack() still waits for a dead worker"
    finally:
        if asker.is_alive():
            w.close()
            asker.join(DEADLINE)
    fate = "CRASHED" if how == "SIGKILL" else "TIMED_OUT"
    assert len(outcome) == 1 and isinstance(outcome[0], ValueError), outcome
    assert f"'gil' ended ({fate}): its worker died before it answered" in str(outcome[0])
    assert task.state is TaskState[fate]


@pytest.mark.timeout(60)
def test_a_child_the_task_forked_never_answers_for_the_worker(
    monitor_facade: FacadeFactory,
) -> None:
    """The child is a copy of the worker without its stack thread: every answer is the
    worker's (its sleep line, not the child's), and the result stream stays whole."""
    w = monitor_facade()
    task = _call("forks", stack_tasks.fork_and_nap, 3.0)
    _running(w, task)
    sleep = "time.sleep(seconds)"
    texts = [_stack_in(w, "forks", "fork_and_nap", sleep) for _ in range(3)]
    for text in texts:
        first = text.split("\nThread ", 1)[0]
        assert "    time.sleep(seconds)\n" in first
        assert "os._exit(0)" not in text
        lines = [line for line in first.splitlines() if "stack_tasks.py" in line]
        assert lines and lines[-1].endswith(f"line {_parent_sleep_line()}, in fork_and_nap")
    wait_for(w, in_state(task, TaskState.DONE, TaskState.FAILED, TaskState.CRASHED))
    assert task.state is TaskState.DONE and task.result == 0, task.error


def _parent_sleep_line() -> int:
    """The line of ``fork_and_nap`` where the worker (not the child) sleeps."""
    import inspect

    lines, first = inspect.getsourcelines(stack_tasks.fork_and_nap)
    sleeps = [first + i for i, line in enumerate(lines) if "time.sleep(seconds)" in line]
    return sleeps[-1]
