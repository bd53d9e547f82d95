"""The scenario bar and predict mode pushed as a hostile user would: Pause, Step and the
pace hammered during a collect, Kill now while the play is held or stepping."""

from __future__ import annotations

import psutil
import pytest
from PySide6.QtWidgets import QPushButton
from pytestqt.qtbot import QtBot

from app.core import TaskState
from app.gui.main_window import MainWindow
from app.teaching.predict import Score
from app.testing import WindowFactory
from tests.gui.helpers import DEADLINE_MS
from tests.gui.test_predict_window import (
    assert_marks_match,
    choose,
    combos,
    hold,
    marks,
    run_button,
    turn_on,
)
from tests.gui.test_scenario_bar import final_states, resting, start_paused, step

pytestmark = pytest.mark.timeout(120)


def kill_now(window: MainWindow) -> QPushButton:
    button = window.findChild(QPushButton, "killNowButton")
    assert button is not None
    return button


def test_pause_step_and_pace_hammered_then_kill_now_during_the_collect_end_the_play(
    qtbot: QtBot, window: MainWindow
) -> None:
    player = window.scenario_player
    bar = start_paused(qtbot, window, "hang-timeout")
    play = player.play
    assert play is not None
    while play.position < 4:  # to the collect, which waits for 'hang' to time out
        step(qtbot, bar)
    workers = [psutil.Process(w.pid) for w in window.facade.worker_info() if w.pid is not None]
    ended: list[bool] = []
    player.finished.connect(ended.append)
    bar.step_button.click()  # the collect begins
    qtbot.waitUntil(lambda: kill_now(window).isEnabled(), timeout=DEADLINE_MS)
    for n in range(30):
        bar.toggle_pause()
        bar.step()
        bar.pace.setCurrentIndex(n % bar.pace.count())
    kill_now(window).click()
    qtbot.waitUntil(lambda: bool(ended), timeout=DEADLINE_MS)
    assert not player.running
    states = final_states(window)
    assert states["hang"] is TaskState.TIMED_OUT
    assert states["after"] in (TaskState.DONE, TaskState.CANCELLED)
    _gone, alive = psutil.wait_procs(workers, timeout=10)
    assert alive == []
    assert not resting(bar) and window.controls.new_run.isEnabled()


def test_kill_now_while_a_prediction_waits_is_scored_against_what_really_happened(
    qtbot: QtBot, monitor_window: WindowFactory
) -> None:
    """Collect, then Kill now, both while the question before 'crash' waits: 'one' and
    'two' end while it waits (not counted), the held step then sends into a closed run."""
    window = monitor_window()
    turn_on(window)
    hold(qtbot, window, "dies-before-collect", 3)
    collect = window.findChild(QPushButton, "collectButton")
    assert collect is not None
    collect.click()
    qtbot.waitUntil(lambda: kill_now(window).isEnabled(), timeout=DEADLINE_MS)
    kill_now(window).click()
    panel = window.predict.panel
    qtbot.waitUntil(lambda: panel.withdrawn == {"one", "two"}, timeout=DEADLINE_MS)
    guesses = {"crash": TaskState.REJECTED, "three": TaskState.REJECTED}
    for task_id, guessed in guesses.items():
        choose(combos(window)[task_id], guessed)
    run_button(window).click()
    qtbot.waitUntil(lambda: all(marks(window).values()), timeout=DEADLINE_MS)
    assert assert_marks_match(window, guesses) == Score(2, 2)
    qtbot.waitUntil(lambda: not window.scenario_player.running, timeout=DEADLINE_MS)
    assert not window.predict.waiting
