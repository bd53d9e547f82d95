"""The timeline: each worker process's life, from spawn to death, with its tasks as bars.

It draws only what is visible: for each lane it finds the bars of the shown time window
by bisection, so thousands of tasks cost no more than the few dozen on screen. It follows
the present while the view is at its right end; scroll back (or zoom) and it stays put.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import QAbstractScrollArea, QToolTip, QWidget

from app.core import TaskState
from app.core.events import Event
from app.core.task import Task
from app.gui.task_model import STATE_COLOURS
from app.teaching.timeline import Bar, Geometry, Lane, Timeline, bar_at, ended, lane_end

MIN_PX_PER_S, MAX_PX_PER_S = 0.5, 20_000.0
LABEL_WIDTH = 120  # the lane names on the left
_DEATH = QColor("#e74c3c")
_SPAWN = QColor("#27ae60")


class TimelineView(QAbstractScrollArea):
    """One row per worker process; Ctrl+wheel zooms, the scroll bar goes back in time."""

    task_clicked = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("timelineView")
        self.setMouseTracking(True)
        self.viewport().setMouseTracking(True)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setToolTip("")
        self.timeline: Timeline | None = None
        self.px_per_s = 100.0
        self.following = True  # keep the present in view
        self._live = True  # the run goes on: "now" moves
        self._frozen_now = 0.0
        self.selected: str | None = None
        self._selected_at: tuple[int, Bar] | None = None  # its row and bar, found once
        self.horizontalScrollBar().valueChanged.connect(self._scrolled)
        self.horizontalScrollBar().setSingleStep(20)

    # -- feeding ----------------------------------------------------------------------
    def reset(self, lookup: Callable[[str], Task]) -> None:
        """A new run; ``lookup`` finds a task by ID (KeyError when unknown)."""
        self.timeline = Timeline(lookup)
        self.following = True
        self._live = True
        self.selected = None
        self._selected_at = None
        self._relayout()

    def apply_events(self, events: list[Event]) -> None:
        timeline = self.timeline
        if timeline is not None and timeline.apply_events(events):
            self._relayout()

    def freeze(self, at: float | None = None) -> None:
        """The run ended (or a replay stands at ``at``): stop the clock there."""
        self._live = False
        self._frozen_now = time.time() if at is None else at
        self._relayout()

    def tick(self) -> None:
        """Running bars grow and the present moves: a repaint a few times a second."""
        if self._live and self.timeline is not None and self.timeline.lanes:
            self._relayout()

    def select(self, task_id: str | None) -> None:
        self.selected = task_id
        self._selected_at = None
        if task_id and self.timeline is not None:
            self._selected_at = self.timeline.find(task_id)
            if self._selected_at is not None:
                self._reveal(self._selected_at[1])
        self.viewport().update()

    # -- geometry ---------------------------------------------------------------------
    def now(self) -> float:
        return time.time() if self._live else self._frozen_now

    def _span(self) -> tuple[float, float]:
        timeline = self.timeline
        start = timeline.first_time if timeline and timeline.first_time else self.now()
        return start, max(self.now(), start + 1.0)

    def geometry_now(self) -> Geometry:
        start, _end = self._span()
        offset = self.horizontalScrollBar().value()
        return Geometry(t0=start + offset / self.px_per_s, px_per_s=self.px_per_s)

    def _relayout(self) -> None:
        start, end = self._span()
        width = self.viewport().width() - LABEL_WIDTH
        # A scroll bar's range is a 32-bit int: a span wider than that is cut.
        total = int(min((end - start) * self.px_per_s + 40, 2**31 - 1))
        bar = self.horizontalScrollBar()
        bar.blockSignals(True)
        bar.setRange(0, max(0, total - width))
        bar.setPageStep(max(1, width))
        if self.following:
            bar.setValue(bar.maximum())
        bar.blockSignals(False)
        lanes = len(self.timeline.lanes) if self.timeline else 0
        rows = Geometry(0, 1).row_y(lanes) + 4
        self.verticalScrollBar().setRange(0, max(0, rows - self.viewport().height()))
        self.viewport().update()

    def _scrolled(self, value: int) -> None:
        self.following = value >= self.horizontalScrollBar().maximum()
        self.viewport().update()

    def _reveal(self, bar: Bar) -> None:
        start, _end = self._span()
        x = int((bar.start - start) * self.px_per_s)
        scroll = self.horizontalScrollBar()
        width = self.viewport().width() - LABEL_WIDTH
        if not scroll.value() <= x <= scroll.value() + width:
            scroll.setValue(max(0, x - width // 3))

    def zoom(self, factor: float, anchor_x: float | None = None) -> None:
        """Zooms about a point of the view (its right end by default)."""
        width = self.viewport().width() - LABEL_WIDTH
        anchor = width if anchor_x is None else anchor_x - LABEL_WIDTH
        geometry = self.geometry_now()
        anchor_t = geometry.t(anchor)
        self.px_per_s = min(MAX_PX_PER_S, max(MIN_PX_PER_S, self.px_per_s * factor))
        start, _end = self._span()
        self._relayout()
        if not self.following:
            self.horizontalScrollBar().setValue(int((anchor_t - start) * self.px_per_s - anchor))

    # -- events -----------------------------------------------------------------------
    def wheelEvent(self, event: QWheelEvent) -> None:
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            steps = event.angleDelta().y() / 120
            self.zoom(1.25**steps, event.position().x())
            event.accept()
        else:
            super().wheelEvent(event)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._relayout()

    def _hit(self, pos: QPointF) -> Bar | None:
        if self.timeline is None or pos.x() < LABEL_WIDTH:
            return None
        y = pos.y() + self.verticalScrollBar().value()
        found = bar_at(self.timeline, self.geometry_now(), pos.x() - LABEL_WIDTH, y, self.now())
        return found[1] if found else None

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        bar = self._hit(event.position())
        if bar is None:
            QToolTip.hideText()
            return
        end = bar.end if bar.end is not None else self.now()
        outcome = "running" if bar.end is None else bar.state.name
        if bar.state is TaskState.PENDING and bar.end is not None:
            outcome = "requeued (its worker died before it started)"
        QToolTip.showText(
            event.globalPosition().toPoint(),
            f"{bar.task_id}: {outcome}\n{end - bar.start:.3f} s",
            self,
        )

    def mousePressEvent(self, event: QMouseEvent) -> None:
        bar = self._hit(event.position())
        if bar is not None and event.button() == Qt.MouseButton.LeftButton:
            self.select(bar.task_id)
            self.task_clicked.emit(bar.task_id)

    # -- drawing ----------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self.viewport())
        palette = self.palette()
        painter.fillRect(self.viewport().rect(), palette.base())
        timeline = self.timeline
        if timeline is None or not timeline.lanes:
            painter.setPen(palette.placeholderText().color())
            painter.drawText(
                self.viewport().rect(),
                Qt.AlignmentFlag.AlignCenter,
                "Each worker process gets a row here, from spawn to death.",
            )
            return
        geometry = self.geometry_now()
        now = self.now()
        width = self.viewport().width() - LABEL_WIDTH
        t_from, t_to = geometry.t(0), geometry.t(width)
        dy = -self.verticalScrollBar().value()
        self._draw_axis(painter, geometry, width, t_from, t_to)
        colours = {state: QColor(code) for state, code in STATE_COLOURS.items()}
        painter.save()
        painter.translate(LABEL_WIDTH, dy)
        painter.setClipRect(QRectF(0, geometry.top - dy, width, self.viewport().height()))
        for row, lane in enumerate(timeline.lanes):
            if lane.start > now:
                continue  # a replay before this process began
            y = geometry.row_y(row)
            died = lane_end(lane, now)
            lane_end_at = died if died is not None else now
            x0, x1 = max(0.0, geometry.x(lane.start)), min(width, geometry.x(lane_end_at))
            if x1 > x0:  # the process is alive here: a faint band, its idle time
                painter.fillRect(
                    QRectF(x0, y + geometry.row_height / 2 - 1, x1 - x0, 2), palette.mid()
                )
            first, last = lane.visible_range(t_from, t_to, now)
            if last - first > width // 3:  # denser than pixels: one rect per run of columns
                by, h = y + 3, geometry.row_height - 6
                for x0, x1, state in lane.pixel_runs(geometry, width, now):
                    painter.fillRect(QRectF(x0, by, x1 - x0, h), colours[state])
                self._draw_selected(painter, geometry, row, now)
                self._lane_marks(painter, geometry, lane, y, t_from, min(t_to, now))
                continue
            for bar in lane.bars[first:last]:
                x, by, w, h = geometry.bar_rect(row, bar, now)
                colour = colours[bar.state] if ended(bar, now) else colours[TaskState.RUNNING]
                if w > 4:  # a hairline between tasks that follow one another
                    w -= 1
                    painter.fillRect(QRectF(x, by, w, h), colour.darker(130))
                    painter.fillRect(QRectF(x + 1, by + 1, w - 2, h - 2), colour)
                else:
                    painter.fillRect(QRectF(x, by, w, h), colour)
                if bar.task_id == self.selected:
                    painter.setPen(QPen(palette.text().color(), 2))
                    painter.drawRect(QRectF(x, by, w, h))
            self._lane_marks(painter, geometry, lane, y, t_from, min(t_to, now))
        if self._live:  # the present
            x_now = geometry.x(now)
            if 0 <= x_now <= width:
                painter.setPen(QPen(palette.highlight().color(), 1, Qt.PenStyle.DashLine))
                painter.drawLine(QPointF(x_now, geometry.top - dy), QPointF(x_now, 10_000))
        painter.restore()
        painter.setPen(palette.text().color())
        for row, lane in enumerate(timeline.lanes):
            if lane.start > now:
                continue
            y = geometry.row_y(row) + dy
            label = f"worker-{lane.index} [{lane.pid}]"
            painter.drawText(
                QRectF(4, y, LABEL_WIDTH - 8, geometry.row_height),
                Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                label,
            )

    def _lane_marks(
        self, painter: QPainter, g: Geometry, lane: Lane, y: int, t_from: float, t_to: float
    ) -> None:
        """Where a replacement began (green) and where the process died (red, and how)."""
        if lane.replacement and t_from <= lane.start <= t_to:
            self._marker(painter, g.x(lane.start), y, g, _SPAWN, "")
        if lane.end is not None and t_from <= lane.end <= t_to:
            self._marker(painter, g.x(lane.end), y, g, _DEATH, lane.death)

    def _draw_selected(self, painter: QPainter, g: Geometry, row: int, now: float) -> None:
        """Outlines the selected task's bar when bars are drawn as pixel runs."""
        found = self._selected_at
        if found is None or found[0] != row:
            return
        x, by, w, h = g.bar_rect(row, found[1], now)
        painter.setPen(QPen(self.palette().text().color(), 2))
        painter.drawRect(QRectF(x, by, max(w, 3.0), h))

    def _marker(
        self, painter: QPainter, x: float, y: int, g: Geometry, colour: QColor, text: str
    ) -> None:
        painter.setPen(QPen(colour, 2))
        painter.drawLine(QPointF(x, y + 1), QPointF(x, y + g.row_height - 1))
        if text:
            painter.drawText(
                QRectF(x + 4, y, 140, g.row_height),
                Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                f"✝ {text}",
            )

    def _draw_axis(
        self, painter: QPainter, g: Geometry, width: int, t_from: float, t_to: float
    ) -> None:
        """Ticks at a round step that leaves ~100 px between labels."""
        step = _round_step(100 / g.px_per_s)
        start, _end = self._span()
        first = start + step * int((t_from - start) // step)
        painter.setPen(self.palette().placeholderText().color())
        t = first
        for _tick in range(width // 50 + 2):  # bounded: times so large that t + step == t
            if t > t_to:
                break
            x = LABEL_WIDTH + g.x(t)
            if x >= LABEL_WIDTH:
                painter.drawLine(QPointF(x, g.top - 4), QPointF(x, g.top))
                painter.drawText(QPointF(x + 2, g.top - 5), _seconds_label(t - start))
            t += step


def _round_step(seconds: float) -> float:
    for step in (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60):
        if step >= seconds:
            return step
    return 300.0


def _seconds_label(value: float) -> str:
    if value < 10:
        return f"{value:.3g} s"
    return f"{value:.0f} s"
