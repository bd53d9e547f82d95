"""A long task ID never widens the window: every label that shows one elides it, with the
whole text in its tooltip; views (side pane, explainer, worker panel) scroll or elide."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QTableWidget, QWidget
from pytestqt.qtbot import QtBot

from app.gui import MainWindow
from app.gui.labels import ElidedLabel
from tests.gui.helpers import (
    DEADLINE_MS,
    child,
    choose_crash,
    click,
    select_task,
    submit,
    wait_state,
)

SCREEN_WIDTH = 1600  # the adversarial user's screen


def widest(window: MainWindow) -> int:
    """The widest the window is, or asks to be, once its layouts have settled."""
    QApplication.processEvents()  # layouts apply their new minimum sizes
    return max(window.width(), window.sizeHint().width(), window.minimumSizeHint().width())


def long_id(length: int) -> str:
    """An ID of ``length`` characters with no space to wrap at, its end recognisable."""
    return ("x" * length)[: length - 4] + "-end"


@pytest.mark.parametrize("length", [262, 10_000])
def test_a_long_task_id_does_not_widen_the_window(
    qtbot: QtBot, window: MainWindow, length: int
) -> None:
    task_id = long_id(length)
    width = window.width()
    assert widest(window) < SCREEN_WIDTH

    submit(qtbot, window, task_id, 60.0)  # runs until the worker is killed below
    wait_state(qtbot, window, task_id, "RUNNING")
    assert widest(window) < SCREEN_WIDTH and window.width() == width
    code = child(window, ElidedLabel, "codeView")
    assert task_id in code.toolTip()  # the whole call, to read or copy
    assert code.shown().endswith("-end', 60.0))  ->  True")  # cut in the middle of the ID
    assert code.text() == f"w.process_task(SimpleTask({task_id!r}, 60.0))  ->  True"

    submit(qtbot, window, task_id, 60.0)  # the same ID again: refused, said next to the field
    assert widest(window) < SCREEN_WIDTH and window.width() == width
    said = child(window, ElidedLabel, "submitMessage")
    assert "duplicate ID" in said.toolTip() and task_id in said.toolTip()

    select_task(qtbot, window, task_id)  # the side pane shows it in full
    assert task_id in child(window, QWidget, "detailsView").toPlainText()
    panel = child(window, QWidget, "workerPanel").findChild(QTableWidget)
    assert panel is not None
    qtbot.waitUntil(
        lambda: any(
            task_id in (panel.item(0, c).toolTip() if panel.item(0, c) else "")
            for c in range(panel.columnCount())
        ),
        timeout=DEADLINE_MS,
    )  # "busy on <ID>" in its cell, elided by the table, whole in the tooltip
    assert widest(window) < SCREEN_WIDTH and window.width() == width

    choose_crash(window, "kill the worker now")
    click(qtbot, window, "crashButton")
    wait_state(qtbot, window, task_id, "CRASHED")
    explainer = child(window, QWidget, "crashExplainer")
    qtbot.waitUntil(lambda: task_id in explainer.toPlainText(), timeout=DEADLINE_MS)
    assert widest(window) < SCREEN_WIDTH and window.width() == width


def test_a_long_export_path_does_not_widen_the_window(
    qtbot: QtBot, window: MainWindow, tmp_path_factory: pytest.TempPathFactory
) -> None:
    folder = tmp_path_factory.mktemp("d" * 200)
    path = folder / ("tasks-" + "p" * 200 + ".json")
    width = window.width()
    window.export_tasks(str(path))
    assert widest(window) < SCREEN_WIDTH and window.width() == width
    said = child(window, ElidedLabel, "submitMessage")
    assert str(path) in said.toolTip() and said.is_elided()


def test_short_texts_are_shown_whole(qtbot: QtBot, window: MainWindow) -> None:
    submit(qtbot, window, "short", 0.0)
    code = child(window, ElidedLabel, "codeView")
    assert code.shown() == "w.process_task(SimpleTask('short', 0.0))  ->  True"
    assert not code.is_elided() and "short" not in code.toolTip()  # its own tip only
    submit(qtbot, window, "short", 0.0)
    said = child(window, ElidedLabel, "submitMessage")
    assert not said.is_elided() and "duplicate ID" in said.shown()  # wrapped, whole
    assert said.toolTip() == ""


@pytest.mark.parametrize("lines", [1, 3])
def test_an_elided_label_asks_for_little_and_copies_everything(qtbot: QtBot, lines: int) -> None:
    label = ElidedLabel(lines=lines)
    label.setToolTip("what this label is")
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    qtbot.addWidget(label)
    label.resize(300, label.sizeHint().height())
    label.show()
    whole = "start " + "z" * 10_000 + " end"
    label.setText(whole)
    assert label.minimumSizeHint().width() < 300 and label.sizeHint().width() < 1_000
    assert label.is_elided() and "\u2026" in label.shown()
    assert label.shown().count("\n") == lines - 1
    assert label.text() == whole
    assert label.toolTip() == f"{whole}\n\nwhat this label is"
    label.copy_whole_text()
    assert QApplication.clipboard().text() == whole
    label.setText("short")
    assert not label.is_elided() and label.shown() == "short"
    assert label.toolTip() == "what this label is"
