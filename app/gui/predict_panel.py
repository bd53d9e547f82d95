"""The Predict tab: one row per task to predict, a choice of final state each, the step
run on request, then a mark per row as each task really ends.

Non-modal, in the side tabs, so the table, the timeline and the console stay in view
while the learner thinks. Keyboard: Tab goes from one choice to the next, a letter or
the arrows choose (D for DONE, L for LOST...), Alt+P runs the step once each row has a
choice.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from app.core import TaskState
from app.gui.resources import state_icon
from app.teaching.predict import CHOICES, Row

RIGHT_COLOUR = "#1a7f37"
WRONG_COLOUR = "#cf222e"


class PredictPanel(QWidget):
    """Asks for a guess per row; ``run_requested`` once every row has one."""

    run_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("predictPanel")
        self.title = _wrapped("predictTitle", self)
        self.rows_box = QWidget(self)
        self.grid = QGridLayout(self.rows_box)
        self.grid.setColumnStretch(0, 1)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.rows_box)
        self.run_button = QPushButton("Run the ste&p", self)
        self.run_button.setObjectName("predictRunButton")
        self.run_button.setToolTip(
            "Lets the held step run; each guess is marked right or wrong as its task ends  (Alt+P)"
        )
        self.run_button.clicked.connect(self._run_clicked)
        self.status = _wrapped("predictStatus", self)
        self.explained = QPlainTextEdit(self)
        self.explained.setObjectName("predictExplained")
        self.explained.setReadOnly(True)
        self.explained.hide()
        self.score = _wrapped("predictScore", self)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(scroll, 1)
        layout.addWidget(self.run_button)
        layout.addWidget(self.status)
        layout.addWidget(self.explained, 1)
        layout.addWidget(self.score)
        self.combos: dict[str, QComboBox] = {}
        self.marks: dict[str, QLabel] = {}
        self.nows: dict[str, QLabel] = {}
        self.withdrawn: set[str] = set()
        self.clear("")

    # -- asking ---------------------------------------------------------------------------
    def ask(self, title: str, rows: Sequence[Row]) -> None:
        """Shows ``rows``, each with a choice to make, and focuses the first choice."""
        self._clear_rows()
        self.title.setText(title)
        self.explained.hide()
        for column, header in enumerate(("Task", "Now", "Will end as", "Really")):
            label = QLabel(f"<b>{header}</b>", self.rows_box)
            self.grid.addWidget(label, 0, column)
        for n, row in enumerate(rows, start=1):
            name = QLabel(row.task_id, self.rows_box)
            name.setTextFormat(Qt.TextFormat.PlainText)
            combo = QComboBox(self.rows_box)
            combo.setObjectName(f"guess:{row.task_id}")
            combo.setAccessibleName(f"What {row.task_id} will end as")
            combo.setPlaceholderText("choose...")
            for state in CHOICES:
                combo.addItem(state_icon(state.value), state.name, state)
            combo.setCurrentIndex(-1)
            combo.currentIndexChanged.connect(self._choice_changed)
            name.setBuddy(combo)
            mark = QLabel("", self.rows_box)
            mark.setObjectName(f"mark:{row.task_id}")
            self.grid.addWidget(name, n, 0)
            now = QLabel(row.now, self.rows_box)
            self.grid.addWidget(now, n, 1)
            self.grid.addWidget(combo, n, 2)
            self.grid.addWidget(mark, n, 3)
            self.combos[row.task_id] = combo
            self.marks[row.task_id] = mark
            self.nows[row.task_id] = now
        self.grid.setRowStretch(len(rows) + 1, 1)
        self.run_button.show()
        self._choice_changed()
        if rows:
            self.combos[rows[0].task_id].setFocus(Qt.FocusReason.OtherFocusReason)

    def guesses(self) -> dict[str, TaskState]:
        """The choices made so far, by task ID."""
        return {
            i: c.currentData()
            for i, c in self.combos.items()
            if c.currentIndex() >= 0 and i not in self.withdrawn
        }

    def missing(self) -> list[str]:
        return [
            i for i, c in self.combos.items() if c.currentIndex() < 0 and i not in self.withdrawn
        ]

    @Slot()
    def _choice_changed(self) -> None:
        missing = self.missing()
        self.run_button.setEnabled(len(self.combos) > len(self.withdrawn) and not missing)
        if missing:
            n = len(missing)
            self.status.setText(f"Choose what each task will end as: {n} row(s) left.")
        elif self.combos:
            self.status.setText("Every row has a guess: run the step (Alt+P).")

    @Slot()
    def _run_clicked(self) -> None:
        if self.missing():
            return
        for combo in self.combos.values():
            combo.setEnabled(False)
        self.run_button.setEnabled(False)
        self.run_requested.emit()

    # -- marking --------------------------------------------------------------------------
    def set_now(self, task_id: str, now: str) -> None:
        label = self.nows.get(task_id)
        if label is not None and label.text() != now:
            label.setText(now)

    def withdraw(self, task_id: str, real: TaskState) -> None:
        """The task ended before the step ran: no guess to make, nothing scored."""
        combo, label = self.combos.get(task_id), self.marks.get(task_id)
        if combo is None or label is None:
            return
        self.withdrawn.add(task_id)
        combo.setEnabled(False)
        label.setText(f"{real.name} (not counted)")
        label.setToolTip("It ended while the step was held: its end was seen, not predicted.")
        self._choice_changed()

    def mark(self, task_id: str, right: bool, real: TaskState, why: str = "") -> None:
        """✓ or ✗ beside the guess, with the state the task really ended in; ``why`` it
        did in the tooltip."""
        label = self.marks.get(task_id)
        if label is None:
            return
        colour = RIGHT_COLOUR if right else WRONG_COLOUR
        label.setText(f'<span style="color:{colour}">{"✓" if right else "✗"}</span> {real.name}')
        verdict = "Your guess was right." if right else "Your guess was wrong."
        label.setToolTip(f"{verdict} {why}".strip())
        label.setAccessibleName(f"{'right' if right else 'wrong'}: {real.name}")

    def explain(self, text: str) -> None:
        """The difference between the guesses and what happened, under the marks."""
        self.explained.setPlainText(text)
        self.explained.show()

    def clear(self, text: str) -> None:
        """No question: ``text`` says why."""
        self._clear_rows()
        self.title.setText(text)
        self.run_button.hide()
        self.explained.hide()
        self.status.setText("")

    def _clear_rows(self) -> None:
        while self.grid.count():
            item = self.grid.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        for row in range(self.grid.rowCount()):
            self.grid.setRowStretch(row, 0)
        self.combos = {}
        self.marks = {}
        self.nows = {}
        self.withdrawn = set()


def _wrapped(name: str, parent: QWidget) -> QLabel:
    label = QLabel(parent)
    label.setObjectName(name)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.PlainText)
    return label
