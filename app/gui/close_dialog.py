"""The question a window with work in flight asks before it closes."""

from __future__ import annotations

import enum

from PySide6.QtWidgets import QMessageBox, QWidget


class CloseChoice(enum.Enum):
    COLLECT = "collect and quit"
    KILL = "quit now"
    STAY = "stay"


def ask_close_choice(parent: QWidget) -> CloseChoice:
    """Collect and quit, quit now, or stay: the modal question, answered."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle("Work in flight")
    box.setText("Tasks are still queued or running.")
    box.setInformativeText(
        "Collect waits for them to finish; Quit now kills the workers "
        "(the running task ends TIMED_OUT, queued ones CANCELLED)."
    )
    collect = box.addButton("Collect and quit", QMessageBox.ButtonRole.AcceptRole)
    kill = box.addButton("Quit now", QMessageBox.ButtonRole.DestructiveRole)
    stay = box.addButton("Stay", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(stay)
    box.exec()
    clicked = box.clickedButton()
    if clicked is collect:
        return CloseChoice.COLLECT
    if clicked is kill:
        return CloseChoice.KILL
    return CloseChoice.STAY
