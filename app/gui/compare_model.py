"""The Compare tab's table model: one row per task, a column per contender, each cell
what the task got there; the cells that differ from the facade's are marked (a sign,
bold, a tinted ground), never by colour alone, and say how they differ.
"""

from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import QApplication

from app.gui.palette import luminance, readable
from app.teaching.compare_cells import Cell, Row
from app.teaching.stdlib_contender import CONTENDERS

DIFFERS = "≠"
"""Before the text of a cell that differs from the facade's."""
SHOWN_TEXT = 140  # characters of a cell shown; its tooltip and the line below have it whole
LIGHT_TINT = "#ffe9a8"  # amber, under dark text
DARK_TINT = "#5a4300"  # amber, under light text
COLUMN_TIPS = {
    "facade": "This project's facade: the reference; its cells begin with the task's state.",
    "ProcessPoolExecutor": "concurrent.futures.ProcessPoolExecutor, with as many workers.",
    "Pool": "multiprocessing.Pool, with as many workers.",
}

Index = QModelIndex | QPersistentModelIndex
Role = Qt.ItemDataRole


class CompareModel(QAbstractTableModel):
    """The rows of one comparison (``set_rows``); empty until one is shown."""

    HEADERS = ("task", *CONTENDERS)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[Row] = []
        self._bold = QFont()
        self._bold.setBold(True)

    def set_rows(self, rows: list[Row]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Role.DisplayRole
    ) -> object:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(self.HEADERS):
            return None
        name = self.HEADERS[section]
        if role == Role.DisplayRole:
            return name
        if role == Role.ToolTipRole:
            return COLUMN_TIPS.get(name, "The task's ID, as the scenario submits it.")
        return None

    def cell(self, index: Index) -> Cell | None:
        """The outcome at ``index`` (None for the task column, or no cell)."""
        if not index.isValid() or index.row() >= len(self._rows) or index.column() < 1:
            return None
        cells = self._rows[index.row()].cells
        return cells[index.column() - 1] if index.column() <= len(cells) else None

    def task_id(self, index: Index) -> str | None:
        if not index.isValid() or index.row() >= len(self._rows):
            return None
        return self._rows[index.row()].task_id

    def describe(self, index: Index) -> str:
        """The cell at ``index`` whole, with how it differs: the tooltip, and the line
        below the table for whoever moves with the keyboard."""
        task_id, found = self.task_id(index), self.cell(index)
        if task_id is None:
            return ""
        if found is None:
            return f"Task {task_id!r}: its outcome under each contender is on this row."
        where = self.HEADERS[index.column()]
        lines = [f"Task {task_id!r} under {where}: {found.text}"]
        if found.differs:
            lines.append(f"{DIFFERS} {found.differs}")
        elif index.column() > 1:
            lines.append("As under the facade (the messages' words aside).")
        return "\n".join(lines)

    def data(self, index: Index, role: int = Role.DisplayRole) -> object:
        task_id, found = self.task_id(index), self.cell(index)
        if task_id is None:
            return None
        differs = found is not None and found.differs is not None
        if role == Role.DisplayRole:
            if found is None:
                return task_id
            text = found.text
            if len(text) > SHOWN_TEXT:
                text = text[: SHOWN_TEXT - 1].rstrip() + "…"
            return f"{DIFFERS} {text}" if differs else text
        if role in (Role.ToolTipRole, Role.AccessibleTextRole):
            return self.describe(index)
        if role == Role.FontRole and (differs or found is None):
            return self._bold  # the task's ID too: the row's name
        if differs and role in (Role.BackgroundRole, Role.ForegroundRole):
            ground, text_colour = tint(QApplication.palette())
            return ground if role == Role.BackgroundRole else text_colour
        return None


def tint(palette: QPalette) -> tuple[QColor, QColor]:
    """The ground of a differing cell and its text's colour, readable in ``palette``
    (light or dark): amber, the text darkened or lightened until it reads."""
    base = palette.color(QPalette.ColorRole.Base)
    ground = QColor(LIGHT_TINT if luminance(base) > 0.5 else DARK_TINT)
    return ground, readable(palette.color(QPalette.ColorRole.Text), ground, ratio=7.0)
