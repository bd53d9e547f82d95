"""The questions the window asks: what to do with work in flight before it closes, and
whether to kill the workers of running tasks the user cancels."""

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


def ask_force_cancel(parent: QWidget, running: list[str]) -> bool:
    """Yes to killing (and replacing) the workers that run these tasks."""
    shown = ", ".join(repr(task_id) for task_id in running[:5])
    more = f" and {len(running) - 5} more" if len(running) > 5 else ""
    answer = QMessageBox.question(
        parent,
        "Cancel running tasks",
        f"{shown}{more} already run. Cancelling kills the worker running each one (and "
        "what its task started); a new worker takes its place, and the tasks it held "
        "but had not begun go back to the queue. Kill and cancel?",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        QMessageBox.StandardButton.No,
    )
    return answer == QMessageBox.StandardButton.Yes
