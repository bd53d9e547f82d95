"""The task table and the timeline by keyboard alone, on a real run: keys go from bar to
bar, Enter selects, the table's Enter and Space open the details, shortcuts reach the
filters, Tab goes in the order things are seen."""

from __future__ import annotations

import math

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from app.core import SimpleTask, TaskState
from app.gui import MainWindow
from app.gui.timeline_view import LABEL_WIDTH, MAX_PX_PER_S, MIN_PX_PER_S
from app.testing import WindowFactory
from tests.gui.helpers import DEADLINE_MS, shown_ids

CTRL = Qt.KeyboardModifier.ControlModifier


@pytest.fixture
def ran(qtbot: QtBot, monitor_window: WindowFactory) -> MainWindow:
    """A two-worker window whose run has done and failed tasks on both lanes."""
    window = monitor_window(workers=2)
    facade = window.facade
    # Both processes up first, so that each runs some of the tasks (two lanes of bars).
    qtbot.waitUntil(lambda: _lanes(window) == 2, timeout=DEADLINE_MS)
    for n in range(6):
        assert facade.process_task(SimpleTask(f"t{n}", 0.15))
    facade.submit(math.sqrt, -1)  # FAILED: a ValueError in the worker
    qtbot.waitUntil(
        lambda: len(facade.tasks) == 7 and all(t.state.is_final for t in facade.tasks),
        timeout=DEADLINE_MS,
    )
    qtbot.waitUntil(lambda: _bars(window) == 7, timeout=DEADLINE_MS)
    window.model.flush()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=DEADLINE_MS)
    return window


def _lanes(window: MainWindow) -> int:
    timeline = window.timeline.timeline
    return 0 if timeline is None else len(timeline.lanes)


def _bars(window: MainWindow) -> int:
    timeline = window.timeline.timeline
    return 0 if timeline is None else sum(len(lane.bars) for lane in timeline.lanes)


def _highlighted(image: QImage, colour: QColor) -> int:
    return sum(
        image.pixelColor(x, y) == colour
        for y in range(image.height())
        for x in range(image.width())
    )


@pytest.mark.timeout(60)
def test_the_timeline_by_keyboard(qtbot: QtBot, ran: MainWindow) -> None:
    view = ran.timeline
    timeline = view.timeline
    assert timeline is not None
    lanes = [lane for lane in timeline.lanes if lane.bars]
    assert len(lanes) == 2, [len(lane.bars) for lane in timeline.lanes]
    highlight = view.palette().highlight().color()
    unfocused = _highlighted(view.viewport().grab().toImage(), highlight)

    view.setFocus(Qt.FocusReason.TabFocusReason)
    qtbot.waitUntil(view.hasFocus)
    latest = max((bar for lane in lanes for bar in lane.bars), key=lambda bar: bar.start)
    assert view.focused_task() == latest.task_id  # Tab in: the run's latest bar
    # The focus shows: a frame round the view and one round the bar, in the highlight.
    viewport = view.viewport()
    framed = _highlighted(viewport.grab().toImage(), highlight)
    assert framed - unfocused > viewport.width() + viewport.height()

    qtbot.keyClick(view, Qt.Key.Key_Home, CTRL)
    first = min((lane.bars[0] for lane in lanes), key=lambda bar: bar.start)
    assert view.focused_task() == first.task_id
    here = next(lane for lane in lanes if lane.bars[0] is first)
    there = next(lane for lane in lanes if lane is not here)
    qtbot.keyClick(view, Qt.Key.Key_Right)
    assert view.focused_task() == here.bars[min(1, len(here.bars) - 1)].task_id
    qtbot.keyClick(view, Qt.Key.Key_End)
    assert view.focused_task() == here.bars[-1].task_id
    qtbot.keyClick(view, Qt.Key.Key_Home)
    assert view.focused_task() == first.task_id
    qtbot.keyClick(view, Qt.Key.Key_Down if here is lanes[0] else Qt.Key.Key_Up)
    on = view.focused_task()
    assert on in [bar.task_id for bar in there.bars]  # the other lane, nearest in time
    # What the bar is, for the eye (tooltip) and for a screen reader.
    task = ran.facade.task(on)
    assert view.accessibleDescription().startswith(f"{on}: {task.state.name}")

    qtbot.keyClick(view, Qt.Key.Key_Return)  # selects its task in the table
    assert ran.selected_ids() == [on] and view.selected == on
    assert on in ran.details.toPlainText()
    assert view.hasFocus()  # the keyboard stays on the timeline

    before = view.px_per_s
    qtbot.keyClick(view, Qt.Key.Key_Plus)
    assert view.px_per_s == pytest.approx(before * 1.25)
    qtbot.keyClick(view, Qt.Key.Key_Minus)
    assert view.px_per_s == pytest.approx(before)
    assert view.focused_task() == on
    for _press in range(60):  # far past the closest zoom: it stops there, bar in view
        qtbot.keyClick(view, Qt.Key.Key_Plus)
    assert view.px_per_s == MAX_PX_PER_S
    bar = next(bar for bar in there.bars if bar.task_id == on)
    x = view.geometry_now().x(bar.start)
    assert 0 <= x <= view.viewport().width() - LABEL_WIDTH
    for _press in range(60):
        qtbot.keyClick(view, Qt.Key.Key_Minus)
    assert view.px_per_s == MIN_PX_PER_S

    # A click puts the keyboard on the clicked bar's task too.
    ran.select_task(first.task_id)
    assert view.focused_task() == first.task_id

    # A replay gone back before the keyboard's bar began: that bar is not there, and
    # Enter goes to the latest bar begun by then instead of selecting an unseen task.
    qtbot.keyClick(view, Qt.Key.Key_End, CTRL)
    assert view.focused_task() == latest.task_id
    view.freeze(latest.start - 1e-6)
    assert view.focused_task() is None
    ran.table.clearSelection()
    qtbot.keyClick(view, Qt.Key.Key_Return)
    assert view.focused_task() not in (None, latest.task_id)
    assert ran.selected_ids() == []


def test_keys_on_a_timeline_with_nothing_yet(qtbot: QtBot) -> None:
    """No run, then a run without bars: every key is harmless and no bar is focused."""
    from app.gui.timeline_view import TimelineView

    view = TimelineView()
    qtbot.addWidget(view)
    view.show()
    qtbot.waitExposed(view)
    keys = [Qt.Key.Key_Left, Qt.Key.Key_Down, Qt.Key.Key_End, Qt.Key.Key_Return, Qt.Key.Key_Plus]
    for key in keys:
        qtbot.keyClick(view, key)
    view.reset(lambda task_id: SimpleTask(task_id, 0))
    view.setFocus()
    for key in keys:
        qtbot.keyClick(view, key)
    assert view.focused_task() is None


@pytest.mark.timeout(60)
def test_the_table_by_keyboard(qtbot: QtBot, ran: MainWindow) -> None:
    table, details, bar = ran.table, ran.details, ran.table_bar
    ran.side.setCurrentIndex(1)  # another tab than the task's details
    table.setFocus(Qt.FocusReason.TabFocusReason)
    qtbot.waitUntil(table.hasFocus)
    qtbot.keyClick(table, Qt.Key.Key_Home, CTRL)
    qtbot.keyClick(table, Qt.Key.Key_Down)
    qtbot.keyClick(table, Qt.Key.Key_Down)
    current = shown_ids(ran)[table.currentIndex().row()]
    table.clearSelection()

    qtbot.keyClick(table, Qt.Key.Key_Space)  # shows the details, the keyboard stays
    assert ran.selected_ids() == [current]
    assert ran.side.currentWidget() is details
    assert current in details.toPlainText()
    assert table.hasFocus()

    qtbot.keyClick(table, Qt.Key.Key_Return)  # opens them: the keyboard goes to them
    qtbot.waitUntil(details.hasFocus)
    qtbot.keyClick(details, Qt.Key.Key_Escape)  # and comes back
    qtbot.waitUntil(table.hasFocus)

    qtbot.keyClick(table, Qt.Key.Key_F, CTRL)
    qtbot.waitUntil(bar.text_filter.hasFocus)
    qtbot.keyClicks(bar.text_filter, "t3")
    qtbot.waitUntil(lambda: shown_ids(ran) == ["t3"])
    bar.text_filter.clear()
    qtbot.keyClick(bar.text_filter, Qt.Key.Key_F, CTRL | Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(bar.state_filter.hasFocus)
    failed = bar.state_filter.findText(TaskState.FAILED.name)
    bar.state_filter.setCurrentIndex(failed - 1)
    qtbot.keyClick(bar.state_filter, Qt.Key.Key_Down)  # the arrows choose the filter
    qtbot.waitUntil(lambda: shown_ids(ran) == ["sqrt-1"])
    assert "Ctrl+F" in bar.text_filter.toolTip()


@pytest.mark.timeout(60)
def test_tab_goes_in_the_order_things_are_seen(qtbot: QtBot, ran: MainWindow) -> None:
    bar = ran.table_bar
    bar.state_filter.setFocus(Qt.FocusReason.TabFocusReason)
    qtbot.waitUntil(bar.state_filter.hasFocus)
    seen: list[QWidget] = [bar.state_filter]
    for _press in range(8):
        focused = QApplication.focusWidget()
        assert focused is not None
        qtbot.keyClick(focused, Qt.Key.Key_Tab)
        seen.append(QApplication.focusWidget())
        if seen[-1] is ran.timeline_pane.toggle:
            break
    wanted = [bar.state_filter, bar.text_filter, ran.table, ran.timeline]
    order = [seen.index(widget) for widget in wanted]
    assert order == sorted(order), [w.objectName() or type(w).__name__ for w in seen]
    assert seen[-1] is ran.timeline_pane.toggle  # then the legend's toggle
