"""Every ``WorkerDied`` the local facade emits says why the worker ended (``reason``), and
the console's line for the death says it too."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import pytest

from app.core import TaskState, WorkerDied, WorkingProcessFacade
from app.core.events import KILL_CAUSES
from app.core.handle import KillReason
from app.core.task import CallTask, Task
from app.teaching.explain import deaths_in, explain
from app.testing import FacadeFactory
from tests.core.calls_for_tests import die, sleep_for, wait_for_file
from tests.core.helpers import all_final, in_state, wait_for

DEADLINE = 30.0


def _deaths(events: list[Any]) -> list[WorkerDied]:
    return [e for e in events if isinstance(e, WorkerDied)]


def _accepting(facade: WorkingProcessFacade) -> bool:
    """Whether the facade still takes work: restarting no dead worker is harmless, and it
    refuses once a collect has begun."""
    try:
        return facade.restart_worker() == 0
    except RuntimeError:
        return False


def test_crashed_timeout_and_forced_cancel(
    monitor_facade: FacadeFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "app.core")
    facade = monitor_facade(1, restart=True)
    crash = facade.submit(die, 3)
    assert crash.exception(DEADLINE) is not None
    events = wait_for(facade, all_final(facade.tasks), DEADLINE)
    hang = CallTask("hang", sleep_for, (60,), {})
    hang.timeout = 0.3
    facade.process_task(hang)
    held = facade.submit(wait_for_file, str(tmp_path / "never"))
    events += wait_for(facade, lambda: facade.task("hang").state.is_final, DEADLINE)
    events += wait_for(facade, in_state(facade.task(held.task_id), TaskState.RUNNING), DEADLINE)
    assert facade.cancel(held.task_id, force=True)
    events += wait_for(facade, all_final(facade.tasks), DEADLINE)
    tasks = facade.collect_tasks(DEADLINE)
    events += facade.poll_events()
    assert [t.state for t in tasks] == [
        TaskState.CRASHED,
        TaskState.TIMED_OUT,
        TaskState.CANCELLED,
    ]
    deaths = _deaths(events)
    assert [d.reason for d in deaths] == ["crashed", "timeout", "killed", "stopped"]
    assert [d.cause for d in deaths] == [None, "timeout", "cancel", "stop"]
    said = [r.getMessage() for r in caplog.records]
    assert any("exited with code 3 while running 'die-1' (crashed)" in s for s in said)


def test_a_collect_that_runs_out_and_a_close_kill(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Both are told on the console too, with what ended the job: after Collect and Kill
    now, the console had said nothing of the two deaths."""
    caplog.set_level(logging.INFO, "app.core")
    facade = WorkingProcessFacade(2)
    try:
        busy = [facade.submit(wait_for_file, str(tmp_path / "never")) for _ in range(2)]
        events = wait_for(
            facade,
            lambda: all(facade.task(f.task_id).state is TaskState.RUNNING for f in busy),
            DEADLINE,
        )
        tasks = facade.collect_tasks(timeout=0.2)
        events += facade.poll_events()
        assert [t.state for t in tasks] == [TaskState.TIMED_OUT] * 2
        assert [(d.reason, d.cause) for d in _deaths(events)] == [("killed", "collect")] * 2
        assert "ended: collect_tasks(timeout=0.2) ran out;" in (tasks[0].error or "")
    finally:
        facade.close()
    closing = WorkingProcessFacade(1)
    try:
        held = closing.submit(wait_for_file, str(tmp_path / "never"))
        wait_for(closing, in_state(closing.task(held.task_id), TaskState.RUNNING), DEADLINE)
    finally:
        closing.close()
    assert [(d.reason, d.cause) for d in _deaths(closing.poll_events())] == [("killed", "close")]
    assert closing.task(held.task_id).state is TaskState.TIMED_OUT
    said = [r.getMessage() for r in caplog.records if " killed while running " in r.getMessage()]
    ran_out = [s for s in said if s.endswith(": collect_tasks ran out")]
    assert sorted(s.split("'")[1] for s in ran_out) == sorted(f.task_id for f in busy), said
    closed = [s for s in said if s.endswith(": the facade was closed")]
    assert [s.split("'")[1] for s in closed] == [held.task_id], said


def test_kill_now_is_told_as_such(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The window's Kill now is close() while another thread's collect_tasks waits: the
    death, the task's error, the console and the explainer all say so, and none says a
    timeout ran out (the story a learner was told when no timeout was set)."""
    caplog.set_level(logging.INFO, "app.core")
    facade = WorkingProcessFacade(1)
    collected: list[list[Task]] = []
    try:
        held = facade.submit(wait_for_file, str(tmp_path / "never"))
        facade.submit(sleep_for, 0.0)
        events = wait_for(facade, in_state(facade.task(held.task_id), TaskState.RUNNING), DEADLINE)
        collector = threading.Thread(target=lambda: collected.append(facade.collect_tasks()))
        collector.start()
        wait_for(facade, lambda: not _accepting(facade), DEADLINE)  # the collect began
        facade.close()
        collector.join(DEADLINE)
        assert not collector.is_alive()
        events += facade.poll_events()
    finally:
        facade.close()
    running, waiting = collected[0]
    assert (running.state, waiting.state) == (TaskState.TIMED_OUT, TaskState.CANCELLED)
    assert "Kill now" in (running.error or "") and "Kill now" in (waiting.error or "")
    deaths = _deaths(events)
    assert [(d.reason, d.cause) for d in deaths] == [("killed", "kill now")]
    said = [r.getMessage() for r in caplog.records if " killed while running " in r.getMessage()]
    assert [s.split(": ", 1)[1] for s in said] == [
        "close() was called while collect_tasks waited (Kill now)"
    ]
    story = explain(deaths_in(events)[0], workers_left=False, restart=False)
    assert "Kill now called close() while collect_tasks waited" in story
    assert "ran past its timeout" not in story
    assert f"Stopped: {held.task_id!r} was running; it ends TIMED_OUT." in story
    assert "Blamed" not in story and "BrokenProcessPool" not in story


def test_the_explainer_tells_a_recycling_and_an_initializer_failure_apart() -> None:
    recycled = WorkerDied(0, 11, 0, None, 1.0, "recycled")
    story = explain(deaths_in([recycled])[0], workers_left=True, restart=False)
    assert "recycled: not a crash" in story and "Blamed" not in story
    assert "exit code 0" in story
    failed = WorkerDied(1, 12, 1, None, 2.0, "initializer failed")
    story = explain(deaths_in([failed])[0], workers_left=False, restart=True)
    assert "its initializer failed" in story and "not restarted" in story
    assert "Blamed" not in story and "BrokenProcessPool" in story
    crashed = WorkerDied(1, 13, 3, None, 3.0)
    story = explain(deaths_in([crashed])[0], workers_left=True, restart=True)
    assert "died: exit code 3" in story


def test_every_kill_reason_is_a_documented_cause() -> None:
    assert sorted(reason.value for reason in KillReason) == sorted(KILL_CAUSES)
