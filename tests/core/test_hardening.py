"""Regression tests for what an adversarial user broke: absurd timeouts, the same task
object submitted again, tasks that fork or start children, raw writes to fds 1 and 2,
a terminal that does not drain, Ctrl-C inside a wait, a parent killed mid-task, and a
caller that never polls. Each test failed before its fix.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from app.core import (
    CrashTask,
    SimpleTask,
    TaskChanged,
    TaskState,
    WorkerDied,
    WorkerLog,
    WorkerStarted,
    WorkingProcessFacade,
    console,
)
from app.testing import FacadeFactory
from tests.core.helpers import (
    all_final,
    in_state,
    pid_gone,
    wait_for,
    wait_pids_gone,
    worker_dead,
    worker_ready,
)
from tests.core.tasks_for_hardening import (
    LONG_LINES,
    ChildProcessTask,
    ChildrenPrintTask,
    FaulthandlerTask,
    FloodTask,
    ForkAndReturnTask,
    ForkedChildEndsTask,
    ForkThenDieTask,
    LeftoverThreadTask,
    LongLineTask,
    PrintThenReturnTask,
    RawOutputTask,
    ReapAllChildrenTask,
    StreamAbuseTask,
)
from tests.core.tasks_for_tests import PidTask, SquareTask

ROOT = Path(__file__).resolve().parents[2]


def read_pid(path: Path, deadline: float = 10.0) -> int:
    """The pid a task wrote to ``path``, once it has."""
    end = time.monotonic() + deadline
    while not path.exists():
        if time.monotonic() > end:
            raise AssertionError(f"no pid written to {path} within {deadline} s")
        time.sleep(0.01)
    return int(path.read_text())


@pytest.fixture
def reap_strays() -> Iterator[list[int]]:
    """Pids the test expects to outlive everything (detached on purpose): killed after."""
    strays: list[int] = []
    yield strays
    for pid in strays:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def run_script(
    name: str, *args: str, env: dict[str, str] | None = None, **popen: Any
) -> subprocess.Popen[bytes]:
    """Runs ``tests/core/hardening_scripts.py NAME ARGS`` as a program of its own."""
    return subprocess.Popen(
        [sys.executable, "-m", "tests.core.hardening_scripts", name, *args],
        cwd=ROOT,
        env=dict(os.environ if env is None else env, PYTHONPATH=str(ROOT)),
        **popen,
    )


# == 1. timeouts of any length; inf means no limit =========================================
@pytest.mark.parametrize("task_timeout", [30 * 86400.0, 1e12, math.inf, 10**400])
def test_a_huge_facade_timeout_runs_tasks(
    monitor_facade: FacadeFactory, task_timeout: float
) -> None:
    w = monitor_facade(task_timeout=task_timeout)
    tasks = [SimpleTask("a", 0.05), SimpleTask("b", 0.0)]
    for t in tasks:
        assert w.process_task(t)
    wait_for(w, all_final(tasks))
    assert [t.state for t in tasks] == [TaskState.DONE, TaskState.DONE]
    assert w.worker_info()[0].alive  # the I/O thread lives: nothing was killed


@pytest.mark.parametrize(
    "timeout", [1e7, 1e300, math.inf, 10**400, Fraction(10**400), Fraction(1, 10**9) * 10**20]
)
def test_a_huge_task_timeout_runs_the_task(monitor_facade: FacadeFactory, timeout: float) -> None:
    w = monitor_facade()
    t = SimpleTask("long-limit", 0.05, timeout=timeout)
    assert w.process_task(t), t.error
    wait_for(w, all_final([t]))
    assert t.state is TaskState.DONE, t.error
    later = SimpleTask("later", 0.0)
    assert w.process_task(later)
    wait_for(w, all_final([later]))
    assert later.state is TaskState.DONE


def test_infinite_waits_are_accepted_everywhere(monitor_facade: FacadeFactory) -> None:
    w = monitor_facade()
    for n, wait in enumerate((math.inf, 1e300, 10**400)):  # a float cannot hold the last
        assert w.process_task(SimpleTask(f"t{n}", 0.0))
        assert w.poll_events(wait)  # returns as soon as there are events
        wait_for(w, lambda: all(t.state.is_final for t in w.tasks))
    future = w.submit(pow, 2, 10)
    assert future.result(timeout=math.inf) == 1024
    assert future.exception(timeout=1e300) is None
    tasks = w.collect_tasks(timeout=math.inf)
    assert [x.state for x in tasks] == [TaskState.DONE] * 4
    w.poll_events(0.0)
    assert w.poll_events(math.inf) == []  # after a collect it returns at once


def test_nan_and_negative_timeouts_are_still_refused(monitor_facade: FacadeFactory) -> None:
    with pytest.raises(ValueError, match="nan"):
        WorkingProcessFacade(task_timeout=math.nan)
    w = monitor_facade()
    for bad in (math.nan, -1.0, 0.0, -math.inf):
        t = SimpleTask(f"bad-{bad}", 0.0, timeout=bad)
        assert not w.process_task(t)
        assert t.state is TaskState.REJECTED and "timeout" in (t.error or "")
    for bad in (math.nan, -1.0):
        with pytest.raises(ValueError):
            w.poll_events(bad)
        with pytest.raises(ValueError):
            w.collect_tasks(timeout=bad)


def test_a_timeout_changed_after_acceptance_does_not_count(monitor_facade: FacadeFactory) -> None:
    w = monitor_facade()
    first = SimpleTask("first", 0.3)
    changed = SimpleTask("changed", 0.2, timeout=30.0)
    later = SimpleTask("later", 0.0)
    for t in (first, changed, later):
        assert w.process_task(t)
    changed.timeout = "soon"  # type: ignore[assignment]  # its accepted 30 s stand
    wait_for(w, all_final([first, changed, later]))
    assert [t.state for t in (first, changed, later)] == [TaskState.DONE] * 3
    assert w.worker_info()[0].alive  # the I/O thread did not crash on it


# == 2. a task object belongs to the first facade that accepted it =========================
def test_submitting_a_collected_task_again_leaves_its_fate(monitor_facade: FacadeFactory) -> None:
    w = monitor_facade()
    t = SquareTask("sq", 7)
    assert w.process_task(t)
    w.collect_tasks(timeout=30)
    assert t.state is TaskState.DONE and t.result == 49
    with pytest.raises(ValueError, match="already"):
        w.process_task(t)
    assert t.state is TaskState.DONE and t.result == 49 and t.error is None


def test_a_pending_task_made_invalid_and_submitted_again_still_runs(
    monitor_facade: FacadeFactory,
) -> None:
    w = monitor_facade()
    blocker = SimpleTask("blocker", 0.5)
    t = SimpleTask("queued", 0.0)
    assert w.process_task(blocker) and w.process_task(t)
    assert t.state is TaskState.PENDING
    t.timeout = -1
    with pytest.raises(ValueError, match="already"):
        w.process_task(t)
    assert t.state is TaskState.PENDING and t.error is None
    t.timeout = None
    wait_for(w, all_final([blocker, t]))
    assert t.state is TaskState.DONE


def test_a_task_given_to_a_second_facade_is_refused_there(monitor_facade: FacadeFactory) -> None:
    first, second = monitor_facade(), monitor_facade()
    t = SquareTask("shared", 3)
    assert first.process_task(t)
    with pytest.raises(ValueError, match="another facade"):
        second.process_task(t)
    wait_for(first, all_final([t]))
    assert t.state is TaskState.DONE and t.result == 9
    assert second.collect_tasks(timeout=10) == []
    assert first.collect_tasks(timeout=10) == [t]


def test_one_object_raced_to_two_facades_is_accepted_once(monitor_facade: FacadeFactory) -> None:
    facades = [monitor_facade(), monitor_facade()]

    def submit(
        w: WorkingProcessFacade, t: SquareTask, barrier: threading.Barrier, outcomes: list[str]
    ) -> None:
        barrier.wait()
        try:
            outcomes.append(f"accepted {w.process_task(t)}")
        except ValueError:
            outcomes.append("refused")

    for n in range(20):
        t = SquareTask(f"raced-{n}", 2)
        outcomes: list[str] = []
        barrier = threading.Barrier(2)
        threads = [threading.Thread(target=submit, args=(w, t, barrier, outcomes)) for w in facades]
        for th in threads:
            th.start()
        for th in threads:
            th.join(10)
        assert sorted(outcomes) == ["accepted True", "refused"], outcomes
    tasks = [t for w in facades for t in w.collect_tasks(timeout=30)]
    assert len(tasks) == 20 and all(t.state is TaskState.DONE for t in tasks)


def test_a_rejected_task_may_be_fixed_and_submitted_again(monitor_facade: FacadeFactory) -> None:
    w = monitor_facade()
    t = SimpleTask("fix-me", -1.0)
    assert not w.process_task(t) and t.state is TaskState.REJECTED
    t.estimated_processing_time = 0.0
    assert w.process_task(t)
    wait_for(w, all_final([t]))
    assert t.state is TaskState.DONE


# == 3 and 4. children of tasks: they never hide a death and never outlive their worker ===
@pytest.mark.parametrize("how", ["os.fork", "mp-fork", "libc-fork"])
def test_a_worker_that_forked_is_seen_dead_at_once(
    monitor_facade: FacadeFactory, tmp_path: Path, how: str
) -> None:
    w = monitor_facade()
    wait_for(w, worker_ready(w), deadline=30)
    pid_file = tmp_path / "child.pid"
    t = ForkThenDieTask("forker", str(pid_file), how=how, then="kill")
    assert w.process_task(t)
    child = read_pid(pid_file)
    wait_for(w, all_final([t]), deadline=5)
    assert t.state is TaskState.CRASHED and t.exitcode == -signal.SIGKILL, t.error
    assert not w.worker_info()[0].alive
    wait_pids_gone([child])  # the forked child ended with its worker


def test_close_is_not_held_by_a_detached_child(
    monitor_facade: FacadeFactory, tmp_path: Path, reap_strays: list[int]
) -> None:
    w = monitor_facade()
    pid_file = tmp_path / "child.pid"
    t = ForkThenDieTask("detacher", str(pid_file), how="setsid", then="sleep")
    assert w.process_task(t)
    child = read_pid(pid_file)
    reap_strays.append(child)
    wait_for(w, in_state(t, TaskState.RUNNING))
    start = time.monotonic()
    w.close()
    assert time.monotonic() - start < 3.0
    assert t.state is TaskState.TIMED_OUT
    # It left the worker's session on purpose: its own business, so it lives on.
    assert not pid_gone(child)


def test_collect_timeout_is_kept_with_a_forked_child(
    monitor_facade: FacadeFactory, tmp_path: Path
) -> None:
    w = monitor_facade()
    pid_file = tmp_path / "child.pid"
    t = ForkThenDieTask("sleeper", str(pid_file), how="os.fork", then="sleep")
    assert w.process_task(t)
    child = read_pid(pid_file)
    start = time.monotonic()
    w.collect_tasks(timeout=1)
    assert time.monotonic() - start < 4.0
    assert t.state is TaskState.TIMED_OUT
    wait_pids_gone([child])


def test_a_timed_out_task_takes_its_subprocess_with_it(
    monitor_facade: FacadeFactory, tmp_path: Path
) -> None:
    w = monitor_facade()
    pid_file = tmp_path / "sleep.pid"
    t = ChildProcessTask("sleeps", str(pid_file), ["sleep", "27"], then="wait", timeout=1.0)
    assert w.process_task(t)
    child = read_pid(pid_file)
    wait_for(w, all_final([t]), deadline=10)
    assert t.state is TaskState.TIMED_OUT
    wait_pids_gone([child])


@pytest.mark.parametrize("then", ["leave", "crash"])
def test_a_subprocess_left_running_ends_with_its_worker(
    monitor_facade: FacadeFactory, tmp_path: Path, then: str
) -> None:
    w = monitor_facade()
    pid_file = tmp_path / "child.pid"
    # A shell with a grandchild: the whole tree goes, not just the direct child.
    t = ChildProcessTask("leaver", str(pid_file), ["sh", "-c", "sleep 27 & wait"], then=then)
    assert w.process_task(t)
    child = read_pid(pid_file)
    wait_for(w, all_final([t]), deadline=10)
    expected = TaskState.DONE if then == "leave" else TaskState.CRASHED
    assert t.state is expected, t.error
    if then == "leave":
        assert not pid_gone(child)  # the worker lives: so do the processes its task left
        w.collect_tasks(timeout=10)
    wait_pids_gone([child])


def test_a_detached_subprocess_is_its_own_business(
    monitor_facade: FacadeFactory, tmp_path: Path, reap_strays: list[int]
) -> None:
    w = monitor_facade()
    pid_file = tmp_path / "child.pid"
    t = ChildProcessTask("detached", str(pid_file), ["sleep", "27"], then="leave", detach=True)
    assert w.process_task(t)
    child = read_pid(pid_file)
    reap_strays.append(child)
    w.collect_tasks(timeout=10)
    assert t.state is TaskState.DONE
    assert not pid_gone(child)


@pytest.mark.parametrize("end", ["close", "collect"])
def test_a_worker_that_cannot_exit_cleanly_does_not_stretch_the_end(
    monitor_facade: FacadeFactory, end: str
) -> None:
    w = monitor_facade()
    t = LeftoverThreadTask("leaves-a-thread")
    assert w.process_task(t)
    wait_for(w, all_final([t]))
    start = time.monotonic()
    if end == "close":
        w.close()
    else:
        w.collect_tasks(timeout=0.5)
    assert time.monotonic() - start < 2.0  # not the 5 s grace of a collect without limit
    assert t.state is TaskState.DONE


def test_a_child_that_returns_into_the_worker_loop_is_ended(
    monitor_facade: FacadeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    w = monitor_facade()
    wait_for(w, worker_ready(w), deadline=30)
    worker = w.worker_info()[0].pid
    forker = ForkAndReturnTask("forks")
    later = [PidTask(f"later-{n}") for n in range(50)]
    for t in (forker, *later):
        assert w.process_task(t)
    start = time.monotonic()
    w.collect_tasks(timeout=30)
    assert time.monotonic() - start < 10
    assert forker.state is TaskState.DONE and forker.result > 0  # the parent's return
    assert {t.result for t in later} == {worker}  # the child took none of them
    assert console.drain(5.0)
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_task_that_reaps_all_its_children_never_waits_for_the_watchdog(
    monitor_facade: FacadeFactory,
) -> None:
    w = monitor_facade()
    t = ReapAllChildrenTask("reaper")
    assert w.process_task(t)
    wait_for(w, all_final([t]))
    assert t.state is TaskState.DONE and t.result == 1, t.error


@pytest.mark.parametrize(("how", "status"), [("raise", 1), ("exit", 5)])
def test_a_child_that_raises_or_exits_does_not_report_for_the_worker(
    monitor_facade: FacadeFactory, how: str, status: int
) -> None:
    w = monitor_facade()
    t = ForkedChildEndsTask(f"child-{how}", how)
    later = SquareTask("later", 4)
    assert w.process_task(t) and w.process_task(later)
    wait_for(w, all_final([t, later]))
    assert t.state is TaskState.DONE, t.error  # the worker's outcome, not the child's
    assert t.result == status
    assert later.state is TaskState.DONE and later.result == 16


def test_children_printing_long_lines_do_not_damage_the_result_stream(
    monitor_facade: FacadeFactory,
) -> None:
    w = monitor_facade()
    t = ChildrenPrintTask("printers")
    later = SquareTask("later", 5)
    assert w.process_task(t) and w.process_task(later)
    events = wait_for(w, all_final([t, later]), deadline=30)
    assert t.state is TaskState.DONE and t.result == 4, t.error
    assert later.state is TaskState.DONE and later.result == 25
    lines = _lines(events + w.poll_events(0.0))
    assert sum(line.startswith("child 99 line") for line in lines) == LONG_LINES  # the worker's


@pytest.mark.timeout(90)
def test_a_replacement_killed_while_starting_is_replaced(monitor_facade: FacadeFactory) -> None:
    """The OOM killer or a user may kill a worker at any moment, even while it starts."""
    w = monitor_facade(restart=True)
    seen: list[Any] = []
    wait_for(w, worker_ready(w), deadline=30, into=seen)
    killed: set[int] = set()

    def newest() -> list[int]:
        return [e.pid for e in seen if isinstance(e, WorkerStarted) and e.pid not in killed]

    for _ in range(3):  # the ready worker, then two replacements at once: likely starting
        wait_for(w, lambda: bool(newest()), into=seen, what="a worker not yet killed")
        victim = newest()[-1]
        killed.add(victim)
        with contextlib.suppress(ProcessLookupError):
            os.kill(victim, signal.SIGKILL)
    t = SquareTask("after", 6)
    assert w.process_task(t)
    wait_for(w, all_final([t]), deadline=30)
    assert t.state is TaskState.DONE


def test_close_waits_for_a_replacement_on_its_way(monitor_facade: FacadeFactory) -> None:
    w = monitor_facade(restart=True)
    crash = CrashTask("crash", "exit")
    assert w.process_task(crash) and w.process_task(SquareTask("next", 1))
    wait_for(w, lambda: crash.state.is_final)  # the replacement is being started now
    w.close()
    events = w.poll_events(0.0)
    events += w.poll_events(1.0)  # nothing may happen after close() returned
    events += w.poll_events(0.0)
    started = {e.pid for e in events if isinstance(e, WorkerStarted)}
    died = {e.pid for e in events if isinstance(e, WorkerDied)}
    assert started <= died, f"started but never died: {started - died}"
    late = w.poll_events(0.5)
    assert late == [], late


# == 5. every byte written to fds 1 and 2 reaches the parent as whole, tagged lines =======
def _lines(events: list[Any]) -> list[str]:
    return [e.message for e in events if isinstance(e, WorkerLog)]


def test_raw_output_reaches_the_parent_as_lines(
    monitor_facade: FacadeFactory, capfd: pytest.CaptureFixture[str]
) -> None:
    w = monitor_facade()
    t = RawOutputTask("raw")
    assert w.process_task(t)
    events = wait_for(w, all_final([t]))
    assert t.state is TaskState.DONE, t.traceback
    assert t.result == {
        "stdout_encoding": "utf-8",
        "stderr_encoding": "utf-8",
        "stdout_fileno": 1,
        "stderr_fileno": 2,
        "isatty": False,
    }
    w.collect_tasks(timeout=10)
    events += w.poll_events(0.0)
    lines = _lines(events)
    for expected in (
        "through sys.stdout.buffer",
        "through fd 1",
        "through fd 2",
        "from a child process",
        "from a shell on stderr",
        "no newline at the end",
    ):
        assert expected in lines, lines
    assert console.drain(5.0)
    out, err = capfd.readouterr()
    printed = [line for line in (out + err).splitlines() if "through fd" in line]
    assert len(printed) == 2, printed
    assert all("worker-0[" in line for line in printed), printed  # tagged by the parent


def test_faulthandler_works_in_a_task(monitor_facade: FacadeFactory) -> None:
    w = monitor_facade()
    t = FaulthandlerTask("fh")
    assert w.process_task(t)
    events = wait_for(w, all_final([t]))
    assert t.state is TaskState.DONE and t.result is True, t.traceback
    assert any("most recent call first" in line for line in _lines(events)), _lines(events)


def test_a_printed_line_comes_before_the_result(monitor_facade: FacadeFactory) -> None:
    w = monitor_facade()
    tasks = [PrintThenReturnTask(f"p{i}") for i in range(50)]
    for t in tasks:
        assert w.process_task(t)
    events = wait_for(w, all_final(tasks))
    events += w.poll_events(0.0)
    seen_line: set[str] = set()
    for event in events:
        if isinstance(event, WorkerLog) and event.message.startswith("line of "):
            seen_line.add(event.message.removeprefix("line of "))
        elif isinstance(event, TaskChanged) and event.state is TaskState.DONE:
            assert event.task_id in seen_line, f"{event.task_id} DONE before its line"


def test_a_huge_line_is_cut_not_held(monitor_facade: FacadeFactory) -> None:
    w = monitor_facade()
    t = LongLineTask("long", 3 * 1024 * 1024)
    assert w.process_task(t)
    events = wait_for(w, all_final([t]))
    events += w.poll_events(0.0)
    assert t.state is TaskState.DONE
    lines = _lines(events)
    assert "after the long line" in lines
    assert sum(len(line) for line in lines if line.startswith("x")) == 3 * 1024 * 1024
    assert max(len(line) for line in lines) <= 64 * 1024


def test_output_of_a_worker_that_dies_is_kept(
    monitor_facade: FacadeFactory, tmp_path: Path
) -> None:
    w = monitor_facade()
    t = ChildProcessTask(
        "echo-then-crash", str(tmp_path / "p"), ["sh", "-c", "echo last words"], then="wait-crash"
    )
    # The child's line is in the pipe when the worker dies: it must still arrive.
    assert w.process_task(t)
    events = wait_for(w, all_final([t]))
    events += wait_for(w, worker_dead(w))
    assert t.state is TaskState.CRASHED
    w.collect_tasks(timeout=10)
    events += w.poll_events(0.0)
    assert "last words" in _lines(events)


@pytest.mark.parametrize("how", ["close", "replace", "rewrap"])
def test_a_task_that_breaks_its_streams_does_not_break_the_next(
    monitor_facade: FacadeFactory, how: str
) -> None:
    w = monitor_facade()
    abuser = StreamAbuseTask("abuser", how)
    printer = PrintThenReturnTask("printer")
    assert w.process_task(abuser) and w.process_task(printer)
    events = wait_for(w, all_final([abuser, printer]))
    events += w.poll_events(0.0)
    assert abuser.state is TaskState.DONE and printer.state is TaskState.DONE, printer.error
    assert "line of printer" in _lines(events)


def test_a_flooding_child_does_not_starve_results(monitor_facade: FacadeFactory) -> None:
    """Results keep coming while a child the worker left behind floods fd 1 for ever (it
    is never read dry): each within a deadline, not a speed target. Measured by hand, a
    result took 0.13 to 0.38 s on an idle 2-core machine, 3.8 s under a load of 5."""
    w = monitor_facade()
    assert w.process_task(FloodTask("flood"))
    for n in range(3):
        t = SquareTask(f"sq-{n}", n)
        assert w.process_task(t)
        deadline = time.monotonic() + 30
        while not t.state.is_final and time.monotonic() < deadline:
            w.poll_events(0.05)
        assert t.state is TaskState.DONE, f"{t.ID} starved behind the flood"
    w.close()  # ends at once; pytest-timeout ends a close the flood would hold
    assert [t.state for t in w.collect_tasks()].count(TaskState.DONE) == 4


# == 6. a terminal that does not drain never stalls the facade =============================
def report_with_stuck_terminal(script: str, tmp_path: Path, *args: str) -> dict[str, Any]:
    """Runs a script whose stdout and stderr are one pipe nobody reads (it fills, as a
    paused pager's would), with stderr buffered as on most machines; returns the report
    it writes before it leaves."""
    result = tmp_path / "result.json"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    proc = run_script(
        script, str(result), *args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env
    )
    try:
        proc.wait(40)  # it leaves with os._exit once its report is written
    except subprocess.TimeoutExpired:
        pytest.fail(f"{script} stalled on its full terminal")
    finally:
        proc.kill()
        proc.communicate(timeout=30)
    report: dict[str, Any] = json.loads(result.read_text())
    return report


@pytest.mark.parametrize("mode", ["stdout", "console"])
def test_a_stuck_terminal_does_not_stall_the_facade(tmp_path: Path, mode: str) -> None:
    report = report_with_stuck_terminal("stuck_terminal", tmp_path, mode)
    assert report["states"] == {
        "flood": "DONE",
        "one-second": "DONE",
        "hang": "TIMED_OUT",
        "after": "DONE",
    }
    assert report["close_seconds"] < 3.0
    assert report["dropped"] > 0


def test_a_stuck_terminal_does_not_stop_a_worker_replacement_from_ending(
    tmp_path: Path,
) -> None:
    """Starting a process flushes stderr; with the terminal stuck, that flush never ends.
    The facade's I/O thread and its collect must not wait for it."""
    report = report_with_stuck_terminal("stuck_respawn", tmp_path)
    assert report["collect_seconds"] < 15
    states = report["states"]
    assert states["chatty"] == "DONE" and states["pause"] == "DONE"
    assert states["die"] == "CRASHED"
    assert states["after"] in ("DONE", "CANCELLED")


# == 7. Ctrl-C inside collect_tasks ========================================================
def interrupt_when_collecting(
    w: WorkingProcessFacade, signum: int = signal.SIGINT
) -> threading.Thread:
    """Sends ``signum`` to this process once ``w`` is collecting (a probe is refused so)."""

    def run() -> None:
        end = time.monotonic() + 20
        while time.monotonic() < end:
            probe = SimpleTask("probe", 0.0)
            if not w.process_task(probe) and "collecting" in (probe.error or ""):
                time.sleep(0.2)  # let the collect settle into its wait
                os.kill(os.getpid(), signum)
                return
            time.sleep(0.01)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_ctrl_c_in_a_with_block_collect_ends_promptly(monitor_facade: FacadeFactory) -> None:
    w = monitor_facade()
    w.process_task(SimpleTask("probe", 0.0))  # the probes' ID, taken: they are refused
    long = SimpleTask("long", 60.0)
    queued = SimpleTask("queued", 0.0)
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt), w:
        assert w.process_task(long) and w.process_task(queued)
        wait_for(w, in_state(long, TaskState.RUNNING))
        interrupt_when_collecting(w)
    assert time.monotonic() - start < 10
    assert long.state is TaskState.TIMED_OUT
    assert queued.state is TaskState.CANCELLED
    start = time.monotonic()
    w.close()
    assert time.monotonic() - start < 1.0


def test_an_interrupted_collect_can_be_collected_again(monitor_facade: FacadeFactory) -> None:
    w = monitor_facade()
    w.process_task(SimpleTask("probe", 0.0))
    long = SimpleTask("long", 60.0)
    assert w.process_task(long)
    wait_for(w, in_state(long, TaskState.RUNNING))
    interrupt_when_collecting(w)
    with pytest.raises(KeyboardInterrupt):
        w.collect_tasks()
    assert not w.process_task(SimpleTask("after", 0.0))  # still not accepting
    start = time.monotonic()
    tasks = w.collect_tasks(timeout=0.5)
    assert time.monotonic() - start < 5
    assert long in tasks and long.state is TaskState.TIMED_OUT


def test_sigterm_turned_into_systemexit_inside_collect(monitor_facade: FacadeFactory) -> None:
    def exit_now(signum: int, frame: object) -> None:
        raise SystemExit(143)

    previous = signal.signal(signal.SIGTERM, exit_now)
    try:
        w = monitor_facade()
        w.process_task(SimpleTask("probe", 0.0))
        long = SimpleTask("long", 60.0)
        assert w.process_task(long)
        wait_for(w, in_state(long, TaskState.RUNNING))
        interrupt_when_collecting(w, signal.SIGTERM)
        with pytest.raises(SystemExit):
            w.collect_tasks()
        closer = threading.Thread(target=w.close)
        closer.start()
        closer.join(5.0)
        assert not closer.is_alive(), "close() hung after an interrupted collect"
        assert long.state is TaskState.TIMED_OUT
    finally:
        signal.signal(signal.SIGTERM, previous)


# == 8. a worker never outlives its parent ================================================
@pytest.mark.parametrize("task", ["gil-hog", "subprocess"])
def test_workers_end_when_the_parent_is_sigkilled(task: str) -> None:
    proc = run_script("parent_to_kill", task, stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line, "the parent script printed nothing"
        pids = json.loads(line)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        wait_pids_gone(pids, deadline=3.0)
    finally:
        proc.kill()
        proc.communicate(timeout=30)


@pytest.mark.parametrize("start_method", ["forkserver", "fork"])
def test_a_worker_whose_parent_is_not_the_facade_lives_on(
    monitor_facade: FacadeFactory, start_method: str
) -> None:
    """A forkserver's workers are its children, not the facade's: the parent watch must
    not take that for the parent's death (it ended them after 2 s)."""
    w = monitor_facade(start_method=start_method)
    t = SimpleTask("outlasts-the-watch", 2.5)
    assert w.process_task(t)
    wait_for(w, all_final([t]))
    assert t.state is TaskState.DONE, t.error


def test_a_facade_made_in_a_thread_that_ends_keeps_its_workers(
    monitor_facade: FacadeFactory,
) -> None:
    made: list[WorkingProcessFacade] = []
    maker = threading.Thread(target=lambda: made.append(monitor_facade()))
    maker.start()
    maker.join(30)
    (w,) = made
    wait_for(w, worker_ready(w), deadline=30)
    restarter = threading.Thread(target=w.restart_worker)  # a no-op: nothing is dead
    restarter.start()
    restarter.join(10)
    t = SimpleTask("after-the-thread", 0.3)
    assert w.process_task(t)
    wait_for(w, all_final([t]))
    assert t.state is TaskState.DONE, t.error


# == 9. a caller that never polls does not keep every event for ever =======================
def test_unpolled_events_are_bounded(
    monitor_facade: FacadeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.core import book
    from app.core.events import EventsDropped

    monkeypatch.setattr(book, "MAX_UNPOLLED_EVENTS", 1000)
    w = monitor_facade()
    tasks = [SquareTask(f"s{i}", i) for i in range(3000)]
    for t in tasks:
        assert w.process_task(t)
    w.collect_tasks(timeout=60)
    events = w.poll_events(0.0)
    assert isinstance(events[0], EventsDropped) and events[0].count > 0
    assert 900 <= len(events) <= 1001
    # The newest are kept: the last task's final state is there.
    assert any(isinstance(e, TaskChanged) and e.task_id == "s2999" for e in events)
    assert all(t.state is TaskState.DONE for t in tasks)  # the tasks themselves are intact


def test_unpolled_log_text_is_bounded(
    monitor_facade: FacadeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Long lines reach the bound on text long before the bound on events."""
    from app.core import book
    from app.core.events import EventsDropped

    monkeypatch.setattr(book, "MAX_UNPOLLED_TEXT", 1 << 20)
    w = monitor_facade()
    t = LongLineTask("long", 8 << 20)  # 128 pieces of 64 KiB
    assert w.process_task(t)
    w.collect_tasks(timeout=60)
    events = w.poll_events(0.0)
    assert t.state is TaskState.DONE
    assert isinstance(events[0], EventsDropped) and events[0].count > 0
    assert sum(len(e.message) for e in events if isinstance(e, WorkerLog)) <= 1 << 20
    assert "after the long line" in _lines(events)  # the newest are kept


def test_a_regular_poller_never_sees_a_drop(
    monitor_facade: FacadeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.core import book
    from app.core.events import EventsDropped

    monkeypatch.setattr(book, "MAX_UNPOLLED_EVENTS", 1000)
    w = monitor_facade()
    seen: list[Any] = []
    for round_ in range(15):  # each round makes about 600 events: fewer than the bound
        tasks = [SquareTask(f"s{round_}-{i}", i) for i in range(200)]
        for t in tasks:
            w.process_task(t)
        wait_for(w, all_final(tasks), into=seen)
    w.collect_tasks(timeout=60)
    seen += w.poll_events(0.0)
    assert not any(isinstance(e, EventsDropped) for e in seen)
    done = {e.task_id for e in seen if isinstance(e, TaskChanged) and e.state is TaskState.DONE}
    assert len(done) == 3000
