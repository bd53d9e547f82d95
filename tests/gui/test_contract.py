"""The names tests and scripts rely on (issue 3's contract), and the submit paths."""

from __future__ import annotations

import os

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QAbstractButton,
    QComboBox,
    QDoubleSpinBox,
    QLineEdit,
    QSpinBox,
    QTableView,
    QWidget,
)
from pytestqt.qtbot import QtBot

from app.core import SimpleTask, WorkingProcessFacade
from app.gui import MainWindow
from tests.gui.conftest import REAL_DISPLAY_ENV
from tests.gui.helpers import (
    DEADLINE_MS,
    child,
    column,
    message,
    shown_ids,
    state,
    submit,
    table_model,
)

CRASH_TEXTS = (
    "exception",
    "exit code 3",
    "exit code 0",
    "SIGKILL",
    "segfault",
    "hang",
    "kill the worker now",
)


def test_contract_widgets_exist(window: MainWindow) -> None:
    assert isinstance(window.facade, WorkingProcessFacade)
    for name in ("submitButton", "crashButton", "collectButton", "restartButton"):
        assert child(window, QAbstractButton, name).isEnabled(), name
    assert not child(window, QAbstractButton, "newRunButton").isEnabled()
    child(window, QLineEdit, "taskIdEdit")
    child(window, QDoubleSpinBox, "durationSpin")
    assert message(window) == ""
    combo = child(window, QComboBox, "crashModeCombo")
    texts = [combo.itemText(i) for i in range(combo.count())]
    for text in CRASH_TEXTS:
        assert text in texts
    table = child(window, QTableView, "taskTable")
    column(table.model(), "ID")
    column(table.model(), "State")
    assert table.model().rowCount() == 0
    child(window, QWidget, "workerPanel")
    child(window, QWidget, "logView")


def test_submit_by_button_goes_to_done(qtbot: QtBot, window: MainWindow) -> None:
    submit(qtbot, window, "by-button", 0.6)
    qtbot.waitUntil(lambda: state(window, "by-button") is not None, timeout=DEADLINE_MS)
    seen: list[str] = []

    def done() -> bool:
        now = state(window, "by-button")
        if not seen or seen[-1] != now:
            seen.append(now)
        return now == "DONE"

    qtbot.waitUntil(done, timeout=DEADLINE_MS)
    assert seen[0] in ("PENDING", "RUNNING"), seen
    assert seen[-1] == "DONE"
    assert set(seen) <= {"PENDING", "RUNNING", "DONE"}, seen
    assert child(window, QLineEdit, "taskIdEdit").text() == ""
    assert message(window) == ""
    model = table_model(window)
    assert "by-button solved" in model.index(0, column(model, "Result / error")).data()


def test_submit_by_enter(qtbot: QtBot, window: MainWindow) -> None:
    edit = child(window, QLineEdit, "taskIdEdit")
    child(window, QDoubleSpinBox, "durationSpin").setValue(0.0)
    qtbot.keyClicks(edit, "by-enter")
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: state(window, "by-enter") == "DONE", timeout=DEADLINE_MS)
    assert shown_ids(window) == ["by-enter"]


def test_blank_id_is_automatic(qtbot: QtBot, window: MainWindow) -> None:
    submit(qtbot, window, "")
    submit(qtbot, window, "   ")
    qtbot.waitUntil(lambda: state(window, "task-2") == "DONE", timeout=DEADLINE_MS)
    assert shown_ids(window) == ["task-1", "task-2"]
    assert message(window) == ""


def test_duplicate_id_is_refused_inline(qtbot: QtBot, window: MainWindow) -> None:
    submit(qtbot, window, "dup")
    qtbot.waitUntil(lambda: state(window, "dup") == "DONE", timeout=DEADLINE_MS)
    submit(qtbot, window, "dup")
    assert "dup" in message(window)
    # Something that does appear, to know the refused one had its chance to.
    window.facade.process_task(SimpleTask("marker", 0.0))
    qtbot.waitUntil(lambda: state(window, "marker") == "DONE", timeout=DEADLINE_MS)
    assert shown_ids(window) == ["dup", "marker"]
    assert message(window) != ""  # still says why, until the next good submit
    submit(qtbot, window, "good")
    assert message(window) == ""
    qtbot.waitUntil(lambda: state(window, "good") == "DONE", timeout=DEADLINE_MS)


@pytest.mark.parametrize("bad_id", ["two\nlines", "tab\there", "bell\x07"])
def test_control_characters_are_refused_inline(
    qtbot: QtBot, window: MainWindow, bad_id: str
) -> None:
    submit(qtbot, window, bad_id)
    assert message(window) != ""
    assert child(window, QLineEdit, "taskIdEdit").text() == bad_id  # kept, to fix it
    submit(qtbot, window, "fine")
    assert message(window) == ""
    qtbot.waitUntil(lambda: state(window, "fine") == "DONE", timeout=DEADLINE_MS)
    assert shown_ids(window) == ["fine"]


def test_tasks_a_script_submits_are_shown(qtbot: QtBot, window: MainWindow) -> None:
    for n in range(3):
        assert window.facade.process_task(SimpleTask(f"script-{n}", 0.05))
    qtbot.waitUntil(
        lambda: all(state(window, f"script-{n}") == "DONE" for n in range(3)),
        timeout=DEADLINE_MS,
    )
    assert shown_ids(window) == ["script-0", "script-1", "script-2"]


def test_submit_many(qtbot: QtBot, window: MainWindow) -> None:
    child(window, QSpinBox, "manyCountSpin").setValue(300)
    child(window, QDoubleSpinBox, "durationSpin").setValue(0.0)
    qtbot.mouseClick(child(window, QAbstractButton, "submitManyButton"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(shown_ids(window)) == 300, timeout=DEADLINE_MS)
    qtbot.waitUntil(
        lambda: all(state(window, f"task-{n}") == "DONE" for n in (1, 150, 300)),
        timeout=DEADLINE_MS,
    )
    model = table_model(window)
    state_col = column(model, "State")
    qtbot.waitUntil(
        lambda: all(model.index(r, state_col).data() == "DONE" for r in range(300)),
        timeout=DEADLINE_MS,
    )


@pytest.mark.skipif(
    os.environ.get(REAL_DISPLAY_ENV, "") in ("1", "true", "yes"),
    reason=f"{REAL_DISPLAY_ENV} asks for the real display",
)
def test_runs_offscreen_on_a_desktop_sized_screen(window: MainWindow) -> None:
    app = QGuiApplication.instance()
    assert isinstance(app, QGuiApplication)
    assert app.platformName() == "offscreen"
    screen = window.screen().geometry()
    assert screen.width() >= window.width() and screen.height() >= window.height()
