"""The task table: filters by state and text, and the models checked by qtmodeltester."""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QAbstractItemModelTester
from PySide6.QtWidgets import QAbstractButton, QComboBox, QLineEdit, QTableView
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot

from app.core import EventsDropped, SimpleTask, TaskState, WorkingProcessFacade
from app.gui import MainWindow
from app.gui.console_view import ConsoleView
from app.gui.task_model import STATE, TaskTableModel
from tests.gui.helpers import DEADLINE_MS, child, choose_crash, click, shown_ids, state


def choose_filter(window: MainWindow, text: str) -> None:
    combo = child(window, QComboBox, "stateFilterCombo")
    index = combo.findText(text)
    assert index >= 0, f"no state filter {text!r}"
    combo.setCurrentIndex(index)


@pytest.mark.timeout(60)
def test_state_and_text_filters(qtbot: QtBot, window: MainWindow) -> None:
    for task_id in ("alpha-1", "beta-2", "alpha-3"):
        window.facade.process_task(SimpleTask(task_id, 0.0))
    qtbot.waitUntil(lambda: state(window, "alpha-3") == "DONE", timeout=DEADLINE_MS)
    choose_crash(window, "exception")
    click(qtbot, window, "crashButton")
    qtbot.waitUntil(lambda: state(window, "crash-1") == "CRASHED", timeout=DEADLINE_MS)
    everything = ["alpha-1", "beta-2", "alpha-3", "crash-1"]
    assert shown_ids(window) == everything

    choose_filter(window, "Problems")
    assert shown_ids(window) == ["crash-1"]
    choose_filter(window, "CRASHED")
    assert shown_ids(window) == ["crash-1"]
    choose_filter(window, "DONE")
    assert shown_ids(window) == ["alpha-1", "beta-2", "alpha-3"]
    choose_filter(window, "Unfinished")
    assert shown_ids(window) == []

    text = child(window, QLineEdit, "textFilterEdit")
    choose_filter(window, "DONE")
    text.setText("alpha")
    assert shown_ids(window) == ["alpha-1", "alpha-3"]
    text.setText("ALPHA-3 ")  # case and surrounding blanks do not matter
    assert shown_ids(window) == ["alpha-3"]
    text.setText("solved after")  # the result text counts too
    assert shown_ids(window) == ["alpha-1", "beta-2", "alpha-3"]
    choose_filter(window, "All states")
    text.setText("crash")
    assert shown_ids(window) == ["crash-1"]
    text.clear()
    assert shown_ids(window) == everything

    # A task arriving while a filter is on is shown only if it passes.
    choose_filter(window, "DONE")
    text.setText("gamma")
    window.facade.restart_worker()
    window.facade.process_task(SimpleTask("gamma-4", 0.0))
    window.facade.process_task(SimpleTask("delta-5", 0.0))
    qtbot.waitUntil(lambda: window.model.rowCount() == 6, timeout=DEADLINE_MS)
    qtbot.waitUntil(lambda: shown_ids(window) == ["gamma-4"], timeout=DEADLINE_MS)


@pytest.mark.qt_log_level_fail("WARNING")
@pytest.mark.qt_log_ignore("propagateSizeHints")
@pytest.mark.timeout(60)
@pytest.mark.parametrize("which", ["source", "proxy"])
def test_model_passes_qtmodeltester(
    qtbot: QtBot, window: MainWindow, qtmodeltester: ModelTester, which: str
) -> None:
    """pytest-qt's tester watches the model from empty, through rows arriving and changing,
    sorting and filtering, to the reset of a new run. Qt's C++ tester watches too; its
    complaints are warnings, which qt_log_level_fail turns into failures."""
    table = child(window, QTableView, "taskTable")
    proxy = table.model()
    assert proxy is not window.model
    model = window.model if which == "source" else proxy
    assert model.rowCount() == 0
    qtmodeltester.check(model, force_py=True)
    qt_tester = QAbstractItemModelTester(
        model, QAbstractItemModelTester.FailureReportingMode.Warning
    )
    window.submit_many(40, 0.0)
    window.facade.process_task(SimpleTask("slow", 0.3))
    qtbot.waitUntil(lambda: state(window, "slow") == "DONE", timeout=DEADLINE_MS)
    qtbot.waitUntil(lambda: window.model.rowCount() == 41, timeout=DEADLINE_MS)
    qtbot.waitUntil(lambda: not window.has_work_in_flight(), timeout=DEADLINE_MS)
    table.sortByColumn(1, Qt.SortOrder.DescendingOrder)
    child(window, QLineEdit, "textFilterEdit").setText("task-1")
    assert 0 < proxy.rowCount() < 41
    child(window, QLineEdit, "textFilterEdit").clear()
    table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
    click(qtbot, window, "collectButton")
    qtbot.waitUntil(
        lambda: child(window, QAbstractButton, "newRunButton").isEnabled(), timeout=DEADLINE_MS
    )
    click(qtbot, window, "newRunButton")
    assert model.rowCount() == 0  # both testers checked the reset
    del qt_tester


@pytest.mark.timeout(60)
def test_the_table_resyncs_after_events_were_dropped(
    qtbot: QtBot, qtmodeltester: ModelTester
) -> None:
    """A window that fell so far behind that the facade dropped events shows each task's
    own state, and says so in the console."""
    facade = WorkingProcessFacade()
    try:
        model = TaskTableModel()
        model.set_facade(facade)
        tasks = [SimpleTask(f"t{n}", 0.0) for n in range(5)]
        for task in tasks:
            facade.process_task(task)
        end = time.monotonic() + 30
        while not all(t.state.is_final for t in tasks) and time.monotonic() < end:
            facade.poll_events(0.05)  # the model never hears of these
        model.apply_events([EventsDropped(15, time.time())])
        model.flush()
        states = [model.index(row, STATE).data() for row in range(model.rowCount())]
        assert states == ["DONE"] * 5
        assert model.counts[TaskState.DONE] == 5
        qtmodeltester.check(model)

        console = ConsoleView()
        qtbot.addWidget(console)
        console.add_events([EventsDropped(15, time.time())])
        assert "15 facade events were dropped" in console.text.toPlainText()
    finally:
        facade.close()
