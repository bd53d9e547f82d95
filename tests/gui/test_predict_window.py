"""Predict mode in the window, on real workers: the play holds before the step that kills
or hangs a worker, the learner's guesses go in through the Predict tab's widgets, the step
runs, each guess is marked against the state its task really ended in, the explainer
says what differed, and the score is kept in the settings for the next window."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QComboBox, QLabel, QPlainTextEdit, QPushButton
from pytestqt.qtbot import QtBot

from app.core import TaskState
from app.gui import MainWindow
from app.gui.close_dialog import CloseChoice
from app.gui.predict_mode import score_key
from app.teaching.predict import Record, Score
from app.teaching.scenarios import SCENARIOS
from app.testing import WindowFactory
from tests.gui.helpers import DEADLINE_MS

pytestmark = pytest.mark.timeout(120)


def turn_on(window: MainWindow) -> None:
    """Checks Scenarios > Predict before a worker dies, as a user would."""
    action = window.predict.action
    assert action in window.scenarios_menu.actions()
    assert not action.isChecked(), "predict mode is off by default"
    action.trigger()
    assert action.isChecked()


def hold(qtbot: QtBot, window: MainWindow, name: str, step: int) -> None:
    """Starts scenario ``name`` and waits until it holds before ``step`` for a prediction."""
    player = window.scenario_player
    with qtbot.waitSignal(player.held, timeout=DEADLINE_MS) as held:
        player.start(name)
    assert held.args == [step]
    assert player.play is not None and player.play.held and player.play.position == step
    assert window.predict.waiting
    assert window.side.currentWidget() is window.predict.panel


def combos(window: MainWindow) -> dict[str, QComboBox]:
    return window.predict.panel.combos


def run_button(window: MainWindow) -> QPushButton:
    button = window.findChild(QPushButton, "predictRunButton")
    assert button is not None
    return button


def choose(combo: QComboBox, state: TaskState) -> None:
    index = combo.findData(state)
    assert index >= 0, state
    combo.setCurrentIndex(index)


def marks(window: MainWindow) -> dict[str, str]:
    return {i: label.text() for i, label in window.predict.panel.marks.items()}


def real_states(window: MainWindow) -> dict[str, TaskState]:
    states = {t.ID: t.state for t in window.facade.tasks}
    for task_id, task in window.scenario_player.sent.items():
        states.setdefault(task_id, task.state)
    return states


def assert_marks_match(window: MainWindow, guesses: dict[str, TaskState]) -> Score:
    """Each row's mark against the real state; returns the score the marks show."""
    real = real_states(window)
    counted = right = 0
    for task_id, text in marks(window).items():
        if "not counted" in text:  # ended while the question waited
            assert task_id in window.predict.panel.withdrawn
            assert real[task_id].name in text
            continue
        counted += 1
        right += guesses[task_id] is real[task_id]
        sign = "✓" if guesses[task_id] is real[task_id] else "✗"
        assert sign in text and real[task_id].name in text, (task_id, text, real[task_id])
    return Score(right, counted)


def settings_at(path: Path) -> QSettings:
    return QSettings(str(path), QSettings.Format.IniFormat)


def test_predicting_the_worker_dying_before_collect(
    qtbot: QtBot, monitor_window: WindowFactory, tmp_path: Path
) -> None:
    path = tmp_path / "predict.ini"
    window = monitor_window(settings_path=path)
    turn_on(window)
    hold(qtbot, window, "dies-before-collect", 3)
    assert list(combos(window)) == ["one", "two", "crash", "three"]
    labels = [w.text() for w in window.predict.panel.rows_box.findChildren(QLabel) if w.text()]
    assert "sent by this step" in labels and "sent at step 5" in labels

    # Held: 'one' and 'two' end, yet 'crash' is never sent while the question waits.
    qtbot.waitUntil(
        lambda: all(real_states(window).get(i) is TaskState.DONE for i in ("one", "two")),
        timeout=DEADLINE_MS,
    )
    assert "crash" not in real_states(window)
    assert window.scenario_player.play is not None
    assert window.scenario_player.play.position == 3
    assert all(w.alive for w in window.facade.worker_info())

    # They ended while the question waited: seen, not predicted, so not counted.
    qtbot.waitUntil(lambda: window.predict.panel.withdrawn == {"one", "two"}, timeout=DEADLINE_MS)
    assert not combos(window)["one"].isEnabled() and not combos(window)["two"].isEnabled()
    assert marks(window)["one"] == "DONE (not counted)"

    # Guesses, by keyboard (a letter picks the state) and by the mouse's choice.
    assert not run_button(window).isEnabled(), "the step runs only once each row is marked"
    qtbot.keyClicks(combos(window)["crash"], "C")
    assert window.predict.panel.guesses() == {"crash": TaskState.CRASHED}
    assert not run_button(window).isEnabled()
    choose(combos(window)["three"], TaskState.DONE)
    guesses = {"crash": TaskState.CRASHED, "three": TaskState.DONE}
    assert window.predict.panel.guesses() == guesses
    assert run_button(window).isEnabled()
    qtbot.mouseClick(run_button(window), Qt.MouseButton.LeftButton)

    qtbot.waitUntil(lambda: all(marks(window).values()), timeout=DEADLINE_MS)
    assert assert_marks_match(window, guesses) == Score(1, 2)
    assert real_states(window)["crash"] is TaskState.CRASHED
    assert real_states(window)["three"] is TaskState.LOST
    assert not any(c.isEnabled() for c in combos(window).values()), "guesses stay as made"
    why = window.predict.panel.marks["three"].toolTip()
    assert why.startswith("Your guess was wrong. It was accepted but never ran"), why

    explained = window.explainer.toPlainText()
    assert window.side.currentWidget() is window.explainer
    assert "Your prediction before step 4 (submit 'crash'): 1 of 2 right." in explained
    assert "✗ 'three': you said DONE; it ended LOST." in explained
    assert "Not DONE: DONE needs a worker alive" in explained
    assert "Right: ✓ 'crash' CRASHED." in explained
    assert "Not counted, ended before the step ran: 'one' DONE, 'two' DONE." in explained
    assert explained.index("Your prediction") < explained.index("died:"), "on top"
    status = window.findChild(QLabel, "predictStatus")
    assert status is not None and status.text().startswith("1 of 2 right.")
    in_the_tab = window.findChild(QPlainTextEdit, "predictExplained")
    assert in_the_tab is not None and not in_the_tab.isHidden()
    assert in_the_tab.toPlainText() in explained, "the same words, in the Predict tab too"

    qtbot.waitUntil(lambda: not window.scenario_player.running, timeout=DEADLINE_MS)
    assert window.scenario_player.problems == []
    stored = settings_at(path)
    assert stored.value(score_key("dies-before-collect", "last")) == "1/2"
    assert stored.value(score_key("dies-before-collect", "best")) == "1/2"

    # A new window on the same settings: predict mode still on, the score shown.
    again = monitor_window(settings_path=path)
    assert again.predict.action.isChecked()
    record = Record(Score(1, 2), Score(1, 2))
    assert again.predict.record("dies-before-collect") == record
    item = next(
        a
        for a in again.scenarios_menu.actions()
        if a.text() == SCENARIOS["dies-before-collect"].title
    )
    assert "Predict: last 1/2, best 1/2" in item.toolTip()
    score = again.findChild(QLabel, "predictScore")
    assert score is not None and "dies-before-collect: last 1/2, best 1/2" in score.text()


def test_all_right_in_the_hang_timeout_scenario_keeps_the_best(
    qtbot: QtBot, monitor_window: WindowFactory, tmp_path: Path
) -> None:
    path = tmp_path / "predict.ini"
    old = settings_at(path)
    old.setValue(score_key("hang-timeout", "last"), "0/2")
    old.setValue(score_key("hang-timeout", "best"), "1/2")
    old.sync()
    window = monitor_window(settings_path=path)
    turn_on(window)
    hold(qtbot, window, "hang-timeout", 1)
    assert list(combos(window)) == ["hang", "after"]
    assert window.facade.tasks == [], "the hung task is not sent while the question waits"
    guesses = {"hang": TaskState.TIMED_OUT, "after": TaskState.DONE}
    for task_id, state in guesses.items():
        choose(combos(window)[task_id], state)
    qtbot.mouseClick(run_button(window), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: all(marks(window).values()), timeout=DEADLINE_MS)
    assert assert_marks_match(window, guesses) == Score(2, 2)
    explained = window.explainer.toPlainText()
    assert "Your prediction before step 2 (submit 'hang'): 2 of 2 right." in explained
    assert "✗" not in explained.split("\n\n")[0]
    assert window.predict.record("hang-timeout") == Record(Score(2, 2), Score(2, 2))


def test_keyboard_alone_answers_and_runs_the_step(
    qtbot: QtBot, monitor_window: WindowFactory
) -> None:
    window = monitor_window()
    turn_on(window)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=DEADLINE_MS)
    hold(qtbot, window, "hang-timeout", 1)
    boxes = combos(window)
    assert list(boxes) == ["hang", "after"]
    qtbot.waitUntil(boxes["hang"].hasFocus, timeout=DEADLINE_MS)
    for n, letter in enumerate("TD"):
        focused = window.focusWidget()
        assert focused is list(boxes.values())[n]
        qtbot.keyClicks(focused, letter)
        qtbot.keyClick(focused, Qt.Key.Key_Tab)
    assert window.predict.panel.guesses() == {"hang": TaskState.TIMED_OUT, "after": TaskState.DONE}
    qtbot.keyClick(window.focusWidget(), Qt.Key.Key_P, Qt.KeyboardModifier.AltModifier)
    qtbot.waitUntil(lambda: all(marks(window).values()), timeout=DEADLINE_MS)
    assert all("✓" in text for text in marks(window).values()), marks(window)


def test_a_new_run_while_predicting_drops_the_question_and_the_held_play(
    qtbot: QtBot, monitor_window: WindowFactory, tmp_path: Path
) -> None:
    path = tmp_path / "predict.ini"
    window = monitor_window(settings_path=path)
    turn_on(window)
    hold(qtbot, window, "dies-before-collect", 3)
    old_facade = window.facade
    window.begin_run()  # what New run and a script do
    assert window.facade is not old_facade
    assert not window.predict.waiting
    title = window.findChild(QLabel, "predictTitle")
    assert title is not None and "dropped, not scored" in title.text()
    assert combos(window) == {}
    # Another scenario from the menu, while nothing is asked: it holds at its own step.
    item = next(
        a for a in window.scenarios_menu.actions() if a.text() == SCENARIOS["hang-timeout"].title
    )
    with qtbot.waitSignal(window.scenario_player.held, timeout=DEADLINE_MS) as held:
        item.trigger()
    assert held.args == [1] and list(combos(window)) == ["hang", "after"]
    # And a new run started by a scenario while a question waits drops it too.
    hold(qtbot, window, "keeps-sending", 1)
    assert list(combos(window)) == ["one", "crash", "four", "five", "six"]
    assert "crash" not in real_states(window)
    assert settings_at(path).value(score_key("hang-timeout", "last")) is None


@pytest.mark.parametrize("choice", [CloseChoice.KILL, CloseChoice.COLLECT])
def test_closing_the_window_while_held_ends_everything(
    qtbot: QtBot, monitor_window: WindowFactory, choice: CloseChoice
) -> None:
    """The leak check of ``monitor_window`` fails the test if a worker or thread is left."""
    window = monitor_window()
    turn_on(window)
    hold(qtbot, window, "dies-before-collect", 3)
    window.ask_close_choice = lambda: choice  # type: ignore[method-assign]
    workers = [w.pid for w in window.facade.worker_info()]
    assert workers
    window.close()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=DEADLINE_MS)
    assert not any(w.alive for w in window.facade.worker_info())
    assert "crash" not in real_states(window)


@pytest.mark.parametrize("name", ["original", "several-collects"])
def test_a_scenario_with_no_risky_step_is_never_held(
    qtbot: QtBot, monitor_window: WindowFactory, tmp_path: Path, name: str
) -> None:
    path = tmp_path / "predict.ini"
    window = monitor_window(settings_path=path)
    turn_on(window)
    helds: list[int] = []
    window.scenario_player.held.connect(helds.append)
    with qtbot.waitSignal(window.scenario_player.finished, timeout=60_000) as ended:
        window.scenario_player.start(name)
    assert ended.args == [True] and helds == []
    title = window.findChild(QLabel, "predictTitle")
    assert title is not None and "Nothing to predict" in title.text()
    assert combos(window) == {}
    assert settings_at(path).value(score_key(name, "last")) is None
    item = next(a for a in window.scenarios_menu.actions() if a.text() == SCENARIOS[name].title)
    assert "nothing to predict" in item.toolTip()


def test_turning_predict_off_while_held_lets_the_play_go_on_unscored(
    qtbot: QtBot, monitor_window: WindowFactory, tmp_path: Path
) -> None:
    path = tmp_path / "predict.ini"
    window = monitor_window(settings_path=path)
    turn_on(window)
    hold(qtbot, window, "poisonous-restart", 3)
    choose(combos(window)["a"], TaskState.DONE)  # a guess begun, then abandoned
    with qtbot.waitSignal(window.scenario_player.finished, timeout=DEADLINE_MS) as ended:
        window.predict.action.trigger()
    assert ended.args == [True], window.scenario_player.problems
    assert not window.predict.action.isChecked()
    assert settings_at(path).value("predict/on") in (False, "false")
    assert settings_at(path).value(score_key("poisonous-restart", "last")) is None
    assert "Your prediction" not in window.explainer.toPlainText()


def test_turning_predict_on_mid_play_holds_at_the_next_risky_step(
    qtbot: QtBot, monitor_window: WindowFactory
) -> None:
    window = monitor_window()
    player = window.scenario_player
    player.start("poisonous-restart")
    assert player.play is not None and player.play.position == 0
    player.play.held = True  # paused before its first step, as a Pause button does
    turn_on(window)
    with qtbot.waitSignal(player.held, timeout=DEADLINE_MS) as held:
        player.play.resume()
    assert held.args == [3] and window.predict.waiting
    assert list(combos(window)) == ["a", "b", "poison", "c", "d"]
    guesses = dict.fromkeys(("a", "b", "c", "d"), TaskState.DONE)
    guesses["poison"] = TaskState.CRASHED
    for task_id, state in guesses.items():
        choose(combos(window)[task_id], state)
    qtbot.mouseClick(run_button(window), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: all(marks(window).values()), timeout=DEADLINE_MS)
    shown = assert_marks_match(window, guesses)
    assert shown.right == shown.total >= 3  # 'a' and 'b' may end while it is asked
    assert window.predict.record("poisonous-restart") == Record(shown, shown)


def test_a_damaged_stored_score_is_ignored(
    qtbot: QtBot, monitor_window: WindowFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "predict.ini"
    damaged = settings_at(path)
    damaged.setValue("predict/on", "maybe")
    damaged.setValue(score_key("dies-before-collect", "last"), "7/3")
    damaged.setValue(score_key("dies-before-collect", "best"), ["1", "2"])
    damaged.setValue(score_key("keeps-sending", "last"), "nan/inf")
    damaged.setValue(score_key("keeps-sending", "best"), "3/5")
    damaged.setValue(score_key("hang-timeout", "last"), "2/2")
    damaged.setValue(score_key("hang-timeout", "best"), "1/2")  # below the last: edited
    damaged.sync()
    window = monitor_window(settings_path=path)
    assert not window.predict.action.isChecked()
    assert window.predict.record("dies-before-collect") == Record()
    assert window.predict.record("keeps-sending") == Record(None, Score(3, 5))
    assert window.predict.record("hang-timeout") == Record(Score(2, 2), Score(2, 2))
    score = window.findChild(QLabel, "predictScore")
    assert score is not None and "dies-before-collect: no score yet" in score.text()
    said = caplog.text
    assert "ignoring predict/dies-before-collect/last='7/3'" in said
    assert "ignoring predict/keeps-sending/last='nan/inf'" in said
    assert "ignoring predict/on='maybe'" in said


def test_a_play_resumed_by_another_control_drops_the_question(
    qtbot: QtBot, monitor_window: WindowFactory, tmp_path: Path
) -> None:
    """A Resume or Step elsewhere lets the step run unpredicted: nothing is scored."""
    path = tmp_path / "predict.ini"
    window = monitor_window(settings_path=path)
    turn_on(window)
    hold(qtbot, window, "keeps-sending", 1)
    player = window.scenario_player
    assert player.play is not None
    player.play.resume()
    title = window.findChild(QLabel, "predictTitle")
    assert title is not None
    qtbot.waitUntil(lambda: "without your prediction" in title.text(), timeout=DEADLINE_MS)
    qtbot.waitUntil(lambda: not player.running, timeout=DEADLINE_MS)
    assert player.problems == []
    assert settings_at(path).value(score_key("keeps-sending", "last")) is None
    assert "Your prediction" not in window.explainer.toPlainText()


def test_a_collect_while_held_is_scored_against_what_really_happened(
    qtbot: QtBot, monitor_window: WindowFactory
) -> None:
    """Collect clicked while the question waits: the held step then sends into a
    collected run, so 'crash' and 'three' are REJECTED, and that is what is scored."""
    window = monitor_window()
    turn_on(window)
    hold(qtbot, window, "dies-before-collect", 3)
    collect = window.findChild(QPushButton, "collectButton")
    assert collect is not None
    qtbot.mouseClick(collect, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.predict.panel.withdrawn == {"one", "two"}, timeout=DEADLINE_MS)
    guesses = {"crash": TaskState.REJECTED, "three": TaskState.LOST}
    for task_id, state in guesses.items():
        choose(combos(window)[task_id], state)
    qtbot.mouseClick(run_button(window), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: all(marks(window).values()), timeout=DEADLINE_MS)
    assert assert_marks_match(window, guesses) == Score(1, 2)
    assert real_states(window)["three"] is TaskState.REJECTED
    assert "✗ 'three': you said LOST; it ended REJECTED." in window.explainer.toPlainText()


def test_stepping_into_a_prediction_holds_again_after_the_step(
    qtbot: QtBot, window: MainWindow
) -> None:
    """Step by step with the bar, predict mode on: the question holds the play and the
    bar cannot let it past unanswered; once answered, the step runs and the play holds
    again after it, as Step asked."""
    turn_on(window)
    bar = window.scenario_bar
    bar.start_paused_action.setChecked(True)
    player = window.scenario_player
    with qtbot.waitSignal(player.held, timeout=DEADLINE_MS):
        player.start("poisonous-restart")
    for _ in range(3):  # the remark, 'a', 'b': each Step holds again before the next
        with qtbot.waitSignal(player.held, timeout=DEADLINE_MS):
            bar.step_action.trigger()
    play = player.play
    assert play is not None and play.position == 3 and not window.predict.waiting
    with qtbot.waitSignal(player.held, timeout=DEADLINE_MS):
        bar.step_action.trigger()  # the poison's step: the question holds it
    assert window.predict.waiting and play.held_by_hook and play.position == 3
    assert "waits for your prediction" in bar.title.text()
    assert not bar.step_action.isEnabled() and not bar.pause_action.isEnabled()
    bar.step_action.trigger()  # disabled: nothing happens
    assert window.predict.waiting and "poison" not in real_states(window)
    for combo in combos(window).values():
        choose(combo, TaskState.DONE)
    with qtbot.waitSignal(player.held, timeout=DEADLINE_MS) as held:
        run_button(window).click()
    assert held.args == [4]  # after the poison's step, before 'c': Step's hold is kept
    assert "poison" in real_states(window) and "c" not in real_states(window)
    assert bar.step_action.isEnabled()
    with qtbot.waitSignal(player.finished, timeout=60_000) as ended:
        bar.pause_action.trigger()  # Resume
    assert ended.args == [True], player.problems
