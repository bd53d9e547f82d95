"""Crash, kill, restart, cancel, resubmit, collect and new run, through the buttons."""

from __future__ import annotations

import itertools
import logging
import os
import signal
import threading
import time

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QLabel,
    QPlainTextEdit,
)
from pytestqt.qtbot import QtBot

from app.core import WorkerDied
from app.gui import MainWindow
from app.gui.poller import FacadePoller
from app.gui.timeline_marks import end_tooltip
from tests.gui.helpers import (
    DEADLINE_MS,
    child,
    choose_crash,
    click,
    enabled,
    select_task,
    shown_ids,
    shown_row,
    state,
    submit,
    table_model,
    wait_collected,
    wait_state,
    worker_states,
)

# The crash combo's text, and how the worker panel then tells the death.
DYING_WAYS = {
    "exception": "exit code 1",
    "exit code 3": "exit code 3",
    "exit code 0": "exit code 0",
    "SIGKILL": "SIGKILL",
    "segfault": "SIGSEGV",
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("way", list(DYING_WAYS))
def test_crash_each_way_then_collect(qtbot: QtBot, window: MainWindow, way: str) -> None:
    choose_crash(window, way)
    click(qtbot, window, "crashButton")
    wait_state(qtbot, window, "crash-1", "CRASHED", "DONE", "FAILED", "LOST", "TIMED_OUT")
    assert state(window, "crash-1") == "CRASHED"
    # "dead" as soon as the facade sees it; why, once the WorkerDied event is in.
    death = f"crashed: {DYING_WAYS[way]}"
    qtbot.waitUntil(lambda: worker_states(window)[0] == death, timeout=DEADLINE_MS)
    select_task(qtbot, window, "crash-1")
    details = child(window, QPlainTextEdit, "detailsView")
    qtbot.waitUntil(lambda: "CRASHED" in details.toPlainText(), timeout=DEADLINE_MS)
    click(qtbot, window, "collectButton")
    wait_collected(qtbot, window)
    assert state(window, "crash-1") == "CRASHED"


@pytest.mark.timeout(60)
def test_crash_by_hanging_then_collect_with_timeout(qtbot: QtBot, window: MainWindow) -> None:
    choose_crash(window, "hang")
    click(qtbot, window, "crashButton")
    wait_state(qtbot, window, "crash-1", "RUNNING")
    child(window, QDoubleSpinBox, "collectTimeoutSpin").setValue(0.5)
    click(qtbot, window, "collectButton")
    assert enabled(window, "killNowButton")  # collecting, with a way out
    wait_collected(qtbot, window)
    wait_state(qtbot, window, "crash-1", "TIMED_OUT")


@pytest.mark.timeout(60)
def test_kill_the_worker_now_crashes_the_running_task(qtbot: QtBot, window: MainWindow) -> None:
    submit(qtbot, window, "long", 30.0)
    wait_state(qtbot, window, "long", "RUNNING")
    choose_crash(window, "kill the worker now")
    click(qtbot, window, "crashButton")
    wait_state(qtbot, window, "long", "CRASHED", "DONE", "TIMED_OUT", "LOST")
    assert state(window, "long") == "CRASHED"
    qtbot.waitUntil(lambda: worker_states(window)[0] == "crashed: SIGKILL", timeout=DEADLINE_MS)
    assert shown_ids(window) == ["long"]  # no crash task: the kill came from outside


@pytest.mark.timeout(60)
def test_restart_requeues_lost_tasks(qtbot: QtBot, window: MainWindow) -> None:
    qtbot.waitUntil(lambda: worker_states(window)[0] == "idle", timeout=DEADLINE_MS)
    choose_crash(window, "kill the worker now")
    click(qtbot, window, "crashButton")
    qtbot.waitUntil(
        lambda: worker_states(window)[0].startswith(("dead", "crashed")), timeout=DEADLINE_MS
    )
    submit(qtbot, window, "orphan", 0.1)
    wait_state(qtbot, window, "orphan", "LOST")
    assert "LOST" in child(window, QLabel, "submitMessage").text()
    click(qtbot, window, "restartButton")
    wait_state(qtbot, window, "orphan", "DONE")
    qtbot.waitUntil(lambda: worker_states(window)[0] == "idle", timeout=DEADLINE_MS)
    assert shown_ids(window) == ["orphan"]


@pytest.mark.timeout(60)
def test_restart_with_every_worker_alive_says_so(qtbot: QtBot, window: MainWindow) -> None:
    qtbot.waitUntil(lambda: worker_states(window)[0] == "idle", timeout=DEADLINE_MS)
    click(qtbot, window, "restartButton")
    assert "nothing to restart" in child(window, QLabel, "submitMessage").text()


@pytest.mark.timeout(60)
def test_cancel_and_resubmit_selected_rows(qtbot: QtBot, window: MainWindow) -> None:
    submit(qtbot, window, "first", 2.0)
    submit(qtbot, window, "second", 0.0)
    wait_state(qtbot, window, "first", "RUNNING")
    wait_state(qtbot, window, "second", "PENDING")

    select_task(qtbot, window, "first")  # running: cannot be cancelled
    click(qtbot, window, "cancelButton")
    assert "could not be" in child(window, QLabel, "submitMessage").text()
    assert state(window, "first") == "RUNNING"

    select_task(qtbot, window, "second")
    click(qtbot, window, "cancelButton")
    wait_state(qtbot, window, "second", "CANCELLED")
    attempts_before = table_model(window).index(shown_row(window, "second"), 3).data()

    select_task(qtbot, window, "second")
    click(qtbot, window, "resubmitButton")
    wait_state(qtbot, window, "second", "PENDING", "RUNNING", "DONE")
    wait_state(qtbot, window, "first", "DONE")
    wait_state(qtbot, window, "second", "DONE")
    attempts_after = table_model(window).index(shown_row(window, "second"), 3).data()
    assert (attempts_before, attempts_after) == ("1", "2")

    select_task(qtbot, window, "second")  # DONE: nothing to resubmit
    click(qtbot, window, "resubmitButton")
    assert "could not be" in child(window, QLabel, "submitMessage").text()


@pytest.mark.timeout(60)
def test_collect_keeps_the_gui_live_and_kill_now_ends_it(
    qtbot: QtBot, window: MainWindow, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "app.core")  # the window's console level
    submit(qtbot, window, "long", 30.0)
    wait_state(qtbot, window, "long", "RUNNING")
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(20)
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start()
    try:
        click(qtbot, window, "collectButton")  # no collect timeout: it would wait 30 s
        assert enabled(window, "killNowButton")
        assert not enabled(window, "collectButton")
        assert not enabled(window, "newRunButton")
        qtbot.waitUntil(lambda: len(ticks) >= 25, timeout=DEADLINE_MS)
        assert state(window, "long") == "RUNNING"  # the collect still waits for it
        assert not enabled(window, "newRunButton")
        gaps = [b - a for a, b in itertools.pairwise(ticks)]
        assert max(gaps) < 1.0, f"the event loop stalled {max(gaps):.3f} s while collecting"
        click(qtbot, window, "killNowButton")
        wait_collected(qtbot, window)
        wait_state(qtbot, window, "long", "TIMED_OUT")
        assert not enabled(window, "killNowButton")
        # Told as what it was: Kill now, not a timeout (no timeout was set).
        qtbot.waitUntil(lambda: "Kill now" in window.explainer.toPlainText(), timeout=DEADLINE_MS)
        story = window.explainer.toPlainText()
        assert "Kill now called close() while collect_tasks waited" in story
        assert "ran past its timeout" not in story and "Blamed" not in story
        said = "killed while running 'long': close() was called while collect_tasks waited"
        qtbot.waitUntil(lambda: said in window.console.text.toPlainText(), timeout=DEADLINE_MS)
        assert worker_states(window)[0] == "killed: Kill now"
        timeline = window.timeline.timeline
        assert timeline is not None
        (lane,) = [lane for lane in timeline.lanes if lane.end is not None]
        assert "killed: Kill now (SIGKILL)" in end_tooltip(lane, lane.start)
    finally:
        timer.stop()


@pytest.mark.timeout(60)
def test_new_run_after_collect_has_a_fresh_facade(qtbot: QtBot, window: MainWindow) -> None:
    assert not enabled(window, "newRunButton")
    submit(qtbot, window, "old", 0.0)
    wait_state(qtbot, window, "old", "DONE")
    click(qtbot, window, "collectButton")
    wait_collected(qtbot, window)
    old = window.facade
    assert shown_ids(window) == ["old"]  # final states stay visible after a collect
    click(qtbot, window, "newRunButton")
    assert window.facade is not old
    assert shown_ids(window) == []
    assert enabled(window, "submitButton")
    assert not enabled(window, "newRunButton")
    submit(qtbot, window, "", 0.0)
    submit(qtbot, window, "old", 0.0)  # a new run: the old IDs are free again
    wait_state(qtbot, window, "task-1", "DONE")
    wait_state(qtbot, window, "old", "DONE")
    assert shown_ids(window) == ["task-1", "old"]
    assert [t.ID for t in old.tasks] == ["old"]


@pytest.mark.timeout(60)
def test_a_replaced_runs_last_batch_never_reaches_the_new_run(
    qtbot: QtBot, window: MainWindow
) -> None:
    """The old poller's death batch, still queued when a new run starts, is dropped: it
    would mark the new run's task of the same ID CRASHED and explain a death it never had."""
    submit(qtbot, window, "long", 60.0)
    wait_state(qtbot, window, "long", "RUNNING")
    poller = next(p for p in window.findChildren(FacadePoller) if p.isRunning())
    death_emitted = threading.Event()

    def seen(events: list[object]) -> None:  # runs in the poller's thread
        if any(isinstance(e, WorkerDied) for e in events):
            death_emitted.set()

    poller.events_polled.connect(seen, Qt.ConnectionType.DirectConnection)
    (pid,) = [i.pid for i in window.facade.worker_info() if i.pid is not None]
    os.kill(pid, signal.SIGKILL)
    # The GUI thread does not run its event loop meanwhile: the batch stays queued.
    assert death_emitted.wait(10), "the poller never read the worker's death"
    window.controller.begin_run()
    submit(qtbot, window, "long", 60.0)
    # The stale batch was queued before these waits began: they deliver it first.
    wait_state(qtbot, window, "long", "RUNNING")
    qtbot.waitUntil(lambda: worker_states(window) == ["busy on long"], timeout=DEADLINE_MS)
    assert window.explainer.toPlainText() == ""
    assert state(window, "long") == "RUNNING"


@pytest.mark.timeout(60)
def test_cancel_on_a_running_row_kills_its_worker_when_the_user_agrees(
    qtbot: QtBot, window: MainWindow
) -> None:
    submit(qtbot, window, "stuck", 600.0)
    submit(qtbot, window, "next", 0.0)
    wait_state(qtbot, window, "stuck", "RUNNING")
    asked: list[list[str]] = []
    window.ask_force_cancel = lambda running: asked.append(running) or True  # type: ignore[method-assign]
    select_task(qtbot, window, "stuck")
    click(qtbot, window, "cancelButton")
    assert asked == [["stuck"]]
    assert window.controls.code.text() == "w.cancel('stuck', force=True)"
    wait_state(qtbot, window, "stuck", "CANCELLED")
    wait_state(qtbot, window, "next", "DONE")  # on the worker that replaced it
