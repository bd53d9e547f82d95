"""The task table's view side: filtering by state and text, and a drawn progress bar."""

from __future__ import annotations

from PySide6.QtCore import (
    QModelIndex,
    QModelRoleDataSpan,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QHeaderView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionProgressBar,
    QStyleOptionViewItem,
    QTableView,
    QWidget,
)

from app.core import TaskState
from app.gui.task_model import (
    COLUMNS,
    ID,
    OUTCOME,
    PROGRESS,
    PROGRESS_ROLE,
    SORT_ROLE,
    STATE_ROLE,
    TaskTableModel,
)

_Index = QModelIndex | QPersistentModelIndex
_NEW_FILTER_API = hasattr(QSortFilterProxyModel, "beginFilterChange")


class TaskFilterProxy(QSortFilterProxyModel):
    """Shows only the tasks in the chosen states whose ID or outcome contains the text."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._states: frozenset[TaskState] = frozenset()
        self._text = ""
        self.setSortRole(SORT_ROLE)

    @property
    def reordering(self) -> bool:
        """Whether a filter or a sort is on: a change of rows may hide or move some."""
        return bool(self._states or self._text) or self.sortColumn() >= 0

    def set_states(self, states: frozenset[TaskState]) -> None:
        """Empty means every state."""
        self._begin_filter_change()
        self._states = states
        self._end_filter_change()

    def set_text(self, text: str) -> None:
        self._begin_filter_change()
        self._text = text.strip().casefold()
        self._end_filter_change()

    # Qt 6.10 replaced invalidateFilter() by a begin/end pair around the change.
    def _begin_filter_change(self) -> None:
        if _NEW_FILTER_API:
            self.beginFilterChange()

    def _end_filter_change(self) -> None:
        if _NEW_FILTER_API:
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            self.invalidateFilter()

    def multiData(self, index: _Index, roleDataSpan: QModelRoleDataSpan) -> None:
        """Keeps Qt's one call per cell: the base proxy would split it into one per role."""
        source = self.mapToSource(index)
        model = self.sourceModel()
        if source.isValid() and isinstance(model, TaskTableModel):
            model.fill(source.row(), source.column(), roleDataSpan)
        else:
            super().multiData(index, roleDataSpan)

    def filterAcceptsRow(self, source_row: int, source_parent: _Index) -> bool:
        if not self._states and not self._text:
            return True  # the common case, taken for every row inserted: keep it cheap
        model = self.sourceModel()
        if self._states and model.index(source_row, 0).data(STATE_ROLE) not in self._states:
            return False
        if self._text:
            haystack = (
                f"{model.index(source_row, ID).data()} {model.index(source_row, OUTCOME).data()}"
            )
            return self._text in haystack.casefold()
        return True


class ProgressDelegate(QStyledItemDelegate):
    """Draws a task's progress as a bar, with the style's own progress bar."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: _Index) -> None:
        fraction = index.data(PROGRESS_ROLE)
        if fraction is None:
            super().paint(painter, option, index)
            return
        bar = QStyleOptionProgressBar()
        bar.rect = option.rect.adjusted(2, 3, -2, -3)  # type: ignore[attr-defined]
        bar.minimum = 0
        bar.maximum = 1000
        bar.progress = int(fraction * 1000)
        bar.text = f"{fraction:.0%}"
        bar.textVisible = True
        bar.state = option.state  # type: ignore[attr-defined]
        style = option.widget.style() if option.widget else QApplication.style()  # type: ignore[attr-defined]
        style.drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter)


def make_task_table(parent: QWidget | None = None) -> QTableView:
    """A table fit for 100,000 rows: fixed row height, no resizing to contents."""
    view = QTableView(parent)
    view.setObjectName("taskTable")
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
    view.setSortingEnabled(True)
    view.sortByColumn(-1, Qt.SortOrder.AscendingOrder)  # submission order until asked
    view.setAlternatingRowColors(True)
    view.setWordWrap(False)
    view.setTabKeyNavigation(False)  # arrows move within the table; Tab leaves it
    view.setItemDelegateForColumn(PROGRESS, ProgressDelegate(view))
    rows = view.verticalHeader()
    rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
    rows.setDefaultSectionSize(view.fontMetrics().height() + 8)
    rows.hide()
    header = view.horizontalHeader()
    header.setStretchLastSection(True)
    header.setHighlightSections(False)
    widths = {ID: 110, 1: 120, PROGRESS: 90}
    for column in range(len(COLUMNS)):
        view.setColumnWidth(column, widths.get(column, 95))
    return view
