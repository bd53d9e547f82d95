"""Races the facade must win: cancel against a worker claiming, close against a collect."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from app.core import CrashTask, SimpleTask, TaskState
from app.core import engine as engine_module
from app.testing import FacadeFactory
from tests.core.helpers import all_final, in_state, wait_for
from tests.core.tasks_for_tests import TouchTask


@pytest.mark.timeout(120)
def test_cancel_racing_the_worker_either_cancels_or_runs_never_both(
    monitor_facade: FacadeFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cancels sweep back from the end of the queue into the tasks a worker already holds.

    Each cancel that returns True must leave a task that never ran; each one that returns
    False must leave a task that ran. Rounds go on until cancels have both won and lost
    against the worker's own claim (the path where the two really race).
    """
    outcomes: list[bool] = []
    unclaim = engine_module.Engine._unclaim

    def spy(self: engine_module.Engine, h: object, task: object) -> bool:
        won = unclaim(self, h, task)  # type: ignore[arg-type]
        outcomes.append(won)
        return won

    monkeypatch.setattr(engine_module.Engine, "_unclaim", spy)
    w = monitor_facade()
    tasks: list[TouchTask] = []
    cancelled: set[str] = set()
    end = time.monotonic() + 60
    rounds = 0
    while not (True in outcomes and False in outcomes) and time.monotonic() < end:
        batch = [TouchTask(f"r{rounds}-{i}", str(tmp_path / f"r{rounds}-{i}")) for i in range(400)]
        for t in batch:
            assert w.process_task(t)
        for t in reversed(batch):
            if w.cancel(t.ID):
                cancelled.add(t.ID)
        wait_for(w, all_final(batch), deadline=30)
        tasks.extend(batch)
        rounds += 1
    won, lost = outcomes.count(True), outcomes.count(False)
    print(f"{rounds} rounds; cancels against a worker's claim: {won} won, {lost} lost")
    assert True in outcomes, "no cancel ever won against a worker holding the task"
    for t in tasks:
        ran = (tmp_path / t.ID).exists()
        if t.ID in cancelled:
            assert t.state is TaskState.CANCELLED and not ran, t
        else:
            assert t.state is TaskState.DONE and ran, t


@pytest.mark.timeout(60)
def test_close_ends_a_collect_waiting_in_another_thread(monitor_facade: FacadeFactory) -> None:
    w = monitor_facade()
    hang = CrashTask("hang", "hang")
    queued = SimpleTask("queued", 0.0)
    assert w.process_task(hang) and w.process_task(queued)
    wait_for(w, in_state(hang, TaskState.RUNNING))
    collected: list[object] = []
    collector = threading.Thread(target=lambda: collected.append(w.collect_tasks()))
    collector.start()
    probe = SimpleTask("probe", 0.0)
    wait_for(w, lambda: not w.process_task(probe), what="collect has begun")
    started = time.monotonic()
    w.close()
    assert time.monotonic() - started < 5.0
    collector.join(5.0)
    assert not collector.is_alive()
    assert collected == [[hang, queued]]
    assert hang.state is TaskState.TIMED_OUT
    assert queued.state is TaskState.CANCELLED
