"""RunController under hostile timing: new runs, collects and kills on top of each other."""

from __future__ import annotations

import pytest
from pytestqt.qtbot import QtBot

from app.core import SimpleTask, TaskState
from app.gui.run_controller import COLLECTED, COLLECTING, RUNNING
from app.testing import WindowFactory
from tests.gui.helpers import DEADLINE_MS, choose_crash, click, state, wait_collected


@pytest.mark.timeout(60)
def test_a_replaced_runs_collect_never_ends_the_next_runs_collect(
    qtbot: QtBot, monitor_window: WindowFactory
) -> None:
    """New run during a collect, then Collect at once (a script does both in one go): the
    old collect thread's ``finished`` is still queued, and must not reap the new collect
    (that waited on it in the GUI thread, frozen until the new collect ended)."""
    window = monitor_window()
    window.controls.collect_timeout.setValue(5.0)  # bounds the freeze the bug caused
    window.facade.process_task(SimpleTask("long", 600.0))
    qtbot.waitUntil(lambda: state(window, "long") == "RUNNING", timeout=DEADLINE_MS)
    window.controller.collect()
    window.begin_run()
    window.facade.process_task(SimpleTask("long", 600.0))
    window.controller.collect()
    qtbot.waitUntil(lambda: state(window, "long") == "RUNNING", timeout=DEADLINE_MS)
    assert window.controller.mode == COLLECTING
    wait_collected(qtbot, window)
    assert state(window, "long") == "TIMED_OUT"


@pytest.mark.timeout(60)
def test_new_run_during_a_bulk_submit(qtbot: QtBot, monitor_window: WindowFactory) -> None:
    window = monitor_window()
    window.submit_many(100_000, 0.0)
    qtbot.waitUntil(lambda: len(window.facade.tasks) > 100, timeout=DEADLINE_MS)
    old = window.facade
    window.begin_run()
    assert window.facade is not old
    window.submit_many(5, 0.0)
    qtbot.waitUntil(lambda: len(window.facade.tasks) == 5, timeout=DEADLINE_MS)
    qtbot.waitUntil(lambda: window.model.counts[TaskState.DONE] == 5, timeout=DEADLINE_MS)
    assert [t.ID for t in window.facade.tasks] == [f"task-{n}" for n in range(1, 6)]
    # rows are inserted at the table's pace, a moment after the counts
    qtbot.waitUntil(lambda: window.model.rowCount() == 5, timeout=DEADLINE_MS)


@pytest.mark.timeout(60)
def test_begin_run_twice_in_a_row(qtbot: QtBot, monitor_window: WindowFactory) -> None:
    window = monitor_window(workers=2)
    window.begin_run()
    window.begin_run(workers=1)
    assert window.controller.mode == RUNNING
    window.facade.process_task(SimpleTask("after", 0.0))
    qtbot.waitUntil(lambda: state(window, "after") == "DONE", timeout=DEADLINE_MS)


@pytest.mark.timeout(60)
def test_kill_now_and_crash_clicked_many_times(qtbot: QtBot, monitor_window: WindowFactory) -> None:
    window = monitor_window(workers=2)
    choose_crash(window, "kill the worker now")
    for _ in range(20):
        click(qtbot, window, "crashButton")
    qtbot.waitUntil(lambda: window.facade.worker_info()[0].alive is False, timeout=DEADLINE_MS)
    window.facade.process_task(SimpleTask("long", 600.0))
    window.controller.collect()
    for _ in range(20):
        window.controller.kill_now()
    wait_collected(qtbot, window)
    assert window.controller.mode == COLLECTED


@pytest.mark.timeout(60)
def test_collect_with_timeout_during_bulk_submit(
    qtbot: QtBot, monitor_window: WindowFactory
) -> None:
    window = monitor_window()
    window.controls.collect_timeout.setValue(0.5)
    window.submit_many(100_000, 0.0)
    qtbot.waitUntil(lambda: len(window.facade.tasks) > 100, timeout=DEADLINE_MS)
    window.controller.collect()
    wait_collected(qtbot, window)
    tasks = window.facade.tasks
    assert all(t.state in (TaskState.DONE, TaskState.CANCELLED, TaskState.TIMED_OUT) for t in tasks)
    qtbot.waitUntil(lambda: window.model.rowCount() == len(tasks), timeout=DEADLINE_MS)


@pytest.mark.timeout(60)
def test_new_run_during_a_scenario_ends_the_scenario(
    qtbot: QtBot, monitor_window: WindowFactory
) -> None:
    """New run between a scenario's collects: the scenario stops there, instead of going on
    in the user's new run (collecting it, and sending its own tasks into it)."""
    window = monitor_window()
    controller = window.controller
    running_then: list[bool] = []

    def new_run_at_the_first_collected(mode: str) -> None:
        # Called as the first collect ends, before the player's next tick: its second
        # and third collects are still to come, whatever the machine's load.
        if mode == COLLECTED and not running_then:
            running_then.append(window.scenario_player.running)
            window.begin_run()

    controller.mode_changed.connect(new_run_at_the_first_collected)
    window.scenario_player.start("several-collects")
    qtbot.waitUntil(lambda: bool(running_then), timeout=DEADLINE_MS)
    controller.mode_changed.disconnect(new_run_at_the_first_collected)
    assert running_then == [True]
    assert not window.scenario_player.running
    window.facade.process_task(SimpleTask("mine", 0.0))
    qtbot.waitUntil(lambda: state(window, "mine") == "DONE", timeout=DEADLINE_MS)
    assert controller.mode == RUNNING
    assert [t.ID for t in window.facade.tasks] == ["mine"]
