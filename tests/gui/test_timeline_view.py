"""The timeline in the window: bars appear, a click selects the task, zoom, death marks."""

from __future__ import annotations

import time

from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from app.core import CrashTask, SimpleTask, TaskState
from app.gui import MainWindow
from app.gui.timeline_view import LABEL_WIDTH


def test_timeline_bars_click_and_death(qtbot: QtBot, window: MainWindow) -> None:
    view = window.timeline
    facade = window.facade
    for task in (SimpleTask("a", 0.3), SimpleTask("b", 0.3), CrashTask("boom", "kill")):
        assert facade.process_task(task)
    qtbot.waitUntil(lambda: facade.task("boom").state is TaskState.CRASHED, timeout=20_000)
    qtbot.waitUntil(
        lambda: view.timeline is not None and view.timeline.lanes[0].end is not None,
        timeout=10_000,
    )
    lane = view.timeline.lanes[0]
    assert [(b.task_id, b.state) for b in lane.bars] == [
        ("a", TaskState.DONE),
        ("b", TaskState.DONE),
        ("boom", TaskState.CRASHED),
    ]
    assert lane.death == "SIGKILL"

    view.zoom(4.0)  # wider bars; the view still shows the present
    assert view.px_per_s == 400.0
    qtbot.waitUntil(lambda: window.model.settled(), timeout=5_000)
    view.horizontalScrollBar().setValue(0)  # back to the start of the run: stays put
    geometry = view.geometry_now()
    x, y, w, h = geometry.bar_rect(0, lane.bars[1], time.time())
    point = QPoint(int(LABEL_WIDTH + x + w / 2), int(y + h / 2))
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=point)
    assert window.selected_ids() == ["b"]
    assert view.selected == "b"

    window.table.selectRow(window.model.row_of("a") or 0)
    assert view.selected == "a"
