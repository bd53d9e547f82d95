"""The timeline: each worker process's life, from spawn to death, with its tasks as bars,
its memory as a thin graph under them, and a mark where it ended that says why.

It draws only what is visible: for each lane it finds the bars of the shown time window
by bisection, so thousands of tasks cost no more than the few dozen on screen. It follows
the present while the view is at its right end; scroll back (or zoom) and it stays put.

The keyboard walks it too: arrows go from bar to bar (along a lane in time, or to the
nearest bar of the lane above or below), Home/End to a lane's first or last bar (with Ctrl,
the run's), Enter selects the task, +/- zoom. The bar it is on is framed and described
(tooltip and accessible description), so a screen reader can say what it is.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QFocusEvent,
    QKeyEvent,
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
from app.gui import formatting, timeline_marks, timeline_paint
from app.teaching import timeline_nav
from app.teaching.timeline import (
    Bar,
    Geometry,
    Lane,
    Timeline,
    bar_at,
    bar_end,
    ended,
    lane_end,
    mark_at,
    memory_at,
)

MIN_PX_PER_S, MAX_PX_PER_S = 0.5, 20_000.0
LABEL_WIDTH = 120  # the lane names on the left
ZOOM_STEP = 1.25  # one notch of the wheel, one press of + or -
_MOVES = {
    Qt.Key.Key_Left: "left",
    Qt.Key.Key_Right: "right",
    Qt.Key.Key_Up: "up",
    Qt.Key.Key_Down: "down",
    Qt.Key.Key_Home: "home",
    Qt.Key.Key_End: "end",
}
_ACTIVATE = (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space, Qt.Key.Key_Select)


class TimelineView(QAbstractScrollArea):
    """One row per worker process; Ctrl+wheel zooms, the scroll bar goes back in time,
    the keyboard goes from bar to bar."""

    task_clicked = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("timelineView")
        self.setMouseTracking(True)
        self.viewport().setMouseTracking(True)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setToolTip(timeline_marks.legend())
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAccessibleName("Timeline of the worker processes and their tasks")
        self.timeline: Timeline | None = None
        self.px_per_s = 100.0
        self.following = True  # keep the present in view
        self._live = True  # the run goes on: "now" moves
        self._frozen_now = 0.0
        self.selected: str | None = None
        self._selected_at: tuple[int, Bar] | None = None  # its row and bar, found once
        self._focus: tuple[Lane, int] | None = None  # the keyboard's bar: its lane, index
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
        self._focus = None
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
                row, bar = self._selected_at
                lane = self.timeline.lanes[row]
                index = lane.begun(bar.start) - 1  # bars of equal start: find this one
                while index > 0 and lane.bars[index] is not bar:
                    index -= 1
                self._focus = (lane, index) if lane.bars[index] is bar else self._focus
                self._reveal(bar)
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
            self.zoom(ZOOM_STEP**steps, event.position().x())
            event.accept()
        else:
            super().wheelEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = Qt.Key(event.key())
        ctrl = bool(event.modifiers() & Qt.KeyboardModifier.ControlModifier)
        how = _MOVES.get(key)
        if how is not None:
            if ctrl and how in ("home", "end"):
                how = "first" if how == "home" else "last"
            self.move_focus(how)
        elif key in _ACTIVATE:
            bar = self._focused_bar()
            if bar is None:  # none yet, or one a replay has gone back before
                self.move_focus("last")
            else:
                self.select(bar.task_id)
                self.task_clicked.emit(bar.task_id)
        elif key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal, Qt.Key.Key_Minus):
            self.zoom(ZOOM_STEP if key != Qt.Key.Key_Minus else 1 / ZOOM_STEP, self._focus_x())
            focused = self._focused_bar()
            if focused is not None:
                self._reveal(focused)
        else:
            super().keyPressEvent(event)
            return
        event.accept()

    def move_focus(self, how: str) -> None:
        """Puts the keyboard on another bar (see ``timeline_nav.MOVES``), scrolls it into
        view and says what it is."""
        timeline = self.timeline
        if timeline is None:
            return
        now = self.now()
        spot = None
        if self._focus is not None:
            lane, index = self._focus
            row = self._row_of(lane)
            spot = None if row is None else timeline_nav.Spot(row, index)
        found = timeline_nav.move(timeline, spot, how, now)
        if found is None:
            return
        lane = timeline.lanes[found.row]
        self._focus = (lane, found.index)
        bar = lane.bars[found.index]
        self._reveal(bar)
        self._reveal_row(found.row)
        text = self.describe(bar, now)
        self.setAccessibleDescription(text)
        if self.hasFocus():
            x, y, _w, h = self.geometry_now().bar_rect(found.row, bar, now)
            y += h - self.verticalScrollBar().value()
            point = QPointF(LABEL_WIDTH + max(0.0, x), y).toPoint()
            QToolTip.showText(self.viewport().mapToGlobal(point), text, self)
        self.viewport().update()

    def focused_task(self) -> str | None:
        """The task of the bar the keyboard is on."""
        bar = self._focused_bar()
        return None if bar is None else bar.task_id

    def _focused_bar(self) -> Bar | None:
        """The keyboard's bar, if it shows: in this run, and begun by a replay's instant."""
        if self._focus is None or self.timeline is None:
            return None
        lane, index = self._focus
        if self._row_of(lane) is None or index >= timeline_nav.shown(lane, self.now()):
            return None
        return lane.bars[index]

    def _row_of(self, lane: Lane) -> int | None:
        """The lane's row in this run, by identity (lanes equal in every field are two)."""
        lanes = self.timeline.lanes if self.timeline is not None else []
        return next((row for row, other in enumerate(lanes) if other is lane), None)

    def _focus_x(self) -> float | None:
        """Where zooming keeps still: the keyboard's bar when it is in view."""
        bar = self._focused_bar()
        if bar is None:
            return None
        x = LABEL_WIDTH + self.geometry_now().x(bar.start)
        return x if LABEL_WIDTH <= x <= self.viewport().width() else None

    def _reveal_row(self, row: int) -> None:
        geometry = self.geometry_now()
        scroll = self.verticalScrollBar()
        top = geometry.row_y(row) - geometry.top
        bottom = top + geometry.row_height + geometry.top
        if top < scroll.value():
            scroll.setValue(top)
        elif bottom > scroll.value() + self.viewport().height():
            scroll.setValue(bottom - self.viewport().height())

    def focusInEvent(self, event: QFocusEvent) -> None:
        super().focusInEvent(event)
        if self._focus is None:
            self.move_focus("last")
        self.viewport().update()

    def focusOutEvent(self, event: QFocusEvent) -> None:
        super().focusOutEvent(event)
        self.viewport().update()

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
            return self.describe(bar, now)
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

    @staticmethod
    def describe(bar: Bar, now: float) -> str:
        """A task's bar in words: its ID, how it ended (or that it runs) and how long."""
        running = not ended(bar, now)
        end = bar_end(bar, now)
        outcome = "running" if running else bar.state.name
        if bar.state is TaskState.PENDING and not running:
            outcome = "requeued (its worker died before it started)"
        return f"{bar.task_id}: {outcome}\n{end - bar.start:.3f} s"

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
                timeline_paint.draw_idle(painter, x0, x1, by + h / 2, palette)
            self._draw_memory(painter, geometry, row, lane, t_from, t_to, now)
            first, last = lane.visible_range(t_from, t_to, now)
            if last - first > width // 3:  # denser than pixels: one rect per run of columns
                for x0, x1, state in lane.pixel_runs(geometry, width, now):
                    timeline_paint.fill_state(painter, QRectF(x0, by, x1 - x0, h), state)
                self._draw_selected(painter, geometry, row, now)
                self._draw_focus(painter, geometry, row, lane, now)
                self._lane_marks(painter, geometry, lane, row, t_from, min(t_to, now))
                continue
            for bar in lane.bars[first:last]:
                left, top, w, height = geometry.bar_rect(row, bar, now)
                state = bar.state if ended(bar, now) else TaskState.RUNNING
                rect = timeline_paint.paint_bar(painter, QRectF(left, top, w, height), state)
                if bar.task_id == self.selected:
                    timeline_paint.draw_selected(painter, rect, palette)
            self._draw_focus(painter, geometry, row, lane, now)
            self._lane_marks(painter, geometry, lane, row, t_from, min(t_to, now))
        if self._live:  # the present
            x_now = geometry.x(now)
            if 0 <= x_now <= width:
                timeline_paint.draw_now(painter, x_now, geometry.top - dy, 10_000, palette)
        painter.restore()
        self._draw_labels(painter, geometry, dy, now)
        if self.hasFocus():  # where the keyboard is: a frame round the whole view
            painter.setPen(QPen(palette.highlight().color(), 2))
            painter.drawRect(QRectF(self.viewport().rect()).adjusted(1, 1, -1, -1))

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
        timeline_paint.draw_memory(painter, outline)

    def _lane_marks(
        self, painter: QPainter, g: Geometry, lane: Lane, row: int, t_from: float, t_to: float
    ) -> None:
        """Where a replacement began (green; grey after a recycling) and where the process
        ended, with a mark that says why (see ``timeline_marks``)."""
        palette = self.palette()
        top, h = g.bar_band(row)
        if lane.replacement and t_from <= lane.start <= t_to:
            calm = lane.after in ("recycled", "stopped")
            timeline_paint.draw_start(painter, g.x(lane.start), top, h, calm, palette)
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
        timeline_paint.draw_selected(painter, QRectF(x, by, max(w, 3.0), h), self.palette())

    def _draw_focus(self, painter: QPainter, g: Geometry, row: int, lane: Lane, now: float) -> None:
        """Frames the keyboard's bar, if it is in this lane and the view has the focus."""
        if self._focus is None or self._focus[0] is not lane or not self.hasFocus():
            return
        bar = self._focused_bar()
        if bar is None:
            return
        x, by, w, h = g.bar_rect(row, bar, now)
        timeline_paint.draw_focus(painter, QRectF(x, by, max(w, 3.0), h), self.palette())

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
