"""The Stack button: the selected running task's worker stacks, asked off the GUI thread
and shown in the Task pane; disabled, saying why, where there is nothing to ask."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from pytestqt.qtbot import QtBot

from app.core import SimpleTask, WorkingProcessFacade
from app.core.task import CallTask
from app.gui.main_window import MainWindow
from app.gui.stack_taker import STACK_TIMEOUT
from app.testing import WindowFactory
from tests.core import stack_tasks
from tests.gui.helpers import DEADLINE_MS, click, enabled, select_task, submit, wait_state

pytestmark = pytest.mark.timeout(90)


def _button_tip(window: MainWindow) -> str:
    return window.table_bar.stack.toolTip()


def test_stack_of_a_running_task_shows_in_the_task_pane(qtbot: QtBot, window: MainWindow) -> None:
    submit(qtbot, window, "long", 60.0)
    submit(qtbot, window, "queued", 0.0)
    wait_state(qtbot, window, "long", "RUNNING")
    assert not enabled(window, "stackButton")  # nothing selected
    select_task(qtbot, window, "queued")
    assert not enabled(window, "stackButton")
    assert "only a running task has a stack" in _button_tip(window)

    select_task(qtbot, window, "long")
    qtbot.waitUntil(lambda: enabled(window, "stackButton"), timeout=DEADLINE_MS)
    gui_thread = threading.get_ident()
    asked_from: list[int] = []
    real_stack = window.facade.stack

    def stack(task_id: str, timeout: float = 1.0) -> str:
        asked_from.append(threading.get_ident())
        return real_stack(task_id, timeout)

    window.facade.stack = stack  # type: ignore[method-assign]
    click(qtbot, window, "stackButton")
    qtbot.waitUntil(lambda: "stack (taken at" in window.details.toPlainText(), timeout=DEADLINE_MS)
    text = window.details.toPlainText()
    assert "Thread 'MainThread'" in text and ", in do_task" in text, text
    assert "time.sleep(remaining)" in text
    assert asked_from and gui_thread not in asked_from  # never on the GUI thread
    assert "stack of long shown" in window.controls.message.text()
    assert "w.stack('long')" in window.controls.code.text()
    qtbot.waitUntil(lambda: enabled(window, "stackButton"), timeout=DEADLINE_MS)

    window.facade.cancel("long", force=True)
    wait_state(qtbot, window, "long", "CANCELLED")
    qtbot.waitUntil(lambda: not enabled(window, "stackButton"), timeout=DEADLINE_MS)
    assert "stack (taken at" in window.details.toPlainText()  # kept once it ended
    wait_state(qtbot, window, "queued", "DONE")


def _gil_holder_running(qtbot: QtBot, window: MainWindow) -> None:
    """A task in one long C call, selected: its worker cannot answer."""
    task = CallTask("gil", stack_tasks.hold_the_gil, (40,), {})
    assert window.facade.process_task(task)
    wait_state(qtbot, window, "gil", "RUNNING")
    select_task(qtbot, window, "gil")
    qtbot.waitUntil(lambda: enabled(window, "stackButton"), timeout=DEADLINE_MS)


def test_a_worker_that_cannot_answer_leaves_the_window_responsive(
    qtbot: QtBot, window: MainWindow
) -> None:
    _gil_holder_running(qtbot, window)
    end = time.monotonic() + DEADLINE_MS / 1000
    while "did not answer" not in window.details.toPlainText():
        assert time.monotonic() < end, window.details.toPlainText()
        if enabled(window, "stackButton"):
            click(qtbot, window, "stackButton")  # until one asks inside the C call
        ticks = 0

        def tick() -> None:
            nonlocal ticks
            ticks += 1

        timer = QTimer(window)
        timer.timeout.connect(tick)
        timer.start(10)
        qtbot.waitUntil(lambda: window.stack_taker.asking is False, timeout=DEADLINE_MS)
        timer.stop()
        if "did not answer" in window.details.toPlainText():
            assert ticks > 20  # the GUI thread ran its timer all through the wait
    text = window.details.toPlainText()
    assert "stack: not taken at" in text and f"within {STACK_TIMEOUT} s" in text, text
    assert "no stack:" in window.controls.message.text()
    window.facade.cancel("gil", force=True)
    wait_state(qtbot, window, "gil", "CANCELLED")


def test_a_window_closed_while_a_stack_is_asked_waits_for_it(
    qtbot: QtBot, monitor_window: WindowFactory
) -> None:
    window = monitor_window(workers=1)
    _gil_holder_running(qtbot, window)
    click(qtbot, window, "stackButton")
    assert window.stack_taker.asking
    assert not enabled(window, "stackButton")
    assert "being taken" in _button_tip(window)
    started = time.monotonic()
    window.shutdown()  # ends the run, so the request fails at once, and waits for it
    assert not window.stack_taker.asking
    assert time.monotonic() - started < STACK_TIMEOUT
    window.close()


def test_a_recorded_window_has_no_stack_button_to_press(
    qtbot: QtBot, monitor_window: WindowFactory, tmp_path: Path
) -> None:
    path = tmp_path / "run.jsonl"
    with WorkingProcessFacade(record=path) as w:
        w.process_task(SimpleTask("one", 0.0))
    window = monitor_window(run_file=path)
    select_task(qtbot, window, "one")
    window.refresh_details()
    assert not enabled(window, "stackButton")
    assert "recording of the past" in _button_tip(window)
    assert "cannot be asked for their stacks" in _button_tip(window)


def test_an_answer_for_the_last_run_is_not_shown_in_the_new_one(
    qtbot: QtBot, window: MainWindow
) -> None:
    """A new run may reuse the task IDs of the last: its answer is dropped."""
    _gil_holder_running(qtbot, window)
    click(qtbot, window, "stackButton")
    window.begin_run()
    # Not asking any more once the answer (a failure: the old run's worker was killed)
    # has been handled.
    qtbot.waitUntil(lambda: window.stack_taker.asking is False, timeout=DEADLINE_MS)
    assert window.stack_taker.section("gil") is None
    submit(qtbot, window, "gil", 60.0)
    wait_state(qtbot, window, "gil", "RUNNING")
    select_task(qtbot, window, "gil")
    window.refresh_details()
    text = window.details.toPlainText()
    assert "stack (taken" not in text and "stack:" not in text, text
    window.facade.cancel("gil", force=True)
    wait_state(qtbot, window, "gil", "CANCELLED")
