"""Found by attacking the executor side of the facade as a hostile user would: each test
is a hang, a leak, a spewed traceback or a lost fate that the attack turned up."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from app.core import SimpleTask, TaskState, WorkerDied, WorkerLog
from app.core.pool_executor import ProcessPoolFacade
from app.testing import FacadeFactory
from tests.core import attack_calls
from tests.core import lifecycle_calls as calls
from tests.core.calls_for_tests import die, wait_for_file
from tests.core.helpers import all_final, finish, wait_for

DEADLINE = 30.0
ROOT = Path(__file__).resolve().parent.parent.parent


def until(predicate: Callable[[], bool], what: str) -> None:
    end = time.monotonic() + DEADLINE
    while not predicate():
        assert time.monotonic() < end, f"{what}: not within {DEADLINE} s"
        time.sleep(0.01)


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


def _pids_in(folder: Path) -> list[int]:
    return [int(p.read_text()) for p in folder.iterdir() if p.read_text()]


def test_ctrl_c_held_down_at_the_exit_wait_ends_every_executor_quietly(tmp_path: Path) -> None:
    """Three executors never shut down, each with calls that hang; Ctrl-C held down (a
    SIGINT every few milliseconds) until the program ends. The first one ends the exit
    wait; those that follow used to land in the facades' finalizers, spewing tracebacks
    and skipping the finalizers of the executors after it. Now every executor is closed
    (its calls TIMED_OUT, said once) and nothing of the facade's is in a traceback."""
    program = _python(
        f"""
        from app.core import WorkingProcessFacade
        from tests.core.calls_for_tests import write_pid_then_sleep

        if __name__ == "__main__":
            for n in range(3):
                pool = WorkingProcessFacade(2)
                for k in range(2):
                    pool.submit(write_pid_then_sleep, {str(tmp_path)!r} + f"/{{n}}-{{k}}", 600)
        """
    )
    workers: list[psutil.Process] = []
    try:
        until(lambda: len(_pids_in(tmp_path)) == 6, "every call runs")
        workers = [psutil.Process(pid) for pid in _pids_in(tmp_path)]
        end = time.monotonic() + DEADLINE
        while program.poll() is None:
            assert time.monotonic() < end, "Ctrl-C held down did not end the program"
            with contextlib.suppress(ProcessLookupError):
                program.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                program.wait(0.002)
        _, err = program.communicate(timeout=DEADLINE)
        assert err.count("interrupted while waiting for pending executor calls") == 1, err
        assert "app/core" not in err, err
        assert "dropped without" not in err, err  # closed, not left to the finalizers
        for worker in workers:
            worker.wait(DEADLINE)
    finally:
        if program.poll() is None:
            program.kill()
            program.communicate(timeout=10)
        for worker in workers:
            if worker.is_running():
                worker.kill()


def test_calls_a_done_callback_submits_at_exit_run_too(tmp_path: Path) -> None:
    """An executor never shut down whose calls each submit the next from their
    done-callback: the exit wait used to see no call pending in the moment between a
    call's end and its callback, collect the executor, and the callback's submit then
    raised ("the facade is collecting"), ending the chain. Every link runs now."""
    program = _python(
        f"""
        from pathlib import Path
        from app.core import WorkingProcessFacade
        from tests.core.calls_for_tests import add

        def next_link(future):
            n = future.result()
            Path({str(tmp_path)!r}, str(n)).touch()
            if n < 5:
                pool.submit(add, n + 1).add_done_callback(next_link)

        if __name__ == "__main__":
            pool = WorkingProcessFacade(1)
            pool.submit(add, 1).add_done_callback(next_link)
        """
    )
    _, err = finish(program, DEADLINE)
    assert program.returncode == 0, err
    assert "Traceback" not in err and "exception calling callback" not in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["1", "2", "3", "4", "5"]


def test_tasks_sent_ahead_to_a_worker_being_recycled_never_time_out_there(
    monitor_facade: FacadeFactory,
) -> None:
    """A worker over its memory cap leaves after its task, but the task after it in its
    window was already shown RUNNING (a busy worker goes straight on). When the exit took
    long (a thread left running holds it for a second), that task "ran past its timeout"
    on a worker that would never start it: the worker was killed as a timeout, not
    recycled. Now the recycling takes the task back to PENDING at once, and it runs on
    the replacement."""
    facade = monitor_facade(1, max_memory_per_child=1, task_timeout=0.3)
    assert facade.submit(calls.pid_of, 0).result(DEADLINE)[0] == 0  # tasks are known fast
    futures = [
        facade.submit(calls.leave_a_thread_running if n % 3 == 1 else calls.pid_of, n)
        for n in range(1, 10)
    ]
    assert [f.result(DEADLINE)[0] for f in futures] == list(range(1, 10))
    events = wait_for(facade, all_final(facade.tasks), DEADLINE)
    tasks = facade.collect_tasks(DEADLINE)
    events += facade.poll_events()
    assert all(t.state is TaskState.DONE for t in tasks)
    reasons = {e.reason for e in events if isinstance(e, WorkerDied)}
    assert reasons <= {"recycled", "stopped"}, reasons
    said = [e.message for e in events if isinstance(e, WorkerLog)]
    assert not [m for m in said if "ran past its timeout" in m], said


def test_a_child_the_initializer_forked_never_takes_the_workers_tasks(
    monitor_facade: FacadeFactory,
) -> None:
    """The initializer forks and both processes return from it: the child went on as a
    second worker on the same pipes, claimed tasks and ran them where no result could be
    sent (only the worker speaks to the parent): those calls never ended. The child now
    ends where the initializer returns to, as a child a task forks does."""
    facade = monitor_facade(1, initializer=attack_calls.fork_and_return)
    futures = [facade.submit(attack_calls.pid_of, n) for n in range(20)]
    values = [f.result(DEADLINE) for f in futures]
    assert [n for n, _ in values] == list(range(20))
    assert len({pid for _, pid in values}) == 1
    tasks = facade.collect_tasks(DEADLINE)
    assert all(t.state is TaskState.DONE for t in tasks)


def test_the_drop_in_executor_ignores_initargs_without_an_initializer() -> None:
    """``ProcessPoolExecutor(initargs=None)`` (or any value) without an initializer runs:
    the standard executor never looks at initargs then. Under ``python -m app run`` such
    a script failed at once with a TypeError."""
    with ProcessPoolFacade(1, initargs=None, record=False) as pool:  # type: ignore[arg-type]
        assert pool.submit(attack_calls.pid_of, 3).result(DEADLINE)[0] == 3
    assert [t.state for t in pool.tasks] == [TaskState.DONE]


def test_a_replacement_that_cannot_start_is_named_in_the_lost_tasks_error() -> None:
    """Out of file descriptors, a recycled worker's replacement cannot start: the queued
    calls end LOST, and their error used to blame the recycled worker's clean exit ("no
    worker alive to run it (worker-0 ... exited with code 0)"). It names the failed start
    now. Run in a process of its own: it lowers that process's descriptor limit."""
    program = _python(
        """
        import os, resource
        from app.core import WorkingProcessFacade
        from tests.core.attack_calls import pid_of

        if __name__ == "__main__":
            pool = WorkingProcessFacade(1, max_tasks_per_child=1, record=False)
            assert pool.submit(pid_of, 0).result(30)[0] == 0  # the recycling is on its way
            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            resource.setrlimit(resource.RLIMIT_NOFILE, (len(os.listdir("/proc/self/fd")), hard))
            later = [pool.submit(pid_of, n) for n in range(1, 4)]
            for future in later:
                future.exception(30)
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
            for task in pool.collect_tasks(30)[1:]:
                print(task.state.name, task.error)
        """
    )
    out, err = finish(program, DEADLINE)
    assert program.returncode == 0, err
    lines = out.splitlines()
    assert len(lines) == 3, out
    for line in lines:
        assert line.startswith("LOST "), out
        assert "replacement could not start" in line and "Too many open files" in line, out


@pytest.mark.parametrize("at", range(1, 7))
def test_ctrl_c_inside_a_submission_leaves_no_task_that_never_ends(
    monitor_facade: FacadeFactory, tmp_path: Path, at: int
) -> None:
    """Ctrl-C in a loop of submits lands, now and then, inside the engine's lock: a task
    recorded but never queued stayed PENDING for ever, and its future never resolved, so
    the interpreter's exit waited for it until a second Ctrl-C. The interrupt is
    simulated at each point of a submission in turn (the ID's n-th hash raises it):
    afterwards the task is either not recorded (and may be submitted again) or
    CANCELLED, and everything else runs as usual."""
    facade = monitor_facade(1)
    gate = tmp_path / "gate"
    held = facade.submit(wait_for_file, str(gate))  # a future pending: its branch is taken
    task = SimpleTask(attack_calls.InterruptingID("interrupted"), 0.01)
    attack_calls.InterruptingID.armed = at
    try:
        accepted = facade.process_task(task)
    except KeyboardInterrupt:
        accepted = None
    finally:
        attack_calls.InterruptingID.armed = 0
    if accepted is None and task not in facade.tasks:  # never recorded: may go again
        assert facade.process_task(task)
    after = facade.submit(attack_calls.pid_of, 1)
    gate.touch()
    assert held.result(DEADLINE) == "released"
    assert after.result(DEADLINE)[0] == 1
    tasks = facade.collect_tasks(DEADLINE)
    assert all(t.state.is_final for t in tasks), [(t.ID, t.state) for t in tasks]
    assert task in tasks
    assert task.state in (TaskState.DONE, TaskState.CANCELLED)


def test_sigterm_whose_handler_exits_ends_the_exit_wait_quietly(tmp_path: Path) -> None:
    """A script with the common ``signal.signal(SIGTERM, lambda *_: sys.exit(3))``, an
    executor never shut down and a call that hangs: SIGTERM at the exit wait raised
    SystemExit out of it, which python printed as an ignored exception with its
    traceback, and left the workers to the facade's finalizer. It ends the wait as
    Ctrl-C does now: one line, the executor closed."""
    pid_file = tmp_path / "pid"
    program = _python(
        f"""
        import signal, sys
        from app.core import WorkingProcessFacade
        from tests.core.calls_for_tests import write_pid_then_sleep

        if __name__ == "__main__":
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(3))
            WorkingProcessFacade(1).submit(write_pid_then_sleep, {str(pid_file)!r}, 600)
        """
    )
    worker: psutil.Process | None = None
    try:
        until(lambda: pid_file.exists() and pid_file.read_text() != "", "the call runs")
        worker = psutil.Process(int(pid_file.read_text()))
        end = time.monotonic() + DEADLINE
        while program.poll() is None:  # at exit, waiting for the call: SIGTERM ends it
            assert time.monotonic() < end, "SIGTERM did not end the wait at exit"
            program.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                program.wait(0.5)
        _, err = program.communicate(timeout=DEADLINE)
        assert "interrupted while waiting for pending executor calls" in err, err
        assert "Traceback" not in err and "dropped without" not in err, err
        worker.wait(DEADLINE)
    finally:
        if program.poll() is None:
            program.kill()
            program.communicate(timeout=10)
        if worker is not None and worker.is_running():
            worker.kill()


def test_cancelling_a_task_whose_equality_raises_keeps_the_worker_in_step(
    monitor_facade: FacadeFactory,
) -> None:
    """Tasks whose ``==`` raises (a dataclass with array fields): taking one back from a
    worker's window compared it with the others, so ``cancel()`` raised after the worker
    had been told to skip it, the parent's window kept it, and every later outcome was
    "for an unknown task": those tasks never ended. Tasks are found by identity now."""
    facade = monitor_facade(1, restart=True)
    fast = [attack_calls.Touchy(f"fast-{n}", 0) for n in range(100)]
    for task in fast:  # the engine learns that tasks are fast: it sends them ahead
        assert facade.process_task(task)
    wait_for(facade, all_final(fast), DEADLINE)
    facade.submit(die, 3)  # the replacement, once started, gets the next ones in one batch
    gate = attack_calls.Touchy("gate", 2.0)
    ahead = [attack_calls.Touchy(f"ahead-{n}", 0) for n in range(4)]
    for task in [gate, *ahead]:
        assert facade.process_task(task)
    wait_for(facade, lambda: facade.worker_info()[0].queued == 4, DEADLINE)
    assert facade.cancel("ahead-1")
    tasks = facade.collect_tasks(DEADLINE)
    assert {t.ID: t.state for t in tasks if t.state is not TaskState.DONE} == {
        "die-1": TaskState.CRASHED,
        "ahead-1": TaskState.CANCELLED,
    }
