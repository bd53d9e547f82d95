"""How the timeline draws the end of a process, and what it says about it on hover.

Each reason of ``WorkerDied`` has its own shape (``app.teaching.timeline.MARKS``), so a
recycling (a calm circular arrow in the lane's own grey) never looks like a crash (a red
cross), even to colour-blind eyes; and a tooltip says what each one means.
"""

from __future__ import annotations

import math
import textwrap

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPalette, QPen, QPolygonF

from app.gui.worker_text import killed_words, memory_lines
from app.teaching.timeline import MARKS, Lane, Mark

ALARM = QColor("#e74c3c")
WARNING = QColor("#d35400")
RADIUS = 5.0  # half the size of a mark's shape
WRAP = 90  # characters a tooltip's line holds


def tone_colour(mark: Mark, palette: QPalette) -> QColor:
    """Red for a crash, amber for a kill, the lane's neutral grey for a calm end."""
    if mark.tone == "alarm":
        return ALARM
    if mark.tone == "warning":
        return WARNING
    return palette.placeholderText().color()


def legend() -> str:
    """The timeline's tooltip: what its bars, marks and memory graph mean."""
    lines = [
        textwrap.fill(
            "One row per worker process, from spawn to death: its tasks as bars coloured and "
            "hatched by outcome (the legend under the timeline says which is which), and "
            "under them its resident memory (the band's full height is the run's peak, "
            "written in the top-left corner; each row's own peak beside its name).",
            WRAP,
        ),
        "Where a process ended, a mark says why:",
    ]
    words = {"alarm": "red", "warning": "amber", "calm": "grey"}
    for mark in MARKS.values():
        line = f"  {words[mark.tone]} {mark.shape}: {mark.meaning}"
        lines.append(textwrap.fill(line, WRAP, subsequent_indent="      "))
    lines.append(
        textwrap.fill(
            "A green line where a replacement began (grey after a recycling). Hover a mark "
            "or the memory band for details; Ctrl+wheel (or + and -) zooms; click a bar to "
            "select its task, or walk the bars with the arrow keys and press Enter.",
            WRAP,
        )
    )
    return "\n".join(lines)


def end_tooltip(lane: Lane, since: float) -> str:
    """What the end mark of ``lane`` means; times are seconds after ``since``."""
    mark = lane.mark
    if mark is None:
        return ""
    assert lane.end is not None
    how = f" ({lane.death})" if lane.death not in ("", "stopped") else ""  # a clean exit
    killed_by = killed_words(lane.cause) if lane.reason == "killed" else ""
    reason = f"{lane.reason}: {killed_by}" if killed_by else lane.reason
    lines = [
        f"worker-{lane.index} (pid {lane.pid}) {reason}{how} at {lane.end - since:.3f} s",
        textwrap.fill(mark.meaning, WRAP),
    ]
    return "\n".join(lines + memory_lines(lane.rss_at_death, lane.oom_killed))


def start_tooltip(lane: Lane, since: float) -> str:
    after = f" after the last one was {lane.after}" if lane.after else ""
    return (
        f"worker-{lane.index} (pid {lane.pid}) began at {lane.start - since:.3f} s: "
        f"a new process in the slot{after}"
    )


def draw_end(
    painter: QPainter, mark: Mark, colour: QColor, base: QColor, x: float, top: float, h: float
) -> None:
    """The mark of a process's end at ``x``, over the lane's bars (``top``, height ``h``):
    a line across them (dotted for a calm end) and the shape on a disc of ``base``."""
    style = Qt.PenStyle.DotLine if mark.tone == "calm" else Qt.PenStyle.SolidLine
    painter.setPen(QPen(colour, 2, style))
    painter.drawLine(QPointF(x, top), QPointF(x, top + h))
    centre = QPointF(x, top + h / 2)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(base)
    painter.drawEllipse(centre, RADIUS + 2, RADIUS + 2)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    draw_shape(painter, mark.shape, centre, colour)


def draw_shape(painter: QPainter, shape: str, c: QPointF, colour: QColor) -> None:
    """One of the marks' shapes, ``RADIUS`` about ``c``."""
    r = RADIUS
    pen = QPen(colour, 2)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    painter.setPen(pen)
    if shape == "cross":
        painter.drawLine(c + QPointF(-r, -r), c + QPointF(r, r))
        painter.drawLine(c + QPointF(-r, r), c + QPointF(r, -r))
    elif shape == "slashed circle":
        painter.drawEllipse(c, r, r)
        painter.drawLine(c + QPointF(-r * 0.7, r * 0.7), c + QPointF(r * 0.7, -r * 0.7))
    elif shape == "hourglass":
        painter.setBrush(colour)
        painter.drawPolygon(QPolygonF([c + QPointF(-r, -r), c + QPointF(r, -r), c]))
        painter.drawPolygon(QPolygonF([c, c + QPointF(r, r), c + QPointF(-r, r)]))
    elif shape == "warning triangle":
        painter.drawPolygon(
            QPolygonF([c + QPointF(0, -r - 1), c + QPointF(r + 1, r), c + QPointF(-r - 1, r)])
        )
        painter.drawLine(c + QPointF(0, -r / 3), c + QPointF(0, r / 4))
        painter.drawPoint(c + QPointF(0, r * 0.7))
    elif shape == "circular arrow":
        path = QPainterPath()
        box = QRectF(c.x() - r, c.y() - r, 2 * r, 2 * r)
        path.arcMoveTo(box, 90)
        path.arcTo(box, 90, 270)  # from the top, anticlockwise round to the right
        painter.drawPath(path)
        tip = c + QPointF(r, 0)
        angle = math.radians(-90)  # the arc ends heading up
        head = [
            tip + QPointF(math.cos(angle + a) * 4, -math.sin(angle + a) * 4)
            for a in (math.radians(150), math.radians(-150))
        ]
        painter.drawLine(tip, head[0])
        painter.drawLine(tip, head[1])
    else:  # "square": a clean end
        painter.setBrush(colour)
        painter.drawRect(QRectF(c.x() - r + 1, c.y() - r + 1, 2 * r - 2, 2 * r - 2))
    painter.setBrush(Qt.BrushStyle.NoBrush)
