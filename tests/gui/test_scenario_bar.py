"""The scenario bar on a real facade: pause, resume, step and pace really hold the play
(no step begins while paused, Step plays exactly one), and the narration says what comes.

Every check that something does not happen is made over a stretch of the run in which
something else must happen (a task ends, a worker dies), so the play had many ticks to
break its hold."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import psutil
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QToolButton
from pytestqt.qtbot import QtBot

from app.core import TaskState
from app.gui.close_dialog import CloseChoice
from app.gui.main_window import MainWindow
from app.gui.scenario_bar import PACE_KEY, PACES, START_PAUSED_KEY, ScenarioBar
from app.teaching.narration import describe
from app.teaching.scenarios import SCENARIOS
from app.testing import WindowFactory
from tests.gui.helpers import DEADLINE_MS, child
from tests.gui.test_settings import warnings_about, write_ini

D, C = TaskState.DONE, TaskState.CRASHED


def sent(window: MainWindow) -> list[str]:
    """The IDs the facade has accepted or refused, in order."""
    return [t.ID for t in window.facade.tasks]


def state(window: MainWindow, task_id: str) -> TaskState | None:
    tasks = {t.ID: t for t in window.facade.tasks}
    return tasks[task_id].state if task_id in tasks else None


def resting(bar: ScenarioBar) -> bool:
    """Paused before a step: Step is the one thing to press."""
    return bar.step_action.isEnabled()


def start_paused(qtbot: QtBot, window: MainWindow, name: str) -> ScenarioBar:
    bar = window.scenario_bar
    bar.start_paused_action.setChecked(True)
    with qtbot.waitSignal(window.scenario_player.held, timeout=DEADLINE_MS) as held:
        window.scenario_player.start(name)
    assert held.args == [0] and resting(bar)
    return bar


def step(qtbot: QtBot, bar: ScenarioBar) -> None:
    """One click of Step, then until the play rests again before a step."""
    assert resting(bar)
    bar.step_button.click()
    assert not resting(bar)  # at once: a second click cannot play a second step
    qtbot.waitUntil(lambda: resting(bar), timeout=DEADLINE_MS)


def final_states(window: MainWindow) -> dict[str, TaskState]:
    states = {t.ID: t.state for t in window.facade.tasks}
    states.update({i: t.state for i, t in window.scenario_player.sent.items() if i not in states})
    return states


@pytest.mark.timeout(90)
def test_paused_no_step_begins_step_plays_one_and_resume_ends_as_documented(
    qtbot: QtBot, window: MainWindow, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="app.scenario")  # the console shows INFO lines
    player = window.scenario_player
    held: list[int] = []
    player.held.connect(held.append)
    bar = start_paused(qtbot, window, "poisonous-restart")
    assert bar.isVisible() and not window.scenario_bar.isHidden()
    assert sent(window) == []
    assert "paused before step 1 of 8" in bar.title.text()
    assert bar.said.startswith("Next: a remark")

    step(qtbot, bar)  # the remark, then held before the first submit
    assert sent(window) == []
    scenario = SCENARIOS["poisonous-restart"]
    assert bar.said == "Next: " + describe(scenario.steps, 1, scenario.options)
    step(qtbot, bar)
    assert sent(window) == ["a"]
    step(qtbot, bar)
    assert sent(window) == ["a", "b"]
    assert "process_task(CrashTask('poison', 'exception'))" in bar.said
    # Held before 'poison' while 'a' and 'b' run to their end: nothing more is sent.
    qtbot.waitUntil(lambda: state(window, "b") is D, timeout=DEADLINE_MS)
    assert sent(window) == ["a", "b"] and resting(bar)

    step(qtbot, bar)
    assert sent(window) == ["a", "b", "poison"]
    # Held before 'c' while the poison kills its worker and a new one starts.
    qtbot.waitUntil(lambda: state(window, "poison") is C, timeout=DEADLINE_MS)
    qtbot.waitUntil(lambda: any(w.alive for w in window.facade.worker_info()), timeout=DEADLINE_MS)
    assert sent(window) == ["a", "b", "poison"] and resting(bar)
    step(qtbot, bar)
    assert sent(window) == ["a", "b", "poison", "c"]
    assert held == [0, 1, 2, 3, 4, 5]  # once per rest, each Step's rest included
    said = "waits before step 4 of 8. Next: process_task(CrashTask('poison', 'exception'))"
    qtbot.waitUntil(lambda: said in window.console.text.toPlainText(), timeout=DEADLINE_MS)

    with qtbot.waitSignal(player.finished, timeout=60_000) as ended:
        bar.pause_button.click()  # Resume
    assert ended.args == [True], player.problems
    assert final_states(window) == SCENARIOS["poisonous-restart"].expected
    assert "every task as documented" in bar.title.text()
    assert not bar.pause_action.isEnabled() and not bar.step_action.isEnabled()


@pytest.mark.timeout(90)
def test_pause_while_playing_holds_before_the_next_step(qtbot: QtBot, window: MainWindow) -> None:
    player = window.scenario_player
    bar = window.scenario_bar
    pace = child(window, QComboBox, "scenarioPace")
    pace.setCurrentIndex(1)  # a step a second: time to pause between two
    player.start("big-results")
    qtbot.waitUntil(lambda: len(sent(window)) >= 2, timeout=DEADLINE_MS)
    bar.pause_action.trigger()
    assert "Resume" in bar.pause_action.text() and resting(bar)
    paused_at = sent(window)
    assert 2 <= len(paused_at) < 40
    # Every task sent so far ends; still none more is sent.
    qtbot.waitUntil(lambda: all(state(window, i) is D for i in paused_at), timeout=DEADLINE_MS)
    assert sent(window) == paused_at
    assert bar.said.startswith(f"Next: process_task(BigResultTask('big-{len(paused_at) + 1}'")
    assert f"paused before step {len(paused_at) + 2} of 42" in bar.title.text()
    pace.setCurrentIndex(0)
    with qtbot.waitSignal(player.finished, timeout=60_000) as ended:
        bar.pause_action.trigger()
    assert ended.args == [True], player.problems
    assert len(sent(window)) == 40


@pytest.mark.timeout(90)
def test_a_step_begun_goes_on_to_its_end_then_the_play_holds(
    qtbot: QtBot, window: MainWindow
) -> None:
    player = window.scenario_player
    bar = window.scenario_bar
    player.start("several-collects")
    play = player.play
    assert play is not None
    qtbot.waitUntil(lambda: play.position == 3 and play.begun, timeout=DEADLINE_MS)
    bar.toggle_pause()  # during the collect, which waits for 'one' and 'two'
    assert "step 4 of 6 playing, then paused" in bar.title.text()
    assert bar.said.startswith("Now: collect_tasks() waits") and not resting(bar)
    qtbot.waitUntil(lambda: resting(bar), timeout=DEADLINE_MS)
    assert play.position == 4 and window.controls.new_run.isEnabled()  # collected
    assert "late" not in window.scenario_player.sent
    step(qtbot, bar)  # the remark, then held before the send after collect
    assert "late" not in window.scenario_player.sent
    assert "REJECTED" in bar.said
    with qtbot.waitSignal(player.finished, timeout=DEADLINE_MS) as ended:
        bar.step_button.click()
    assert ended.args == [True], player.problems
    assert final_states(window) == SCENARIOS["several-collects"].expected


@pytest.mark.timeout(90)
def test_step_hammered_plays_one_step_per_rest(qtbot: QtBot, window: MainWindow) -> None:
    player = window.scenario_player
    bar = start_paused(qtbot, window, "keeps-sending")
    for _ in range(50):
        bar.step_action.trigger()
        bar.step()
    qtbot.waitUntil(lambda: resting(bar), timeout=DEADLINE_MS)
    assert sent(window) == ["one"]
    # Then hammered with the events between: one step for each time the play rests.
    ended: list[bool] = []
    player.finished.connect(ended.append)
    clicks = 0
    deadline = time.monotonic() + 60
    while not ended and time.monotonic() < deadline:
        for _ in range(50):
            bar.step_button.click()
        clicks += 1
        qtbot.waitUntil(lambda: resting(bar) or bool(ended), timeout=DEADLINE_MS)
    assert ended == [True], player.problems
    # one, crash, the wait for the death (and the remark), four, five, six, collect
    assert clicks == 6
    assert final_states(window) == SCENARIOS["keeps-sending"].expected


@pytest.mark.timeout(90)
def test_pause_then_new_run_ends_the_scenario(qtbot: QtBot, window: MainWindow) -> None:
    player = window.scenario_player
    bar = start_paused(qtbot, window, "original")
    step(qtbot, bar)
    step(qtbot, bar)
    assert sent(window) == ["one"]
    window.begin_run()
    assert bar.isHidden() and not player.running
    assert not bar.pause_action.isEnabled() and not bar.step_action.isEnabled()
    bar.toggle_pause()  # nothing to act on: no effect, no error
    bar.step()
    window.controller.submit("mine", 0.3)
    qtbot.waitUntil(lambda: state(window, "mine") is D, timeout=DEADLINE_MS)
    assert sent(window) == ["mine"]  # the scenario's steps never reach the new run


@pytest.mark.timeout(90)
def test_a_scenario_restarted_while_paused_plays_from_its_start(
    qtbot: QtBot, window: MainWindow
) -> None:
    player = window.scenario_player
    bar = start_paused(qtbot, window, "original")
    step(qtbot, bar)
    step(qtbot, bar)
    old_play = player.play
    bar.start_paused_action.setChecked(False)
    with qtbot.waitSignal(player.finished, timeout=60_000) as ended:
        player.start("several-collects")
    assert ended.args == [True], player.problems
    assert final_states(window) == SCENARIOS["several-collects"].expected
    assert old_play is not None and old_play.position == 2  # held where it was left
    assert "one" in sent(window) and "late" not in sent(window)  # refused: not recorded


@pytest.mark.timeout(90)
@pytest.mark.parametrize("choice", [CloseChoice.KILL, CloseChoice.COLLECT])
def test_closing_the_window_while_paused_leaves_nothing_running(
    qtbot: QtBot, monitor_window: WindowFactory, choice: CloseChoice
) -> None:
    window = monitor_window(workers=1)
    bar = start_paused(qtbot, window, "dies-before-collect")
    step(qtbot, bar)
    step(qtbot, bar)  # 'one' (1 s) sent: work in flight, paused before 'two'
    qtbot.waitUntil(lambda: state(window, "one") is TaskState.RUNNING, timeout=DEADLINE_MS)
    pids = [w.pid for w in window.facade.worker_info() if w.pid is not None]
    assert pids and sent(window) == ["one"]
    window.ask_close_choice = lambda: choice  # type: ignore[method-assign]
    window.close()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=DEADLINE_MS)
    assert sent(window) == ["one"]  # the paused play sent nothing more, even to the collect
    assert state(window, "one") is (D if choice is CloseChoice.COLLECT else TaskState.TIMED_OUT)

    def workers_gone() -> bool:
        return not any(psutil.pid_exists(p) and _alive(p) for p in pids)

    qtbot.waitUntil(workers_gone, timeout=DEADLINE_MS)


def _alive(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


@pytest.mark.timeout(90)
def test_the_pace_is_kept_between_steps_and_between_sessions(
    qtbot: QtBot, monitor_window: WindowFactory, tmp_path: Path
) -> None:
    path = tmp_path / "pace.ini"
    window = monitor_window(workers=1, settings_path=path)
    combo = child(window, QComboBox, "scenarioPace")
    assert combo.currentIndex() == 0  # fast, as before the bar existed
    combo.setCurrentIndex([key for key, _l, _s in PACES].index("normal"))
    player = window.scenario_player
    player.start("several-collects")
    assert player.play is not None and player.play.pace == 1.0
    qtbot.waitUntil(lambda: "two" in sent(window), timeout=DEADLINE_MS)
    one, two = (t for t in window.facade.tasks if t.ID in ("one", "two"))
    assert one.submitted_at is not None and two.submitted_at is not None
    assert two.submitted_at - one.submitted_at >= 0.95  # a step a second
    with qtbot.waitSignal(player.finished, timeout=60_000) as ended:
        combo.setCurrentIndex(0)  # fast again, in the middle of the play
    assert ended.args == [True], player.problems
    combo.setCurrentIndex(2)
    window.scenario_bar.start_paused_action.setChecked(True)
    window.shutdown()

    again = monitor_window(workers=1, settings_path=path)
    assert child(again, QComboBox, "scenarioPace").currentText().startswith("Slow")
    assert again.scenario_bar.start_paused_action.isChecked()


@pytest.mark.parametrize(
    "raw", ["abc", "2", "", "fast, slow", "@ByteArray(slow)", "@ByteArray(fast)", "Slow"]
)
def test_a_damaged_pace_falls_back_to_fast_with_a_warning(
    qtbot: QtBot,
    monitor_window: WindowFactory,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    raw: str,
) -> None:
    path = tmp_path / "damaged.ini"
    write_ini(path, [(PACE_KEY, raw), (START_PAUSED_KEY, "perhaps")])
    caplog.set_level(logging.WARNING)
    window = monitor_window(workers=1, settings_path=path)
    assert child(window, QComboBox, "scenarioPace").currentIndex() == 0
    assert not window.scenario_bar.start_paused_action.isChecked()
    assert len(warnings_about(caplog, PACE_KEY)) == 1
    assert len(warnings_about(caplog, START_PAUSED_KEY)) == 1
    with qtbot.waitSignal(window.scenario_player.finished, timeout=60_000) as ended:
        window.scenario_player.start("several-collects")  # plays at the default pace
    assert ended.args == [True]


def test_the_bar_hides_until_a_scenario_plays_and_its_controls_say_their_keys(
    window: MainWindow,
) -> None:
    bar = window.scenario_bar
    assert bar.isHidden()
    assert not bar.pause_action.isEnabled() and not bar.step_action.isEnabled()
    pause = child(window, QToolButton, "scenarioPause")
    step_button = child(window, QToolButton, "scenarioStep")
    assert "(F8)" in pause.toolTip() and "(F10)" in step_button.toolTip()
    assert bar.pause_action.shortcut().toString() == "F8"
    assert bar.step_action.shortcut().toString() == "F10"
    menu_actions = window.scenarios_menu.actions()
    for action in (bar.pause_action, bar.step_action, bar.start_paused_action):
        assert action in menu_actions


@pytest.mark.timeout(90)
def test_the_keys_step_pause_and_resume(qtbot: QtBot, window: MainWindow) -> None:
    player = window.scenario_player
    bar = start_paused(qtbot, window, "original")
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=DEADLINE_MS)
    qtbot.keyClick(window.table, Qt.Key.Key_F10)  # the remark, then held before 'one'
    qtbot.waitUntil(
        lambda: resting(bar) and player.play is not None and player.play.position == 1,
        timeout=DEADLINE_MS,
    )
    qtbot.keyClick(window.table, Qt.Key.Key_F10)
    qtbot.waitUntil(lambda: resting(bar) and sent(window) == ["one"], timeout=DEADLINE_MS)
    with qtbot.waitSignal(player.finished, timeout=60_000) as ended:
        qtbot.keyClick(window.table, Qt.Key.Key_F8)
    assert ended.args == [True], player.problems


@pytest.mark.timeout(90)
def test_a_collect_by_hand_while_paused_is_reported_as_a_difference(
    qtbot: QtBot, window: MainWindow
) -> None:
    """The learner collects while the scenario waits: its later send is refused, and the
    scenario says its tasks did not all end as documented, instead of hanging."""
    player = window.scenario_player
    bar = start_paused(qtbot, window, "original")
    step(qtbot, bar)
    step(qtbot, bar)
    assert sent(window) == ["one"]
    window.controls.collect.click()
    qtbot.waitUntil(window.controls.new_run.isEnabled, timeout=DEADLINE_MS)  # collected
    with qtbot.waitSignal(player.finished, timeout=60_000) as ended:
        bar.toggle_pause()
    assert ended.args == [False]
    assert player.problems == ["two: expected DONE, got REJECTED"]
    assert "1 difference(s)" in bar.title.text()


@pytest.mark.timeout(90)
def test_step_plays_at_once_whatever_the_pace(qtbot: QtBot, window: MainWindow) -> None:
    combo = child(window, QComboBox, "scenarioPace")
    combo.setCurrentIndex(2)  # a step every 3 s
    player = window.scenario_player
    bar = start_paused(qtbot, window, "original")
    assert player.play is not None and player.play.pace == 3.0
    step(qtbot, bar)  # the remark
    step(qtbot, bar)
    step(qtbot, bar)
    one, two = window.facade.tasks
    assert one.submitted_at is not None and two.submitted_at is not None
    assert two.submitted_at - one.submitted_at < 2.5  # not held back to the pace
    assert player.play.pace == 3.0  # which counts again once the step is played
    combo.setCurrentIndex(0)
    with qtbot.waitSignal(player.finished, timeout=60_000) as ended:
        bar.toggle_pause()
    assert ended.args == [True], player.problems
