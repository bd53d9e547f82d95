"""The shared console: log lines of the parent and of every worker, whole and in order."""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from typing import NamedTuple

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtGui import QColor, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from app.core import EventsDropped, WorkerLog, WorkerStarted
from app.core.events import Event

MAX_LINES = 5000
LEVELS = (("Debug", logging.DEBUG), ("Info", logging.INFO), ("Warning", logging.WARNING))
_WORKER_COLOURS = ("#2f80ed", "#16a085", "#8e44ad", "#d35400", "#c0392b", "#2c3e50")


class Line(NamedTuple):
    time: float
    source: str  # "parent" or "worker-N"
    pid: int
    level: int
    text: str


class LogBridge(QObject):
    """Carries the parent's log records from any thread to the console, as a signal."""

    record_logged = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.handler = _BridgeHandler(self)


class _BridgeHandler(logging.Handler):
    def __init__(self, bridge: LogBridge) -> None:
        super().__init__(logging.DEBUG)
        self._bridge = bridge

    def emit(self, record: logging.LogRecord) -> None:
        if record.processName != "MainProcess":
            return  # a worker's record re-emitted by the facade: it comes as a WorkerLog
        try:
            text = record.getMessage()
            if record.exc_info:
                text += "\n" + logging.Formatter().formatException(record.exc_info)
            line = Line(record.created, "parent", record.process or 0, record.levelno, text)
            self._bridge.record_logged.emit(line)
        except Exception:
            self.handleError(record)


class ConsoleView(QWidget):
    """A read-only console that keeps its place while the user reads back.

    New lines scroll into view only while the view is at the bottom; scroll up and it
    stops following until you scroll back down.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._lines: deque[Line] = deque(maxlen=MAX_LINES)
        self._sources: dict[int, str] = {}  # worker pid -> "worker-N"
        self._formats: dict[str, QTextCharFormat] = {}
        self._min_level = logging.INFO
        self.text = QPlainTextEdit(self)
        self.text.setObjectName("logView")
        self.text.setReadOnly(True)
        self.text.setMaximumBlockCount(MAX_LINES)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.level = QComboBox(self)
        self.level.setObjectName("logLevelCombo")
        for name, value in LEVELS:
            self.level.addItem(name, value)
        self.level.setCurrentIndex(1)
        self.level.setToolTip("Show lines at this level and above")
        self.level.currentIndexChanged.connect(self._level_changed)
        self.following = QLabel(self)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Level:", self))
        bar.addWidget(self.level)
        bar.addStretch(1)
        bar.addWidget(self.following)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.text)
        self.text.verticalScrollBar().valueChanged.connect(self._scrolled)
        self._scrolled()

    def add_events(self, events: list[Event]) -> None:
        """Adds the worker lines of one batch of facade events."""
        lines = []
        for event in events:
            if type(event) is WorkerStarted:
                self._sources[event.pid] = f"worker-{event.index}"
            elif type(event) is WorkerLog:
                source = self._sources.get(event.pid, "worker")
                lines.append(Line(event.time, source, event.pid, event.level, event.message))
            elif type(event) is EventsDropped:
                text = (
                    f"{event.count} facade events were dropped before this window read "
                    "them (it fell behind); the table shows each task's own state"
                )
                lines.append(Line(event.time, "parent", os.getpid(), logging.WARNING, text))
        if lines:
            self.add_lines(lines)

    @Slot(object)
    def add_parent_line(self, line: Line) -> None:
        self.add_lines([line])

    def add_lines(self, lines: list[Line]) -> None:
        self._lines.extend(lines)
        shown = [line for line in lines if line.level >= self._min_level]
        if shown:
            self._append(shown)

    def clear(self) -> None:
        self._lines.clear()
        self.text.clear()

    def _append(self, lines: list[Line]) -> None:
        bar = self.text.verticalScrollBar()
        at_bottom = bar.value() >= bar.maximum() - 2
        cursor = QTextCursor(self.text.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        cursor.beginEditBlock()
        for line in lines:
            if not self.text.document().isEmpty():
                cursor.insertBlock()
            cursor.insertText(_render(line), self._format(line.source))
        cursor.endEditBlock()
        if at_bottom:
            bar.setValue(bar.maximum())

    def _format(self, source: str) -> QTextCharFormat:
        fmt = self._formats.get(source)
        if fmt is None:
            fmt = QTextCharFormat()
            if source.startswith("worker-"):
                index = int(source.removeprefix("worker-") or 0)
                fmt.setForeground(QColor(_WORKER_COLOURS[index % len(_WORKER_COLOURS)]))
            else:
                fmt.setForeground(self.palette().text())
            self._formats[source] = fmt
        return fmt

    @Slot()
    def _level_changed(self) -> None:
        self._min_level = int(self.level.currentData())
        self.text.clear()
        shown = [line for line in self._lines if line.level >= self._min_level]
        if shown:
            self._append(shown)

    @Slot()
    def _scrolled(self) -> None:
        bar = self.text.verticalScrollBar()
        following = bar.value() >= bar.maximum() - 2
        self.following.setText("following new lines" if following else "paused: scrolled up")


def _render(line: Line) -> str:
    clock = time.strftime("%H:%M:%S", time.localtime(line.time))
    level = logging.getLevelName(line.level)
    head = f"{clock}.{int(line.time % 1 * 1000):03d} {line.source}[{line.pid}] {level:<7} "
    return "\n".join(head + part for part in line.text.splitlines() or [""])
