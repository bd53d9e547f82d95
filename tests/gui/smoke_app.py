"""The real application on a real X server: submit, crash, collect, then a screenshot.

Run by ``test_smoke_xvfb.py`` in a child process with ``DISPLAY`` set to an Xvfb server
and ``QT_QPA_PLATFORM=xcb``: ``python -m tests.gui.smoke_app SCREENSHOT.png``.
Exits 0 when every step happened as it should.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSettings, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QPushButton

from app.core import TaskState
from app.gui.app import create_window

DEADLINE_MS = 30_000


def main(screenshot: str) -> int:
    settings_file = Path(tempfile.mkdtemp()) / "smoke.ini"
    settings = QSettings(str(settings_file), QSettings.Format.IniFormat)
    qt_app, window = create_window(2, settings)
    window.resize(1400, 860)
    window.show()
    assert QTest.qWaitForWindowExposed(window, DEADLINE_MS), "the window was never shown"
    c = window.controls

    def click(button: QPushButton) -> None:
        QTest.mouseClick(button, Qt.MouseButton.LeftButton)

    def state(task_id: str) -> TaskState | None:
        row = window.model.row_of(task_id)
        return None if row is None else window.model.task_at(row).state

    def wait(condition: Callable[[], bool], what: str) -> None:
        """Runs the event loop in short slices until ``condition`` holds or time runs out."""
        end = time.monotonic() + DEADLINE_MS / 1000
        while not condition():
            assert time.monotonic() < end, f"timed out waiting: {what}"
            QTest.qWait(20)

    try:
        for task_id, seconds in (("one", 1.0), ("two", 2.5)):
            QTest.keyClicks(c.task_id, task_id)
            c.duration.setValue(seconds)
            click(c.submit)
        c.duration.setValue(0.4)
        c.many.setValue(12)
        click(c.submit_many)
        wait(lambda: state("one") is TaskState.DONE, "'one' DONE")
        c.crash_mode.setCurrentIndex(c.crash_mode.findText("SIGKILL"))
        click(c.crash)
        wait(lambda: state("crash-1") is TaskState.CRASHED, "the crash task CRASHED")
        c.crash_mode.setCurrentIndex(c.crash_mode.findText("exception"))
        click(c.crash)
        wait(lambda: state("crash-2") is TaskState.CRASHED, "the second crash task CRASHED")
        click(c.collect)
        wait(lambda: c.new_run.isEnabled(), "the collect to end")
        wait(window.model.settled, "the table to show every change")
        window.table.selectRow(window.model.row_of("crash-2") or 0)
        wait(lambda: "Traceback" in window.details.toPlainText(), "the crash's traceback")
        final = {t.ID: t.state for t in window.model.tasks()}
        assert final["one"] is TaskState.DONE and final["two"] is TaskState.DONE, final
        assert all(s.is_final for s in final.values()), final
        QTest.qWait(300)  # let the last repaint reach the X server before the grab
        image = qt_app.primaryScreen().grabWindow(0)  # the X screen itself, not a render
        assert image.save(screenshot), f"could not save {screenshot}"
    finally:
        window.shutdown()
        window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
