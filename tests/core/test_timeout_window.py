"""Between a timeout's SIGKILL and the death being handled, the worker is on its way to
being replaced: tasks sent then are queued for the replacement, never LOST, and a collect
waiting meanwhile does not give up on them."""

from __future__ import annotations

import threading
import time

import pytest

from app.core import CrashTask, SimpleTask, TaskState
from app.testing import FacadeFactory
from tests.core.helpers import all_final, in_state, wait_for


@pytest.mark.timeout(60)
def test_tasks_sent_while_a_timed_out_worker_dies_are_not_lost(
    monitor_facade: FacadeFactory,
) -> None:
    w = monitor_facade()
    hang = CrashTask("hang", "hang", timeout=0.5)
    assert w.process_task(hang)
    wait_for(w, in_state(hang, TaskState.RUNNING))
    sent = []
    end = time.monotonic() + 1.5  # sends before, during and after the kill at 0.5 s
    while time.monotonic() < end:
        task = SimpleTask(f"t{len(sent)}", 0.0)
        assert w.process_task(task), task.error
        sent.append(task)
        w.poll_events(0.001)
    wait_for(w, all_final([hang, *sent]), deadline=30)
    assert hang.state is TaskState.TIMED_OUT
    assert {t.state for t in sent} == {TaskState.DONE}


@pytest.mark.timeout(60)
def test_collect_waiting_while_a_timed_out_worker_dies_keeps_the_queue(
    monitor_facade: FacadeFactory,
) -> None:
    for _ in range(5):  # the window is short: look at it several times
        w = monitor_facade()
        hang = CrashTask("hang", "hang", timeout=0.3)
        after = SimpleTask("after", 0.0)
        assert w.process_task(hang) and w.process_task(after)
        collector = threading.Thread(target=w.collect_tasks)
        collector.start()
        collector.join(30)
        assert not collector.is_alive()
        assert hang.state is TaskState.TIMED_OUT
        assert after.state is TaskState.DONE, after.error
