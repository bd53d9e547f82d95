"""A label that shows what fits of its text and never widens the window for the rest.

A QLabel asks its layout for the width of its whole text: one line holding a 10 kB task ID
made the window 74,000 px wide, its buttons off any screen. ``ElidedLabel`` asks for a
modest width, shows its text wrapped over at most ``lines`` lines, cut with an ellipsis
where it must, and puts the whole text in its tooltip whenever it is cut.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QSize, Qt
from PySide6.QtGui import QContextMenuEvent, QResizeEvent, QTextLayout, QTextOption
from PySide6.QtWidgets import QApplication, QLabel, QMenu, QSizePolicy, QWidget

MIN_CHARS = 16
"""The narrowest an elided label may become, in average characters."""
HINT_CHARS = 100
"""The widest an elided label asks to be, in average characters; it takes more if given."""


class ElidedLabel(QLabel):
    """A plain-text label whose size hints do not grow with its text.

    ``text()`` is the whole text, ``shown()`` what is drawn. Set the label's own tooltip
    with ``setToolTip`` as usual: the whole text goes above it while the text is cut. A
    selectable label copies its whole text from its context menu.
    """

    def __init__(
        self,
        text: str = "",
        parent: QWidget | None = None,
        *,
        lines: int = 1,
        mode: Qt.TextElideMode = Qt.TextElideMode.ElideRight,
    ) -> None:
        super().__init__(parent)
        self._full = ""
        self._tip = ""
        self._cut = False
        self._lines = max(1, lines)
        self._mode = mode
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setWordWrap(False)  # the label breaks its lines itself, anywhere if it must
        self.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.setText(text)

    # -- the text -------------------------------------------------------------------------
    def setText(self, text: str) -> None:
        self._full = text
        self._refit()
        self.updateGeometry()

    def text(self) -> str:
        return self._full

    def shown(self) -> str:
        """What the label draws: the text, or as much of it as fits, elided."""
        return super().text()

    def is_elided(self) -> bool:
        """True while part of the text is not shown."""
        return self._cut

    def setToolTip(self, tip: str) -> None:
        self._tip = tip
        self._refit_tooltip()

    # -- sizes ----------------------------------------------------------------------------
    def sizeHint(self) -> QSize:
        fm = self.fontMetrics()
        one_line = " ".join(self._full.splitlines())
        width = min(fm.horizontalAdvance(one_line), fm.averageCharWidth() * HINT_CHARS)
        return QSize(max(width, self._min_width()) + self._margin_width(), self._height())

    def minimumSizeHint(self) -> QSize:
        return QSize(self._min_width() + self._margin_width(), self._height())

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._refit()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange):
            self._refit()
            self.updateGeometry()

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        """Copy takes the whole text: a selection holds only what is shown."""
        if not self.is_elided() or not self.textInteractionFlags():
            super().contextMenuEvent(event)
            return
        menu = QMenu(self)
        menu.addAction("Copy the whole text", self.copy_whole_text)
        menu.exec(event.globalPos())

    def copy_whole_text(self) -> None:
        QApplication.clipboard().setText(self._full)

    # -- fitting --------------------------------------------------------------------------
    def _min_width(self) -> int:
        return self.fontMetrics().averageCharWidth() * MIN_CHARS

    def _margin_width(self) -> int:
        margins = self.contentsMargins()
        return margins.left() + margins.right() + 2 * self.margin()

    def _height(self) -> int:
        fm = self.fontMetrics()
        margins = self.contentsMargins()
        text_height = fm.height() + fm.lineSpacing() * (self._lines - 1)
        return text_height + margins.top() + margins.bottom() + 2 * self.margin()

    def _refit(self) -> None:
        width = max(self.contentsRect().width() - 2 * self.margin(), 1)
        shown, self._cut = self._fit(" ".join(self._full.splitlines()), width)
        if shown != super().text():
            super().setText(shown)
        self._refit_tooltip()

    def _fit(self, text: str, width: int) -> tuple[str, bool]:
        """``text`` broken into at most ``self._lines`` lines of ``width`` pixels (between
        words where it can, anywhere where it must), the last one elided if text remains;
        and whether some was cut."""
        fm = self.fontMetrics()
        if fm.horizontalAdvance(text) <= width:
            return text, False
        if self._lines == 1:
            return fm.elidedText(text, self._mode, width), True
        layout = QTextLayout(text, self.font())
        option = QTextOption()
        option.setWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        layout.setTextOption(option)
        lines: list[str] = []
        layout.beginLayout()
        start = 0
        while len(lines) < self._lines - 1:
            line = layout.createLine()
            if not line.isValid():
                break
            line.setLineWidth(width)
            start = line.textStart() + line.textLength()
            lines.append(text[line.textStart() : start].rstrip())
        layout.endLayout()
        rest = text[start:]
        last = fm.elidedText(rest, Qt.TextElideMode.ElideRight, width)
        if rest:
            lines.append(last)
        return "\n".join(lines), last != rest

    def _refit_tooltip(self) -> None:
        tip = self._tip
        if self.is_elided():
            tip = f"{self._full}\n\n{tip}" if tip else self._full
        if tip != super().toolTip():
            super().setToolTip(tip)
