"""Using and reading the window the way a user does: widgets by objectName, cells by
header, clicks on buttons and rows; every wait a condition with a deadline."""

from __future__ import annotations

from typing import Any, TypeVar

from PySide6.QtCore import QAbstractItemModel, Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QComboBox,
    QDoubleSpinBox,
    QLabel,
    QLineEdit,
    QTableView,
    QTableWidget,
    QWidget,
)
from pytestqt.qtbot import QtBot

from app.gui.main_window import MainWindow

W = TypeVar("W", bound=QWidget)

DEADLINE_MS = 20_000
"""Generous: a spawned worker takes a moment to start, more on a loaded CI machine."""


def child(window: MainWindow, kind: type[W], name: str) -> W:
    """The window's widget of type ``kind`` named ``name``; fails if there is none."""
    widget = window.findChild(kind, name)
    assert widget is not None, f"no {kind.__name__} named {name!r} in the window"
    return widget


def table_model(window: MainWindow) -> QAbstractItemModel:
    """What the task table shows: its model (the filter proxy)."""
    return child(window, QTableView, "taskTable").model()


def column(model: QAbstractItemModel, title: str) -> int:
    """The column whose horizontal header is ``title``."""
    for col in range(model.columnCount()):
        if model.headerData(col, Qt.Orientation.Horizontal) == title:
            return col
    raise AssertionError(f"no column {title!r} in the task table")


def shown_ids(window: MainWindow) -> list[str]:
    """The task IDs in the table's rows, as shown (filtered and sorted)."""
    model = table_model(window)
    id_col = column(model, "ID")
    return [model.index(row, id_col).data() for row in range(model.rowCount())]


def shown_row(window: MainWindow, task_id: str) -> int | None:
    """The table row showing ``task_id``, or None."""
    ids = shown_ids(window)
    return ids.index(task_id) if task_id in ids else None


def cell(window: MainWindow, task_id: str, title: str) -> Any:
    """The display text of ``task_id``'s cell in column ``title``, or None if no row."""
    model = table_model(window)
    row = shown_row(window, task_id)
    if row is None:
        return None
    return model.index(row, column(model, title)).data()


def state(window: MainWindow, task_id: str) -> str | None:
    """The State cell of ``task_id`` (a TaskState name), or None if it has no row."""
    return cell(window, task_id, "State")


def worker_states(window: MainWindow) -> list[str]:
    """The worker panel's State column, one entry per worker slot."""
    panel = child(window, QWidget, "workerPanel")
    table = panel.findChild(QTableWidget)
    assert table is not None, "the worker panel has no table"
    state_col = next(
        c for c in range(table.columnCount()) if table.horizontalHeaderItem(c).text() == "State"
    )
    return [
        item.text() if (item := table.item(row, state_col)) is not None else ""
        for row in range(table.rowCount())
    ]


def submit(qtbot: QtBot, window: MainWindow, task_id: str, seconds: float = 0.0) -> None:
    """Types an ID and a duration and clicks Submit, as a user would."""
    child(window, QLineEdit, "taskIdEdit").setText(task_id)
    child(window, QDoubleSpinBox, "durationSpin").setValue(seconds)
    qtbot.mouseClick(child(window, QAbstractButton, "submitButton"), Qt.MouseButton.LeftButton)


def message(window: MainWindow) -> str:
    return child(window, QLabel, "submitMessage").text()


def click(qtbot: QtBot, window: MainWindow, name: str) -> None:
    button = child(window, QAbstractButton, name)
    assert button.isEnabled(), f"{name} is disabled"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def enabled(window: MainWindow, name: str) -> bool:
    return child(window, QAbstractButton, name).isEnabled()


def choose_crash(window: MainWindow, text: str) -> None:
    combo = child(window, QComboBox, "crashModeCombo")
    index = combo.findText(text)
    assert index >= 0, f"no crash mode {text!r}"
    combo.setCurrentIndex(index)


def wait_state(qtbot: QtBot, window: MainWindow, task_id: str, *names: str) -> None:
    qtbot.waitUntil(lambda: state(window, task_id) in names, timeout=DEADLINE_MS)


def wait_collected(qtbot: QtBot, window: MainWindow) -> None:
    """The collect has ended: New run offered, submitting no longer possible."""
    qtbot.waitUntil(lambda: enabled(window, "newRunButton"), timeout=DEADLINE_MS)
    assert not enabled(window, "submitButton")
    assert not enabled(window, "crashButton")
    assert not enabled(window, "collectButton")


def select_task(qtbot: QtBot, window: MainWindow, task_id: str) -> None:
    """Clicks the task's row in the table, as a user would."""
    table = child(window, QTableView, "taskTable")
    row = shown_row(window, task_id)
    assert row is not None, f"{task_id} is not in the table"
    index = table.model().index(row, 0)
    table.scrollTo(index)
    qtbot.mouseClick(
        table.viewport(), Qt.MouseButton.LeftButton, pos=table.visualRect(index).center()
    )
    assert [i.row() for i in table.selectionModel().selectedRows()] == [row]
