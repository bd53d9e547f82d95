"""The timeline: each worker process's life, from spawn to death, with its tasks as bars,
its memory as a thin graph under them, and a mark where it ended that says why.

It draws only what is visible: for each lane it finds the bars of the shown time window
by bisection, so thousands of tasks cost no more than the few dozen on screen. It follows
the present while the view is at its right end; scroll back (or zoom) and it stays put.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QPolygonF,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import QAbstractScrollArea, QToolTip, QWidget

from app.core import TaskState
from app.core.events import Event
from app.core.task import Task
from app.gui import formatting, timeline_marks
from app.gui.task_model import STATE_COLOURS
from app.teaching.timeline import (
    Bar,
    Geometry,
    Lane,
    Timeline,
    bar_at,
    ended,
    lane_end,
    mark_at,
    memory_at,
)

MIN_PX_PER_S, MAX_PX_PER_S = 0.5, 20_000.0
LABEL_WIDTH = 120  # the lane names on the left
MEMORY = QColor(59, 130, 196, 150)  # the memory graphs' fill


class TimelineView(QAbstractScrollArea):
    """One row per worker process; Ctrl+wheel zooms, the scroll bar goes back in time."""

    task_clicked = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("timelineView")
        self.setMouseTracking(True)
        self.viewport().setMouseTracking(True)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setToolTip(timeline_marks.legend())
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
        end = self.now()
        if not math.isfinite(end):  # a replay frozen at an instant that is no time
            end = start
        return start, max(end, start + 1.0)

    def geometry_now(self) -> Geometry:
        start, _end = self._span()
        offset = self.horizontalScrollBar().value()
        return Geometry(t0=start + offset / self.px_per_s, px_per_s=self.px_per_s)

    def _relayout(self) -> None:
        start, end = self._span()
        width = max(0, self.viewport().width() - LABEL_WIDTH)  # narrower than the names: 0
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
        text = self.tooltip_at(event.position())
        if text:
            QToolTip.showText(event.globalPosition().toPoint(), text, self)
        else:
            QToolTip.hideText()

    def tooltip_at(self, pos: QPointF) -> str:
        """What the point shows: a process's end or start mark, a task, or a memory
        sample ("" for none)."""
        timeline = self.timeline
        if timeline is None or pos.x() < LABEL_WIDTH:
            return ""
        x, y = pos.x() - LABEL_WIDTH, pos.y() + self.verticalScrollBar().value()
        geometry, now = self.geometry_now(), self.now()
        since = self._span()[0]
        mark = mark_at(timeline, geometry, x, y, now)
        if mark is not None:
            lane, which = mark
            if which == "end":
                return timeline_marks.end_tooltip(lane, since)
            return timeline_marks.start_tooltip(lane, since)
        bar = self._hit(pos)
        if bar is not None:
            end = bar.end if bar.end is not None else now
            outcome = "running" if bar.end is None else bar.state.name
            if bar.state is TaskState.PENDING and bar.end is not None:
                outcome = "requeued (its worker died before it started)"
            return f"{bar.task_id}: {outcome}\n{end - bar.start:.3f} s"
        sample = memory_at(timeline, geometry, x, y, now)
        if sample is None:
            return ""
        lane, when, value = sample
        peak = lane.memory.peak(now)
        top = f"; its peak {formatting.size(peak[1])}" if peak else ""
        return (
            f"worker-{lane.index} (pid {lane.pid}): {formatting.size(value)} resident at "
            f"{when - since:.1f} s{top}"
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
        full = self.viewport().width()
        for row in range(1, len(timeline.lanes), 2):  # every other lane shaded: which
            y = geometry.row_y(row) + dy  # graph and mark belong to which lane
            top = max(float(y), float(geometry.top))
            if top < y + geometry.row_height:
                painter.fillRect(
                    QRectF(0, top, full, y + geometry.row_height - top), palette.alternateBase()
                )
        self._draw_axis(painter, geometry, width, t_from, t_to)
        colours = {state: QColor(code) for state, code in STATE_COLOURS.items()}
        painter.save()
        painter.translate(LABEL_WIDTH, dy)
        painter.setClipRect(QRectF(0, geometry.top - dy, width, self.viewport().height()))
        for row, lane in enumerate(timeline.lanes):
            if lane.start > now:
                continue  # a replay before this process began
            died = lane_end(lane, now)
            lane_end_at = died if died is not None else now
            x0, x1 = max(0.0, geometry.x(lane.start)), min(width, geometry.x(lane_end_at))
            by, h = geometry.bar_band(row)
            if x1 > x0:  # the process is alive here: a faint band, its idle time
                painter.fillRect(QRectF(x0, by + h / 2 - 1, x1 - x0, 2), palette.mid())
            self._draw_memory(painter, geometry, row, lane, t_from, t_to, now)
            first, last = lane.visible_range(t_from, t_to, now)
            if last - first > width // 3:  # denser than pixels: one rect per run of columns
                for x0, x1, state in lane.pixel_runs(geometry, width, now):
                    painter.fillRect(QRectF(x0, by, x1 - x0, h), colours[state])
                self._draw_selected(painter, geometry, row, now)
                self._lane_marks(painter, geometry, lane, row, t_from, min(t_to, now))
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
            self._lane_marks(painter, geometry, lane, row, t_from, min(t_to, now))
        if self._live:  # the present
            x_now = geometry.x(now)
            if 0 <= x_now <= width:
                painter.setPen(QPen(palette.highlight().color(), 1, Qt.PenStyle.DashLine))
                painter.drawLine(QPointF(x_now, geometry.top - dy), QPointF(x_now, 10_000))
        painter.restore()
        self._draw_labels(painter, geometry, dy, now)

    def _draw_labels(self, painter: QPainter, g: Geometry, dy: int, now: float) -> None:
        """Each lane's name and memory peak, and the memory graphs' scale in the corner."""
        palette = self.palette()
        timeline = self.timeline
        assert timeline is not None
        small = painter.font()
        small.setPointSizeF(max(6.0, small.pointSizeF() * 0.8))
        normal = painter.font()
        by, bh = g.bar_band(0)
        for row, lane in enumerate(timeline.lanes):
            if lane.start > now:
                continue
            y = g.row_y(row) + dy
            if y + g.row_height < g.top:
                continue  # scrolled away above
            painter.setFont(normal)
            painter.setPen(palette.text().color())
            painter.drawText(
                QRectF(4, y + by - g.top - 2, LABEL_WIDTH - 8, bh + 2),
                Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                f"worker-{lane.index} [{lane.pid}]",
            )
            peak = lane.memory.peak(now)
            if peak is not None:
                painter.setFont(small)
                painter.setPen(palette.placeholderText().color())
                painter.drawText(
                    QRectF(4, y + g.row_height - g.band - 4, LABEL_WIDTH - 8, g.band + 4),
                    Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                    f"peak {formatting.size(peak[1])}",
                )
        if timeline.memory_peak:
            painter.fillRect(QRectF(0, 0, LABEL_WIDTH, g.top), palette.base())
            painter.setFont(small)
            painter.setPen(palette.placeholderText().color())
            painter.drawText(
                QRectF(4, 0, LABEL_WIDTH - 8, g.top),
                Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                f"memory: 0 to {formatting.size(timeline.memory_peak)}",
            )
        painter.setFont(normal)

    def _draw_memory(
        self,
        painter: QPainter,
        g: Geometry,
        row: int,
        lane: Lane,
        t_from: float,
        t_to: float,
        now: float,
    ) -> None:
        """The lane's memory over time, along its bottom, scaled to the run's peak."""
        assert self.timeline is not None
        outline = g.memory_polygon(row, lane, self.timeline.memory_peak, t_from, t_to, now)
        if outline:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(MEMORY)
            painter.drawPolygon(QPolygonF([QPointF(x, y) for x, y in outline]))
            painter.setBrush(Qt.BrushStyle.NoBrush)

    def _lane_marks(
        self, painter: QPainter, g: Geometry, lane: Lane, row: int, t_from: float, t_to: float
    ) -> None:
        """Where a replacement began (green; grey after a recycling) and where the process
        ended, with a mark that says why (see ``timeline_marks``)."""
        palette = self.palette()
        top, h = g.bar_band(row)
        if lane.replacement and t_from <= lane.start <= t_to:
            calm = lane.after in ("recycled", "stopped")
            colour = palette.placeholderText().color() if calm else timeline_marks.SPAWN
            painter.setPen(QPen(colour, 2))
            painter.drawLine(QPointF(g.x(lane.start), top), QPointF(g.x(lane.start), top + h))
        mark = lane.mark
        if mark is None or lane.end is None or not t_from <= lane.end <= t_to:
            return
        x = g.x(lane.end)
        colour = timeline_marks.tone_colour(mark, palette)
        timeline_marks.draw_end(painter, mark, colour, palette.base().color(), x, top, h)
        painter.setPen(colour)
        painter.drawText(
            QRectF(x + timeline_marks.RADIUS + 5, top, 220, h),
            Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
            lane.mark_label(),
        )

    def _draw_selected(self, painter: QPainter, g: Geometry, row: int, now: float) -> None:
        """Outlines the selected task's bar when bars are drawn as pixel runs."""
        found = self._selected_at
        if found is None or found[0] != row:
            return
        x, by, w, h = g.bar_rect(row, found[1], now)
        painter.setPen(QPen(self.palette().text().color(), 2))
        painter.drawRect(QRectF(x, by, max(w, 3.0), h))

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
