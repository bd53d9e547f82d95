"""What the timeline paints, in one place: its legend draws its samples with these same
functions, so the legend cannot come to say other than what the timeline shows.

A task's state is told by colour, and also by a hatching (and, on a wide bar, by the
table's icon for that state): a reader who cannot tell green from orange, or a grey
printout, still tells a done task from a failed or crashed one.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QPalette, QPen, QPolygonF

from app.core import TaskState
from app.gui.resources import state_icon
from app.gui.task_model import STATE_COLOURS

MEMORY = QColor(59, 130, 196, 150)  # the memory graphs' fill
SPAWN = QColor("#27ae60")  # where a replacement process began

PATTERNS: dict[TaskState, Qt.BrushStyle] = {
    TaskState.NEW: Qt.BrushStyle.Dense7Pattern,
    TaskState.PENDING: Qt.BrushStyle.CrossPattern,  # requeued: its worker died first
    TaskState.RUNNING: Qt.BrushStyle.Dense4Pattern,
    TaskState.DONE: Qt.BrushStyle.SolidPattern,  # the common, calm case: plain
    TaskState.FAILED: Qt.BrushStyle.FDiagPattern,
    TaskState.CRASHED: Qt.BrushStyle.DiagCrossPattern,
    TaskState.LOST: Qt.BrushStyle.BDiagPattern,
    TaskState.CANCELLED: Qt.BrushStyle.HorPattern,
    TaskState.TIMED_OUT: Qt.BrushStyle.VerPattern,
    TaskState.REJECTED: Qt.BrushStyle.Dense6Pattern,
}
"""Each state's hatching over its colour; no two states share one."""

BAR_STATES = (
    TaskState.RUNNING,
    TaskState.DONE,
    TaskState.FAILED,
    TaskState.CRASHED,
    TaskState.TIMED_OUT,
    TaskState.CANCELLED,
    TaskState.LOST,
    TaskState.PENDING,
)
"""The states a timeline bar can have: NEW and REJECTED tasks never ran, so never show.
PENDING is a bar whose worker died before the task began, the task queued again."""

STATE_WORDS = {TaskState.PENDING: "requeued"}
"""How the legend names a bar's state where the state's own name would mislead."""

GLYPH_GROUND = QColor(255, 255, 255, 225)
GLYPH_ROOM = 3.0
"""A bar at least this many times as wide as it is high shows its state's icon too."""


def state_colour(state: TaskState) -> QColor:
    return QColor(_colour(state))


@functools.cache
def _colour(state: TaskState) -> QColor:
    """The state's colour, made once for painting (shared: never changed)."""
    return QColor(STATE_COLOURS[state])


def hatch_colour(fill: QColor) -> QColor:
    """Dark lines on a light fill, light lines on a dark one: the hatching must show in
    grey as well as in colour."""
    luminance = 0.2126 * fill.redF() + 0.7152 * fill.greenF() + 0.0722 * fill.blueF()
    return QColor(0, 0, 0, 150) if luminance > 0.4 else QColor(255, 255, 255, 170)


_LINES = frozenset(
    {
        Qt.BrushStyle.HorPattern,
        Qt.BrushStyle.VerPattern,
        Qt.BrushStyle.CrossPattern,
        Qt.BrushStyle.BDiagPattern,
        Qt.BrushStyle.FDiagPattern,
        Qt.BrushStyle.DiagCrossPattern,
    }
)
TILE = 8  # Qt's brush patterns repeat every 8 pixels
MIN_HATCHED = 3.0  # narrower, a hatching cannot be read: the colour alone


@functools.cache
def hatching(state: TaskState) -> QBrush | None:
    """The state's hatching as a brush, made once: Qt's pattern, its lines (one pixel
    thin) drawn again a pixel aside so they show at a glance on a short bar. None for
    a plain state."""
    pattern = PATTERNS[state]
    if pattern is Qt.BrushStyle.SolidPattern:
        return None
    tile = QImage(TILE, TILE, QImage.Format.Format_ARGB32_Premultiplied)
    tile.fill(Qt.GlobalColor.transparent)
    painter = QPainter(tile)
    brush = QBrush(hatch_colour(state_colour(state)), pattern)
    for dx, dy in ((0, 0), (1, 0), (0, 1)) if pattern in _LINES else ((0, 0),):
        painter.setBrushOrigin(dx, dy)
        painter.fillRect(tile.rect(), brush)
    painter.end()
    return QBrush(tile)


def fill_state(painter: QPainter, rect: QRectF, state: TaskState) -> None:
    """``rect`` in the state's colour, hatched with its pattern where it is wide enough
    for a hatching to be seen."""
    painter.fillRect(rect, _colour(state))
    brush = hatching(state)
    if brush is not None and rect.width() >= MIN_HATCHED:
        painter.fillRect(rect, brush)


def paint_bar(painter: QPainter, rect: QRectF, state: TaskState) -> QRectF:
    """A task's bar in ``rect``: when wide enough, a hairline left at its right end and a
    darker rim (so tasks that follow one another stay apart), its hatched fill, and its
    state's icon when there is room. Returns the rectangle painted."""
    colour = _colour(state)
    if rect.width() > 4:
        rect = rect.adjusted(0, 0, -1, 0)
        painter.fillRect(rect, colour.darker(130))
        inner = rect.adjusted(1, 1, -1, -1)
        fill_state(painter, inner, state)
        side = rect.height() - 2
        if side >= 8 and rect.width() >= GLYPH_ROOM * rect.height():
            glyph = QRectF(rect.right() - side - 2, rect.top() + 1, side, side)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(GLYPH_GROUND)  # the icon's own colours must show on any bar
            painter.drawRoundedRect(glyph.adjusted(-1, 0, 1, 0), 3, 3)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            state_icon(state.value).paint(painter, glyph.toRect())
    else:
        fill_state(painter, rect, state)
    return rect


def draw_focus(painter: QPainter, rect: QRectF, palette: QPalette) -> None:
    """The bar the keyboard is on: a dashed frame in the highlight colour, around the
    bar, over a base-coloured one so it shows on any fill."""
    frame = rect.adjusted(-2, -2, 2, 2)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.setPen(QPen(palette.base().color(), 3))
    painter.drawRect(frame)
    painter.setPen(QPen(palette.highlight().color(), 2, Qt.PenStyle.DashLine))
    painter.drawRect(frame)


def draw_selected(painter: QPainter, rect: QRectF, palette: QPalette) -> None:
    """The selected task's bar: a solid frame in the text colour."""
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.setPen(QPen(palette.text().color(), 2))
    painter.drawRect(rect)


def draw_memory(painter: QPainter, outline: Sequence[tuple[float, float]]) -> None:
    """A memory graph: the filled outline of a process's resident memory."""
    if not outline:
        return
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(MEMORY)
    painter.drawPolygon(QPolygonF([QPointF(x, y) for x, y in outline]))
    painter.setBrush(Qt.BrushStyle.NoBrush)


def draw_now(painter: QPainter, x: float, top: float, bottom: float, palette: QPalette) -> None:
    """The present, while a run goes on: a dashed line in the highlight colour."""
    painter.setPen(QPen(palette.highlight().color(), 1, Qt.PenStyle.DashLine))
    painter.drawLine(QPointF(x, top), QPointF(x, bottom))


def draw_start(
    painter: QPainter, x: float, top: float, h: float, calm: bool, palette: QPalette
) -> None:
    """Where a replacement process began: green, or grey after a calm end (a recycling,
    a stop) that needs no alarm."""
    colour = palette.placeholderText().color() if calm else SPAWN
    painter.setPen(QPen(colour, 2))
    painter.drawLine(QPointF(x, top), QPointF(x, top + h))


def draw_idle(painter: QPainter, x0: float, x1: float, mid: float, palette: QPalette) -> None:
    """A process alive and idle: a faint line along its lane."""
    painter.fillRect(QRectF(x0, mid - 1, x1 - x0, 2), palette.mid())
