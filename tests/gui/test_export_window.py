"""Export and copy from the window: every task of the run, read back whole."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QApplication, QMessageBox
from pytestqt.qtbot import QtBot

from app.core import SimpleTask, TaskState
from app.gui import MainWindow


def test_export_and_copy_from_the_window(qtbot: QtBot, window: MainWindow, tmp_path: Path) -> None:
    for task_id in ("a,1", 'b "2"', "ü-3"):
        assert window.facade.process_task(SimpleTask(task_id, 0.0))
    qtbot.waitUntil(
        lambda: (
            all(t.state is TaskState.DONE for t in window.facade.tasks) and window.model.settled()
        ),
        timeout=20_000,
    )
    path = tmp_path / "run.json"
    window.export_tasks(str(path))
    records = json.loads(path.read_text(encoding="utf-8"))
    assert [(r["ID"], r["state"]) for r in records] == [
        ("a,1", "DONE"),
        ('b "2"', "DONE"),
        ("ü-3", "DONE"),
    ]
    assert "exported 3" in window.controls.message.text()

    window.table.selectAll()
    window.copy_selected()
    copied = QApplication.clipboard().text().split("\n")
    assert [line.split("\t")[:2] for line in copied] == [
        ["a,1", "DONE"],
        ['b "2"', "DONE"],
        ["ü-3", "DONE"],
    ]


class MessageReader:
    """Reads and closes each message box the window opens, from inside its event loop,
    as a user would."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self._timer = QTimer()
        self._timer.setInterval(10)
        self._timer.timeout.connect(self._answer)

    def __enter__(self) -> MessageReader:
        self._timer.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._timer.stop()

    def _answer(self) -> None:
        modal = QApplication.activeModalWidget()
        if isinstance(modal, QMessageBox):
            self.messages.append("\n".join(filter(None, (modal.text(), modal.informativeText()))))
            modal.done(0)


def export_through_the_menu(window: MainWindow, path: Path) -> list[str]:
    """File > Export tasks, ``path`` chosen in the file dialog; the messages shown."""
    window.ask_export_path = lambda: str(path)  # type: ignore[method-assign]
    action = next(a for a in window.findChildren(QAction) if a.text() == "&Export tasks...")
    with MessageReader() as reader:
        action.trigger()
    return reader.messages


def test_export_to_a_missing_folder_says_which_folder(
    qtbot: QtBot, window: MainWindow, tmp_path: Path
) -> None:
    assert window.facade.process_task(SimpleTask("one", 0.0))
    folder = tmp_path / "no" / "such"
    messages = export_through_the_menu(window, folder / "tasks.csv")
    assert len(messages) == 1
    assert messages[0].endswith(f": {folder}")  # "No such file or directory: <folder>"
    assert ".tasks.csv." not in messages[0]  # not the temporary file
    assert "Traceback" not in messages[0]
    assert list(tmp_path.iterdir()) == []


def test_export_over_a_folder_names_it(qtbot: QtBot, window: MainWindow, tmp_path: Path) -> None:
    target = tmp_path / "tasks.json"
    target.mkdir()
    messages = export_through_the_menu(window, target)
    assert len(messages) == 1
    assert messages[0].endswith(f": {target}")
    assert ".tasks.json." not in messages[0]
    assert [p.name for p in tmp_path.iterdir()] == ["tasks.json"]


def test_export_through_the_menu_writes_the_file(
    qtbot: QtBot, window: MainWindow, tmp_path: Path
) -> None:
    assert window.facade.process_task(SimpleTask("one", 0.0))
    path = tmp_path / "run.csv"
    assert export_through_the_menu(window, path) == []
    assert path.read_text(encoding="utf-8").splitlines()[1].startswith("one,")
    assert "exported 1" in window.controls.message.text()
