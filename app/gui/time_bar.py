"""The time controls of a recorded or followed run: a slider over its events, play and
pause, a step either way, the speed, and back to the present when watching."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QStyle,
    QWidget,
)

from app.gui import formatting

FASTEST = 0.0  # the speed "as fast as possible": a big slice of events per tick
SPEEDS = (("0.25×", 0.25), ("1×", 1.0), ("4×", 4.0), ("16×", 16.0), ("fastest", FASTEST))  # noqa: RUF001 (the sign people read)


class TimeBar(QWidget):
    """The widgets only; ``RunPlayer`` gives them their meaning."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("timeBar")
        style = self.style()
        self.step_back = self._button(
            "stepBackButton", QStyle.StandardPixmap.SP_MediaSkipBackward, "Back one event"
        )
        self.play = self._button(
            "playButton", QStyle.StandardPixmap.SP_MediaPlay, "Play the run from here"
        )
        self.play.setCheckable(True)
        self._play_icon = style.standardIcon(QStyle.StandardPixmap.SP_MediaPlay)
        self._pause_icon = style.standardIcon(QStyle.StandardPixmap.SP_MediaPause)
        self.play.toggled.connect(self._show_playing)
        self.step = self._button(
            "stepButton", QStyle.StandardPixmap.SP_MediaSkipForward, "On one event"
        )
        self.slider = QSlider(Qt.Orientation.Horizontal, self)
        self.slider.setObjectName("timeSlider")
        self.slider.setToolTip(
            "The run's events from first to last: drag to see every view as it was then"
        )
        self.slider.setPageStep(10)
        self.position = QLabel(self)
        self.position.setObjectName("timePosition")
        self.position.setMinimumWidth(190)
        self.speed = QComboBox(self)
        self.speed.setObjectName("speedCombo")
        self.speed.setToolTip("How fast Play goes through the run, against its real time")
        for label, factor in SPEEDS:
            self.speed.addItem(label, factor)
        self.speed.setCurrentIndex(1)
        self.live = QPushButton("Live", self)
        self.live.setObjectName("liveButton")
        self.live.setCheckable(True)
        self.live.setToolTip("Follow the present: each new event is shown as it is written")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for widget in (self.step_back, self.play, self.step):
            layout.addWidget(widget)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.position)
        layout.addWidget(self.speed)
        layout.addWidget(self.live)

    def _button(self, name: str, pixmap: QStyle.StandardPixmap, tip: str) -> QPushButton:
        button = QPushButton(self.style().standardIcon(pixmap), "", self)
        button.setObjectName(name)
        button.setToolTip(tip)
        return button

    def _show_playing(self, playing: bool) -> None:
        self.play.setIcon(self._pause_icon if playing else self._play_icon)

    def show_live(self, live: bool) -> None:
        """The Live button pressed or not, without a signal of the change."""
        self.live.blockSignals(True)
        self.live.setChecked(live)
        self.live.blockSignals(False)

    def show_position(self, index: int, length: int, seconds: float, total: float) -> None:
        """The slider at ``index`` of ``length`` events, without a signal of the move."""
        self.slider.blockSignals(True)
        self.slider.setRange(0, length)
        self.slider.setValue(index)
        self.slider.blockSignals(False)
        self.position.setText(
            f"{formatting.seconds(seconds)} of {formatting.seconds(total)}  ·  "
            f"event {index:,} of {length:,}"
        )
