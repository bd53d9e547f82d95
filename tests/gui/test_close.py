"""Closing the window with work in flight: collect and quit, quit now, or stay."""

from __future__ import annotations

import psutil
import pytest
from PySide6.QtWidgets import QAbstractButton
from pytestqt.qtbot import QtBot

from app.core import SimpleTask, TaskState
from app.gui.close_dialog import CloseChoice
from app.gui.main_window import MainWindow
from app.testing import WindowFactory
from tests.gui.helpers import DEADLINE_MS, child, state, submit


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def busy_window(qtbot: QtBot, monitor_window: WindowFactory, seconds: float) -> MainWindow:
    """A window whose worker runs ``long`` (``seconds``) with ``queued`` waiting behind."""
    window = monitor_window(workers=1)
    submit(qtbot, window, "long", seconds)
    submit(qtbot, window, "queued", 0.0)
    qtbot.waitUntil(lambda: state(window, "long") == "RUNNING", timeout=DEADLINE_MS)
    return window


def answer(window: MainWindow, choice: CloseChoice, asked: list[CloseChoice]) -> None:
    def ask_close_choice() -> CloseChoice:
        asked.append(choice)
        return choice

    window.ask_close_choice = ask_close_choice  # type: ignore[method-assign]


@pytest.mark.timeout(60)
def test_close_and_stay_keeps_the_run(qtbot: QtBot, monitor_window: WindowFactory) -> None:
    window = busy_window(qtbot, monitor_window, 30.0)
    asked: list[CloseChoice] = []
    answer(window, CloseChoice.STAY, asked)
    assert not window.close()
    assert asked == [CloseChoice.STAY]
    assert window.isVisible()
    assert child(window, QAbstractButton, "submitButton").isEnabled()
    assert all(info.alive for info in window.facade.worker_info())
    submit(qtbot, window, "after-stay", 0.0)  # the run still takes tasks, the table follows
    qtbot.waitUntil(lambda: state(window, "after-stay") == "PENDING", timeout=DEADLINE_MS)
    assert state(window, "long") == "RUNNING"


@pytest.mark.timeout(60)
def test_close_and_quit_now_kills_the_workers(qtbot: QtBot, monitor_window: WindowFactory) -> None:
    window = busy_window(qtbot, monitor_window, 30.0)
    pids = [info.pid for info in window.facade.worker_info() if info.pid is not None]
    assert pids
    asked: list[CloseChoice] = []
    answer(window, CloseChoice.KILL, asked)
    assert window.close()
    assert asked == [CloseChoice.KILL]
    assert not window.isVisible()
    qtbot.waitUntil(lambda: all(gone(pid) for pid in pids), timeout=DEADLINE_MS)
    assert window.facade.task("long").state is TaskState.TIMED_OUT
    assert window.facade.task("queued").state is TaskState.CANCELLED


@pytest.mark.timeout(60)
def test_close_and_collect_waits_then_closes(qtbot: QtBot, monitor_window: WindowFactory) -> None:
    window = busy_window(qtbot, monitor_window, 1.0)
    pids = [info.pid for info in window.facade.worker_info() if info.pid is not None]
    asked: list[CloseChoice] = []
    answer(window, CloseChoice.COLLECT, asked)
    assert not window.close()  # not yet: the collect closes it when it ends
    assert asked == [CloseChoice.COLLECT]
    assert window.isVisible()
    assert child(window, QAbstractButton, "killNowButton").isEnabled()
    assert not window.close()  # asking again while collecting does not ask again
    assert asked == [CloseChoice.COLLECT]
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=DEADLINE_MS)
    assert window.facade.task("long").state is TaskState.DONE
    assert window.facade.task("queued").state is TaskState.DONE
    qtbot.waitUntil(lambda: all(gone(pid) for pid in pids), timeout=DEADLINE_MS)


def test_close_without_work_in_flight_does_not_ask(
    qtbot: QtBot, monitor_window: WindowFactory
) -> None:
    window = monitor_window(workers=1)
    submit(qtbot, window, "quick", 0.0)
    qtbot.waitUntil(lambda: state(window, "quick") == "DONE", timeout=DEADLINE_MS)
    qtbot.waitUntil(lambda: not window.has_work_in_flight(), timeout=DEADLINE_MS)
    asked: list[CloseChoice] = []
    answer(window, CloseChoice.STAY, asked)
    assert window.close()
    assert asked == []
    assert not window.isVisible()


@pytest.mark.timeout(60)
def test_close_asks_about_a_task_the_table_has_not_shown_yet(
    qtbot: QtBot, monitor_window: WindowFactory
) -> None:
    """Work in flight is the facade's, not the table's: a task submitted by code an instant
    before the close is not yet in the table's counts, and must still be asked about."""
    window = monitor_window(workers=1)
    asked: list[CloseChoice] = []
    answer(window, CloseChoice.STAY, asked)
    assert window.facade.process_task(SimpleTask("just-sent", 30.0))
    assert not window.close()
    assert asked == [CloseChoice.STAY]
    assert window.facade.task("just-sent").state in (TaskState.PENDING, TaskState.RUNNING)
