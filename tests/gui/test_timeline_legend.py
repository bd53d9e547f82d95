"""The timeline's legend: it names every state a bar can have and every end mark, its
samples are really painted (in the light palette and the dark one), and it folds away."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import QPoint, QRect
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QApplication, QLabel, QWidget
from pytestqt.qtbot import QtBot

from app.core import TaskState
from app.gui import palette
from app.gui.timeline_legend import Sample, TimelineLegend, TimelinePane
from app.gui.timeline_paint import BAR_STATES
from app.gui.timeline_view import TimelineView
from app.teaching.timeline import MARKS


@pytest.fixture
def pane(qtbot: QtBot) -> TimelinePane:
    made = TimelinePane(TimelineView())
    qtbot.addWidget(made)
    made.resize(900, 300)
    made.show()
    qtbot.waitExposed(made)
    return made


@pytest.fixture(params=[False, True], ids=["light", "dark"])
def dark(request: pytest.FixtureRequest, qapp: QApplication) -> Iterator[bool]:
    """The application in the light palette, then the dark one; as it was afterwards."""
    before = qapp.palette()
    palette.apply(qapp, request.param)
    try:
        yield request.param
    finally:
        qapp.setPalette(before)


def test_every_state_and_every_mark_is_in_the_legend(pane: TimelinePane) -> None:
    legend = pane.legend
    states = [e.key for e in legend.entries if e.kind == "state"]
    marks = [e.key for e in legend.entries if e.kind == "mark"]
    others = [e.key for e in legend.entries if e.kind == "other"]
    assert states == [state.value for state in BAR_STATES]
    assert marks == list(MARKS)
    assert others == ["memory", "replacement", "now", "idle"]
    # The states no bar can have are the ones that never ran.
    assert {TaskState(key) for key in states} | {TaskState.NEW, TaskState.REJECTED} == set(
        TaskState
    )
    for entry in legend.entries:  # each entry shows its words, and explains itself
        box = legend.findChild(QWidget, f"legend-{entry.kind}-{entry.key}")
        assert box is not None, entry.key
        assert box.toolTip() == entry.meaning
        assert entry.text in box.accessibleName()
        words = [label.text() for label in box.findChildren(QLabel)]
        assert words == [entry.text]
    requeued = next(e for e in legend.entries if e.key == TaskState.PENDING.value)
    assert requeued.text == "requeued"


def test_the_samples_are_painted_in_both_palettes(
    qtbot: QtBot, pane: TimelinePane, dark: bool
) -> None:
    """Each sample shows more than its ground, in a colour that stands off it; the text
    beside it reads on the legend's ground (WCAG contrast 4.5:1 at least)."""
    legend = pane.legend
    samples = legend.findChildren(Sample)
    assert len(samples) == len(legend.entries)
    images = []
    for sample in samples:
        qtbot.waitUntil(sample.isVisible)
        image = sample.grab().toImage()
        ground = sample.palette().base().color()
        painted = _pixels_unlike(image, ground, 60)
        assert painted >= 6, f"{sample.accessibleName()}: {painted} pixels drawn"
        images.append(image)
    assert len({bytes(image.constBits()) for image in images}) == len(images)  # all differ
    label = legend.findChildren(QLabel)[0]
    text, ground = label.palette().windowText().color(), legend.palette().window().color()
    assert palette.contrast(text, ground) >= 4.5
    assert (ground.lightness() < 128) is dark


def test_the_legend_folds_and_the_whole_shows(qtbot: QtBot, pane: TimelinePane) -> None:
    legend = pane.legend
    assert legend.isVisible() and pane.legend_action.isChecked()
    whole = pane.grab().toImage()
    pane.toggle.click()  # the strip's own button
    assert not pane.legend_action.isChecked()
    qtbot.waitUntil(lambda: not legend.isVisible())
    pane.legend_action.trigger()  # the View menu's action
    qtbot.waitUntil(legend.isVisible)
    assert legend.geometry().bottom() <= whole.height()
    # Narrow, the entries wrap onto more lines rather than widening the window.
    wide = legend.heightForWidth(900)
    assert legend.heightForWidth(300) > wide
    assert legend.minimumSizeHint().width() < 300


def test_a_legend_on_its_own_has_a_name_for_screen_readers(qtbot: QtBot) -> None:
    legend = TimelineLegend()
    qtbot.addWidget(legend)
    assert legend.accessibleName() == "Timeline legend"


def _pixels_unlike(image: QImage, ground: QColor, by: int) -> int:
    count = 0
    for y in range(image.height()):
        for x in range(image.width()):
            pixel = image.pixelColor(x, y)
            far = abs(pixel.red() - ground.red()) + abs(pixel.green() - ground.green())
            if far + abs(pixel.blue() - ground.blue()) >= by:
                count += 1
    return count


@pytest.mark.parametrize("size", [(300, 300), (300, 160), (900, 120), (200, 400)])
def test_a_legend_with_too_little_room_scrolls_and_cuts_no_entry_for_good(
    qtbot: QtBot, size: tuple[int, int]
) -> None:
    """A narrow or short pane (a splitter can make it so): every entry can still be
    brought into view, and the timeline keeps rows to show."""
    pane = TimelinePane(TimelineView())
    qtbot.addWidget(pane)
    pane.resize(*size)
    pane.show()
    qtbot.waitExposed(pane)
    legend = pane.legend
    boxes = [b for b in legend.findChildren(QWidget) if b.objectName().startswith("legend-")]
    assert len(boxes) == len(legend.entries)
    scroll = pane.legend_scroll
    for box in boxes:
        scroll.ensureWidgetVisible(box, 0, 0)
        seen = QRect(box.mapTo(scroll.viewport(), QPoint(0, 0)), box.size())
        view = scroll.viewport().rect()
        shown = view.intersected(seen)  # all of it, or as much as the view's width holds
        assert shown.height() == seen.height(), box.objectName()
        assert shown.width() == min(seen.width(), view.width()), box.objectName()
    assert pane.timeline.height() >= 40
    # With the room it needs, it shows whole without scrolling.
    pane.resize(size[0], 900)
    qtbot.waitUntil(lambda: not scroll.verticalScrollBar().isVisible())
    assert legend.height() >= legend.heightForWidth(legend.width())
