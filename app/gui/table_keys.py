"""The task table and the timeline by keyboard alone.

In the table, Enter opens the current task's details (the focus goes to them, Escape
brings it back), Space shows them and keeps the focus in the table; Ctrl+F goes to the
text filter, Ctrl+Shift+F to the state filter; Tab goes filters, row actions, table,
timeline, legend, in the order they are seen.
"""

from __future__ import annotations

import itertools

from PySide6.QtCore import QEvent, QItemSelectionModel, QObject, Qt
from PySide6.QtGui import QKeyEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import QPlainTextEdit, QTableView, QTabWidget, QWidget

from app.gui.controls import TableBar
from app.gui.timeline_legend import TimelinePane

TEXT_FILTER_KEYS = QKeySequence.StandardKey.Find  # Ctrl+F; a sequence needs the app first
STATE_FILTER_KEYS = "Ctrl+Shift+F"
_OPEN = (Qt.Key.Key_Return, Qt.Key.Key_Enter)
_PEEK = (Qt.Key.Key_Space, Qt.Key.Key_Select)


class TableKeys(QObject):
    """Keys of the table, its filters and its details; one per window."""

    def __init__(
        self,
        table: QTableView,
        bar: TableBar,
        details: QPlainTextEdit,
        side: QTabWidget,
        pane: TimelinePane,
    ) -> None:
        super().__init__(table)
        self.table, self.bar, self.details, self.side = table, bar, details, side
        table.installEventFilter(self)
        details.installEventFilter(self)
        text_keys, state_keys = QKeySequence(TEXT_FILTER_KEYS), QKeySequence(STATE_FILTER_KEYS)
        self._shortcut(bar, text_keys, self.to_text_filter)
        self._shortcut(bar, state_keys, bar.state_filter.setFocus)
        native = QKeySequence.SequenceFormat.NativeText
        bar.text_filter.setToolTip(
            "Shows only the tasks whose ID, result or error holds this text "
            f"({text_keys.toString(native)})"
        )
        bar.state_filter.setToolTip(
            f"Shows only the tasks in these states ({state_keys.toString(native)})"
        )
        table.setAccessibleName("Tasks")
        details.setAccessibleName("The selected task's details")
        chain = [
            bar.state_filter,
            bar.text_filter,
            bar.cancel,
            bar.resubmit,
            bar.stack,
            table,
            pane.timeline,
            pane.toggle,
        ]
        for first, second in itertools.pairwise(chain):
            QWidget.setTabOrder(first, second)

    def _shortcut(self, owner: QWidget, keys: QKeySequence, slot: object) -> None:
        """Keys that work anywhere in the window ``owner`` is in."""
        shortcut = QShortcut(keys, owner)
        shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
        shortcut.activated.connect(slot)

    def to_text_filter(self) -> None:
        self.bar.text_filter.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.bar.text_filter.selectAll()

    def open_current(self, focus: bool) -> bool:
        """Selects the current row (if it is not) and shows its details; ``focus`` moves
        the keyboard to them. False when there is no current row."""
        index = self.table.currentIndex()
        if not index.isValid():
            return False
        selection = self.table.selectionModel()
        if not selection.isSelected(index):
            flags = (
                QItemSelectionModel.SelectionFlag.ClearAndSelect
                | QItemSelectionModel.SelectionFlag.Rows
            )
            selection.select(index, flags)
        self.side.setCurrentWidget(self.details)
        if focus:
            self.details.setFocus(Qt.FocusReason.OtherFocusReason)
        return True

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() != QEvent.Type.KeyPress or not isinstance(event, QKeyEvent):
            return False
        key = event.key()
        plain = not event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        if watched is self.table and plain and key in _OPEN + _PEEK:
            return self.open_current(focus=key in _OPEN)
        if watched is self.details and key == Qt.Key.Key_Escape:
            self.table.setFocus(Qt.FocusReason.OtherFocusReason)
            return True
        return False
