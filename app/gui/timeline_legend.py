"""The timeline's legend: a strip under it that shows each thing the timeline draws beside
its meaning, painted by the timeline's own painting code (``timeline_paint`` and
``timeline_marks``), so the legend cannot come to say other than what the timeline shows.

Its samples follow the palette (light or dark) as they are painted; its entries wrap to
the width given; a toggle (a button and a View menu action) folds it away.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QPoint, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QAction, QPainter, QPaintEvent, QPalette, QResizeEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QLayout,
    QLayoutItem,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.core import TaskState
from app.gui import timeline_marks, timeline_paint
from app.gui.timeline_view import TimelineView
from app.teaching.timeline import MARKS

SAMPLE = QSize(34, 16)  # one sample's size: about a short bar of a lane
Painter = Callable[[QPainter, QRectF, QPalette], None]


@dataclass(frozen=True)
class Entry:
    """One line of the legend: what it names (a state, a mark's reason or another thing
    drawn), the words shown, the longer meaning in its tooltip, and how its sample is
    painted."""

    kind: str  # "state", "mark" or "other"
    key: str  # the TaskState's value, the reason of MARKS, or the thing's name
    text: str
    meaning: str
    paint: Painter


def entries() -> list[Entry]:
    """Everything the timeline draws, in the order the legend shows it."""
    found = [_state_entry(state) for state in timeline_paint.BAR_STATES]
    for reason, mark in MARKS.items():
        found.append(
            Entry("mark", reason, reason, mark.meaning, _mark_painter(reason)),
        )
    found += [
        Entry(
            "other",
            "memory",
            "memory",
            "The process's resident memory along the bottom of its lane; the band's full "
            "height is the run's peak.",
            _paint_memory,
        ),
        Entry(
            "other",
            "replacement",
            "replacement began",
            "A new process took the slot: green after a death, grey after a recycling or a stop.",
            _paint_start,
        ),
        Entry(
            "other",
            "now",
            "now",
            "The present, while the run goes on.",
            _paint_now,
        ),
        Entry(
            "other",
            "idle",
            "idle",
            "The process lives but runs no task.",
            _paint_idle,
        ),
    ]
    return found


def _state_entry(state: TaskState) -> Entry:
    words = timeline_paint.STATE_WORDS.get(state, state.value.replace("_", " "))
    meaning = {
        TaskState.PENDING: "Requeued: its worker died before the task began; it waits again.",
        TaskState.RUNNING: "Running: the bar grows until the task ends.",
    }.get(state, f"The task ended {state.name}.")

    def paint(painter: QPainter, rect: QRectF, _palette: QPalette) -> None:
        timeline_paint.paint_bar(painter, rect.adjusted(0, 2, 0, -2), state)

    return Entry("state", state.value, words, meaning, paint)


def _mark_painter(reason: str) -> Painter:
    mark = MARKS[reason]

    def paint(painter: QPainter, rect: QRectF, palette: QPalette) -> None:
        colour = timeline_marks.tone_colour(mark, palette)
        x = rect.center().x()
        timeline_marks.draw_end(
            painter, mark, colour, palette.base().color(), x, rect.top() + 1, rect.height() - 2
        )

    return paint


def _paint_memory(painter: QPainter, rect: QRectF, _palette: QPalette) -> None:
    base, h = rect.bottom(), rect.height() - 4
    heights = (0.2, 0.35, 0.5, 0.45, 0.7, 0.9, 0.8, 1.0)
    step = rect.width() / (len(heights) - 1)
    outline = [(rect.left() + i * step, base - h * v) for i, v in enumerate(heights)]
    timeline_paint.draw_memory(painter, [(rect.left(), base), *outline, (rect.right(), base)])


def _paint_start(painter: QPainter, rect: QRectF, palette: QPalette) -> None:
    timeline_paint.draw_start(
        painter, rect.center().x(), rect.top() + 2, rect.height() - 4, False, palette
    )


def _paint_now(painter: QPainter, rect: QRectF, palette: QPalette) -> None:
    timeline_paint.draw_now(painter, rect.center().x(), rect.top(), rect.bottom(), palette)


def _paint_idle(painter: QPainter, rect: QRectF, palette: QPalette) -> None:
    timeline_paint.draw_idle(painter, rect.left(), rect.right(), rect.center().y(), palette)


class Sample(QWidget):
    """One entry's sample, painted on the palette's base like the timeline's lanes."""

    def __init__(self, paint: Painter, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._paint = paint
        self.setFixedSize(SAMPLE)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        painter.fillRect(self.rect(), palette.base())
        self._paint(painter, QRectF(self.rect()).adjusted(2, 0, -2, 0), palette)


class FlowLayout(QLayout):
    """Items left to right, wrapping to the next line where the width ends."""

    def __init__(self, parent: QWidget | None = None, spacing: int = 12) -> None:
        super().__init__(parent)
        self._items: list[QLayoutItem] = []
        self._gap = spacing
        self.setContentsMargins(4, 2, 4, 2)

    def addItem(self, item: QLayoutItem) -> None:
        self._items.append(item)

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, index: int) -> QLayoutItem | None:
        return self._items[index] if 0 <= index < len(self._items) else None

    def takeAt(self, index: int) -> QLayoutItem | None:
        return self._items.pop(index) if 0 <= index < len(self._items) else None

    def expandingDirections(self) -> Qt.Orientation:
        return Qt.Orientation(0)

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        return self._arrange(QRect(0, 0, width, 0), move=False)

    def setGeometry(self, rect: QRect) -> None:
        super().setGeometry(rect)
        self._arrange(rect, move=True)

    def sizeHint(self) -> QSize:
        return self.minimumSize()

    def minimumSize(self) -> QSize:
        size = QSize()
        for item in self._items:
            size = size.expandedTo(item.minimumSize())
        margins = self.contentsMargins()
        return size + QSize(margins.left() + margins.right(), margins.top() + margins.bottom())

    def _arrange(self, rect: QRect, move: bool) -> int:
        """Places the items (when ``move``) and returns the height they take."""
        margins = self.contentsMargins()
        area = rect.adjusted(margins.left(), margins.top(), -margins.right(), -margins.bottom())
        x, y, line = area.x(), area.y(), 0
        for item in self._items:
            hint = item.sizeHint()
            if x + hint.width() > area.right() + 1 and line > 0:
                x, y, line = area.x(), y + line + 2, 0
            if move:
                item.setGeometry(QRect(QPoint(x, y), hint))
            x += hint.width() + self._gap
            line = max(line, hint.height())
        return y + line - rect.y() + margins.bottom()


class TimelineLegend(QWidget):
    """Every state's bar, every end mark and the other things the timeline draws, each
    with its name (and its meaning as a tooltip and accessible description)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("timelineLegend")
        self.setAccessibleName("Timeline legend")
        self.entries = entries()
        flow = FlowLayout(self)
        headings = {"state": "Tasks:", "mark": "Process ends:", "other": "Also:"}
        kind = ""
        for entry in self.entries:
            if entry.kind != kind:
                kind = entry.kind
                heading = QLabel(f"<b>{headings[kind]}</b>", self)
                flow.addWidget(heading)
            flow.addWidget(self._entry_widget(entry))

    def _entry_widget(self, entry: Entry) -> QWidget:
        box = QWidget(self)
        box.setObjectName(f"legend-{entry.kind}-{entry.key}")
        box.setToolTip(entry.meaning)
        box.setAccessibleName(f"{entry.text}: {entry.meaning}")
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(4)
        sample = Sample(entry.paint, box)
        sample.setAccessibleName(f"sample of {entry.text}")
        row.addWidget(sample)
        row.addWidget(QLabel(entry.text, box))
        return box


class LegendScroll(QScrollArea):
    """The legend, as tall as its wrapped entries need when there is room; with less
    (a narrow window, a splitter pulled down) it scrolls rather than cutting entries off
    for good, and the timeline keeps its rows."""

    def __init__(self, legend: TimelineLegend, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("legendScroll")
        self.setWidget(legend)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the Tab chain stays the table's
        self._width = -1

    def sizeHint(self) -> QSize:
        legend = self.widget()
        width = self.viewport().width() if self.isVisible() else legend.sizeHint().width()
        return QSize(legend.minimumSizeHint().width(), legend.heightForWidth(max(1, width)))

    def minimumSizeHint(self) -> QSize:
        return QSize(SAMPLE.width(), SAMPLE.height() + 4)  # one line, scrolled

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if event.size().width() != self._width:  # another width wraps to another height
            self._width = event.size().width()
            self.updateGeometry()


class TimelinePane(QWidget):
    """The timeline with its legend under it, which ``legend_action`` shows or folds."""

    def __init__(self, timeline: TimelineView, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("timelinePane")
        self.timeline = timeline
        self.legend = TimelineLegend(self)
        self.legend_action = QAction("Timeline &legend", self)
        self.legend_action.setCheckable(True)
        self.legend_action.setChecked(True)
        self.legend_action.setToolTip("Show or fold what the timeline's colours and marks mean")
        self.legend_scroll = LegendScroll(self.legend, self)
        self.legend_action.toggled.connect(self.legend_scroll.setVisible)
        toggle = self.toggle = QToolButton(self)
        toggle.setObjectName("legendToggle")
        toggle.setDefaultAction(self.legend_action)
        toggle.setAutoRaise(True)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(0)
        box.addWidget(timeline, 1)
        foot = QHBoxLayout()
        foot.setContentsMargins(0, 0, 0, 0)
        foot.addWidget(toggle, 0, Qt.AlignmentFlag.AlignTop)
        foot.addWidget(self.legend_scroll, 1)
        box.addLayout(foot)
