"""The crash explainer and the code behind each action, in the window."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from app.core import TaskState
from app.gui import MainWindow


def test_a_crash_is_explained_and_the_call_is_shown(qtbot: QtBot, window: MainWindow) -> None:
    c = window.controls
    c.task_id.setText("queued")
    c.duration.setValue(0.0)
    c.crash_mode.setCurrentIndex(c.crash_mode.findText("exit code 3"))
    c.crash.click()
    assert c.code.text() == "w.process_task(CrashTask('crash-1', 'exit'))  ->  True"
    c.submit.click()
    assert c.code.text() == "w.process_task(SimpleTask('queued', 0.0))  ->  True"
    qtbot.waitUntil(lambda: "Blamed" in window.explainer.toPlainText(), timeout=20_000)
    text = window.explainer.toPlainText()
    assert "Blamed: 'crash-1' was running, so it ends CRASHED" in text
    assert "Lost: 'queued'" in text
    assert "exit(3)" in text and "BrokenProcessPool" in text
    assert window.side.currentWidget() is window.explainer
    assert window.facade.task("queued").state is TaskState.LOST

    c.restart.click()
    assert c.code.text() == "w.restart_worker(requeue_lost=True)  ->  1"
    c.collect.click()
    assert c.code.text() == "tasks = w.collect_tasks()"
    qtbot.waitUntil(c.new_run.isEnabled, timeout=20_000)
    assert window.facade.task("queued").state is TaskState.DONE
