"""The facade as a ``concurrent.futures.Executor``: the standard usage patterns, and
what a dead worker, a refused call or a shutdown does to the futures."""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import gc
import itertools
import logging
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import psutil
import pytest

from app.core import TaskState, WorkingProcessFacade, console, read_run
from app.core.futures import (
    RemoteTraceback,
    TaskCrashedError,
    TaskLostError,
)
from app.core.task import CallTask
from app.testing import FacadeFactory
from tests.core.calls_for_tests import (
    Box,
    OddError,
    RefusesPickling,
    add,
    box,
    die,
    divide,
    pid,
    raise_odd,
    sleep_for,
    square,
    unbox,
    wait_for_file,
)
from tests.core.helpers import finish

DEADLINE = 30.0
ROOT = Path(__file__).resolve().parent.parent.parent


def until(predicate: Callable[[], bool], what: str) -> None:
    """Waits for ``predicate`` with a deadline (futures have no event to wait for RUNNING)."""
    end = time.monotonic() + DEADLINE
    while not predicate():
        assert time.monotonic() < end, f"{what}: not within {DEADLINE} s"
        time.sleep(0.01)


def test_it_is_an_executor_and_a_call_is_a_task(monitor_facade: FacadeFactory) -> None:
    facade = monitor_facade(1)
    assert isinstance(facade, cf.Executor)
    future = facade.submit(add, 1, 2, c=4)
    assert future.result(DEADLINE) == 7
    (task,) = facade.tasks
    assert isinstance(task, CallTask)
    assert task.ID == "add-1" and task.state is TaskState.DONE and task.result == 7


def test_ids_skip_ones_already_taken(monitor_facade: FacadeFactory) -> None:
    facade = monitor_facade(1)
    first = facade.submit(square, 2)
    assert first.result(DEADLINE) == 4
    from tests.core.tasks_for_tests import SquareTask

    assert facade.process_task(SquareTask("square-2", 3))
    second = facade.submit(square, 5)
    assert second.result(DEADLINE) == 25
    assert [t.ID for t in facade.collect_tasks()] == ["square-1", "square-2", "square-3"]


def test_as_completed_yields_every_future(monitor_facade: FacadeFactory) -> None:
    facade = monitor_facade(2)
    futures = {facade.submit(square, n): n for n in range(40)}
    seen = {futures[f]: f.result() for f in cf.as_completed(futures, timeout=DEADLINE)}
    assert seen == {n: n * n for n in range(40)}


def test_wait_first_completed_then_all(monitor_facade: FacadeFactory, tmp_path: Path) -> None:
    facade = monitor_facade(2)
    gate = tmp_path / "gate"
    slow = facade.submit(wait_for_file, str(gate))
    quick = facade.submit(square, 3)
    done, not_done = cf.wait([slow, quick], DEADLINE, return_when=cf.FIRST_COMPLETED)
    assert done == {quick} and not_done == {slow}
    gate.touch()
    done, not_done = cf.wait([slow, quick], DEADLINE, return_when=cf.ALL_COMPLETED)
    assert not not_done and slow.result() == "released"


def test_wait_first_exception(monitor_facade: FacadeFactory, tmp_path: Path) -> None:
    facade = monitor_facade(2)
    gate = tmp_path / "gate"
    slow = facade.submit(wait_for_file, str(gate))
    bad = facade.submit(divide, 1, 0)
    done, _ = cf.wait([slow, bad], DEADLINE, return_when=cf.FIRST_EXCEPTION)
    assert done == {bad}
    gate.touch()


def test_map_keeps_order(monitor_facade: FacadeFactory) -> None:
    facade = monitor_facade(2)
    assert list(facade.map(add, range(30), range(30), timeout=DEADLINE)) == [
        2 * n for n in range(30)
    ]


def test_map_timeout_raises_and_cancels_the_rest(
    monitor_facade: FacadeFactory, tmp_path: Path
) -> None:
    facade = monitor_facade(1)
    gate = tmp_path / "gate"
    results = facade.map(wait_for_file, [str(gate)] * 4, timeout=0.5)
    with pytest.raises(cf.TimeoutError):
        next(results)
    gate.touch()
    tasks = facade.collect_tasks(DEADLINE)
    # The first call was running and finishes; map cancelled the ones still queued.
    assert tasks[0].state is TaskState.DONE
    assert [t.state for t in tasks[1:]] == [TaskState.CANCELLED] * 3


def test_map_with_a_buffer_reads_an_endless_generator_as_results_are_taken(
    monitor_facade: FacadeFactory,
) -> None:
    facade = monitor_facade(2)
    results = facade.map(square, itertools.count(), buffersize=4)
    assert list(itertools.islice(results, 25)) == [n * n for n in range(25)]
    assert 25 <= len(facade.tasks) <= 25 + 4  # never more than 4 calls ahead
    results.close()  # leaving early cancels what has not started
    tasks = facade.collect_tasks(DEADLINE)
    assert all(t.state in (TaskState.DONE, TaskState.CANCELLED) for t in tasks)


def test_map_refuses_what_the_standard_executor_refuses(monitor_facade: FacadeFactory) -> None:
    facade = monitor_facade(1)
    for bad, error in ((0, ValueError), (-1, ValueError), (True, TypeError), (1.5, TypeError)):
        with pytest.raises(error, match="chunksize"):
            facade.map(square, range(3), chunksize=bad)
    for bad, error in ((0, ValueError), (-2, ValueError), (2.0, TypeError)):
        with pytest.raises(error, match="buffersize"):
            facade.map(square, range(3), buffersize=bad)
    with pytest.raises(ValueError, match="timeout"):
        facade.map(square, range(3), timeout=float("nan"))
    assert facade.tasks == []  # nothing was submitted by a refused map
    assert list(facade.map(square, range(3), chunksize=5, timeout=float("inf"))) == [0, 1, 4]


def test_with_block_waits_for_every_future() -> None:
    with WorkingProcessFacade(2) as executor:
        futures = [executor.submit(sleep_for, 0.05) for _ in range(6)]
    assert all(f.done() for f in futures)
    assert [f.result() for f in futures] == [0.05] * 6


def test_the_calls_own_exception_comes_back_with_the_worker_traceback(
    monitor_facade: FacadeFactory,
) -> None:
    facade = monitor_facade(1)
    zero = facade.submit(divide, 1, 0)
    odd = facade.submit(raise_odd, "strange")
    exc = zero.exception(DEADLINE)
    assert isinstance(exc, ZeroDivisionError)
    assert isinstance(exc.__cause__, RemoteTraceback)
    assert "in divide" in str(exc.__cause__)
    with pytest.raises(OddError, match="strange"):
        odd.result(DEADLINE)
    # The worker lives on: its next call succeeds.
    assert facade.submit(square, 9).result(DEADLINE) == 81


def test_a_dead_worker_fails_the_running_call_with_its_exit_code(
    monitor_facade: FacadeFactory,
) -> None:
    facade = monitor_facade(1, restart=True)
    doomed = facade.submit(die, 3)
    after = [facade.submit(square, n) for n in range(5)]
    exc = doomed.exception(DEADLINE)
    assert isinstance(exc, TaskCrashedError) and isinstance(exc, BrokenProcessPool)
    assert exc.exitcode == 3 and "exited with code 3" in str(exc)
    # The calls queued behind it were requeued and ran on the replacement worker.
    assert [f.result(DEADLINE) for f in after] == [n * n for n in range(5)]


def test_without_a_worker_left_queued_calls_are_lost(monitor_facade: FacadeFactory) -> None:
    facade = monitor_facade(1)
    doomed = facade.submit(die, 4)
    queued = [facade.submit(square, n) for n in range(3)]
    assert isinstance(doomed.exception(DEADLINE), TaskCrashedError)
    for future in queued:
        assert isinstance(future.exception(DEADLINE), TaskLostError)
    later = facade.submit(square, 2)
    assert isinstance(later.exception(DEADLINE), TaskLostError)


def test_cancel_a_queued_call_but_not_a_running_one(
    monitor_facade: FacadeFactory, tmp_path: Path
) -> None:
    facade = monitor_facade(1)
    gate = tmp_path / "gate"
    running = facade.submit(wait_for_file, str(gate))
    queued = facade.submit(square, 4)
    until(running.running, "the call runs")  # RUNNING once the worker claims it
    assert not running.cancel()
    assert queued.cancel() and queued.cancelled()
    gate.touch()
    assert running.result(DEADLINE) == "released"
    assert facade.task(queued.task_id).state is TaskState.CANCELLED  # type: ignore[attr-defined]


def test_shutdown_cancel_futures(monitor_facade: FacadeFactory, tmp_path: Path) -> None:
    facade = monitor_facade(1)
    gate = tmp_path / "gate"
    running = facade.submit(wait_for_file, str(gate))
    queued = [facade.submit(square, n) for n in range(5)]
    until(running.running, "the call runs")
    facade.shutdown(wait=False, cancel_futures=True)  # the call still blocks on its gate
    assert all(f.cancelled() for f in queued)
    gate.touch()
    assert running.result(DEADLINE) == "released"
    with pytest.raises(RuntimeError, match="cannot schedule new futures"):
        facade.submit(square, 1)


def test_shutdown_without_waiting_still_finishes_the_work(monitor_facade: FacadeFactory) -> None:
    facade = monitor_facade(2)
    futures = [facade.submit(square, n) for n in range(20)]
    facade.shutdown(wait=False)
    with pytest.raises(RuntimeError):
        facade.submit(square, 1)
    assert [f.result(DEADLINE) for f in futures] == [n * n for n in range(20)]


def test_an_unpicklable_call_gets_a_failed_future_at_once(monitor_facade: FacadeFactory) -> None:
    """With the pickling error itself, as ``ProcessPoolExecutor``'s future fails."""
    facade = monitor_facade(1)
    future = facade.submit(lambda: 42)
    assert future.done()
    exc = future.exception()
    assert isinstance(exc, AttributeError)  # "Can't pickle local object", as pickle says
    (note,) = exc.__notes__
    assert note.startswith("task '<lambda>-1' was refused: the task cannot be pickled")
    assert facade.submit(square, 3).result(DEADLINE) == 9
    with pytest.raises(TypeError, match="callable"):
        facade.submit(42)  # type: ignore[arg-type]


def test_futures_resolve_while_nobody_polls_and_callbacks_may_submit(
    monitor_facade: FacadeFactory,
) -> None:
    facade = monitor_facade(2)
    chained: list[cf.Future[int]] = []
    done = threading.Event()

    def then(future: cf.Future[int]) -> None:
        chained.append(facade.submit(square, future.result()))
        done.set()

    facade.submit(square, 3).add_done_callback(then)
    assert done.wait(DEADLINE)
    assert chained[0].result(DEADLINE) == 81


def test_a_dropped_executor_still_resolves_its_futures() -> None:
    future = WorkingProcessFacade(1).submit(pid)
    gc.collect()
    worker = future.result(DEADLINE)
    assert isinstance(worker, int) and worker > 0


def test_cancelling_logs_nothing_alarming(
    monitor_facade: FacadeFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The caller's cancel() and the resolving thread both settle a cancelled future:
    done twice, the standard library would log "Future in unexpected state"."""
    facade = monitor_facade(1)
    gate = tmp_path / "gate"
    blocker = facade.submit(wait_for_file, str(gate))
    queued = [facade.submit(square, n) for n in range(50)]
    assert all(f.cancel() for f in queued)
    done, _ = cf.wait(queued, timeout=DEADLINE)  # cancelled futures count as done at once
    assert len(done) == 50
    gate.touch()
    assert blocker.result(DEADLINE) == "released"
    facade.collect_tasks(DEADLINE)
    assert console.drain(DEADLINE)  # the facade's own records are handled on its console thread
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_a_callback_that_exits_does_not_stop_later_futures(
    monitor_facade: FacadeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    facade = monitor_facade(1)

    def leave(_: cf.Future[int]) -> None:
        raise SystemExit(3)

    facade.submit(square, 2).add_done_callback(leave)
    assert facade.submit(square, 3).result(DEADLINE) == 9
    assert len(facade.collect_tasks(DEADLINE)) == 2  # and collect does not hang


def test_restart_does_not_rerun_calls_whose_futures_failed(monitor_facade: FacadeFactory) -> None:
    facade = monitor_facade(1)
    assert isinstance(facade.submit(die, 5).exception(DEADLINE), TaskCrashedError)
    lost = facade.submit(square, 4)
    assert isinstance(lost.exception(DEADLINE), TaskLostError)
    assert facade.restart_worker(requeue_lost=True) == 1
    assert facade.task(lost.task_id).state is TaskState.LOST  # type: ignore[attr-defined]


# -- at the interpreter's exit, as ProcessPoolExecutor ----------------------------------
def _python(code: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_call_pending_at_exit_finishes_first(tmp_path: Path) -> None:
    """An executor never shut down, its future dropped: the call still runs to its end
    before the interpreter exits, and nothing is killed."""
    marker = tmp_path / "ran"
    program = _python(
        f"""
        from app.core import WorkingProcessFacade
        from tests.core.calls_for_tests import touch_after

        if __name__ == "__main__":
            WorkingProcessFacade(1).submit(touch_after, {str(marker)!r}, 1.0)
        """
    )
    _, err = finish(program, DEADLINE)
    assert program.returncode == 0, err
    assert marker.exists()
    assert "dropped without" not in err and "Traceback" not in err


def test_ctrl_c_ends_the_exit_wait_for_a_hung_call_and_kills_its_worker(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    program = _python(
        f"""
        import sys
        from app.core import WorkingProcessFacade
        from tests.core.calls_for_tests import write_pid_then_sleep

        if __name__ == "__main__":
            WorkingProcessFacade(1).submit(write_pid_then_sleep, {str(pid_file)!r}, 600)
        """
    )
    worker: psutil.Process | None = None
    try:
        until(lambda: pid_file.exists() and pid_file.read_text() != "", "the call runs")
        worker = psutil.Process(int(pid_file.read_text()))
        end = time.monotonic() + DEADLINE
        while program.poll() is None:  # at exit, waiting for the call: Ctrl-C ends it
            assert time.monotonic() < end, "Ctrl-C did not end the wait at exit"
            program.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                program.wait(0.5)
        _, err = program.communicate(timeout=DEADLINE)
        assert "interrupted while waiting for pending executor calls" in err
        worker.wait(DEADLINE)  # killed by the facade's finalizer, not left behind
    finally:
        if program.poll() is None:
            program.kill()
            program.communicate(timeout=10)
        if worker is not None and worker.is_running():
            worker.kill()


# -- a finished call's objects are let go once its future is gone ------------------------
def test_a_finished_calls_objects_are_let_go_once_nobody_holds_its_future(
    monitor_facade: FacadeFactory,
) -> None:
    facade = monitor_facade(1)
    argument = Box(7)
    future = facade.submit(unbox, argument)
    assert future.result(DEADLINE) == 7
    (task,) = facade.tasks
    assert isinstance(task, CallTask) and task.args == (argument,)  # the future is held
    gone = weakref.ref(argument)
    del argument
    assert gone() is not None
    del future  # nobody can observe the call any more
    assert gone() is None
    assert task.state is TaskState.DONE and task.released
    assert task.result is None and task.args == () and task.kwargs == {}
    assert task.started_at is not None and task.worker_pid is not None


def test_a_dropped_future_leaves_no_reference_to_the_calls_objects(
    monitor_facade: FacadeFactory,
) -> None:
    """CPython's ``test_no_stale_references``: the future discarded at once, the object
    whose method was called is freed once the call has ended."""
    facade = monitor_facade(1)
    owner = Box(5)
    freed = threading.Event()
    watch = weakref.ref(owner, lambda _: freed.set())
    facade.submit(owner.get)
    del owner
    assert freed.wait(DEADLINE), "the call's object is still referenced"
    assert watch() is None
    (task,) = facade.collect_tasks(DEADLINE)
    assert task.state is TaskState.DONE


def test_map_results_are_the_callers_alone(monitor_facade: FacadeFactory) -> None:
    """CPython's ``test_free_reference``: neither the map iterator nor the records keep a
    result the caller has let go."""
    facade = monitor_facade(2)
    for result in facade.map(box, range(10)):
        gone = weakref.ref(result)
        del result
        assert gone() is None


def test_a_failed_call_keeps_its_error_text_but_not_its_exception(
    monitor_facade: FacadeFactory,
) -> None:
    facade = monitor_facade(1)
    future = facade.submit(divide, 1, 0)
    assert isinstance(future.exception(DEADLINE), ZeroDivisionError)
    task_id = future.task_id  # type: ignore[attr-defined]
    del future
    task = facade.task(task_id)
    assert task.state is TaskState.FAILED and task.exception is None
    assert task.error is not None and "ZeroDivisionError" in task.error
    assert task.traceback is not None and "in divide" in task.traceback
    assert not facade.resubmit(task_id)  # nothing left to run again
    assert task.error.startswith("not resubmitted: the call's function and arguments")


def test_a_released_calls_result_is_still_in_the_recording(
    monitor_facade: FacadeFactory, tmp_path: Path
) -> None:
    facade = monitor_facade(1, record=tmp_path / "run.jsonl")
    assert facade.submit(box, 3).result(DEADLINE).n == 3  # the future is dropped at once
    facade.collect_tasks(DEADLINE)
    (recorded,) = read_run(tmp_path / "run.jsonl").tasks().values()
    assert recorded.state is TaskState.DONE and recorded.result is not None
    assert "Box object" in recorded.result


def test_plain_tasks_keep_their_results(monitor_facade: FacadeFactory) -> None:
    from tests.core.tasks_for_tests import SquareTask

    facade = monitor_facade(1)
    task = SquareTask("sq", 6)
    assert facade.process_task(task)
    (back,) = facade.collect_tasks(DEADLINE)
    assert back is task and task.result == 36


def test_an_argument_that_refuses_pickling_fails_the_future_with_its_own_error(
    monitor_facade: FacadeFactory,
) -> None:
    """CPython's ``test_error_at_task_pickle`` and ``test_shutdown_deadlock_pickle``."""
    facade = monitor_facade(1)
    future = facade.submit(id, RefusesPickling())
    facade.shutdown(wait=False)
    with pytest.raises(pickle.PicklingError, match="not this one"):
        future.result(DEADLINE)
    assert facade.tasks == []  # refused: never recorded, never run


def test_a_refused_plain_task_keeps_the_pickling_error(monitor_facade: FacadeFactory) -> None:
    from tests.core.tasks_for_tests import SquareTask

    facade = monitor_facade(1)
    task = SquareTask("sq", RefusesPickling())  # type: ignore[arg-type]
    assert not facade.process_task(task)
    assert task.state is TaskState.REJECTED
    assert isinstance(task.exception, pickle.PicklingError)
    assert task.error == "the task cannot be pickled: _pickle.PicklingError: not this one"
