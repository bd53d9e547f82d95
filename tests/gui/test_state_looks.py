"""Task states told apart without colour: the timeline's bars by their hatching, the
table's state cells by their icons, checked on what the painting code really draws, as
seen with each common colour-vision deficiency (see ``colour_vision``)."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest
from PySide6.QtCore import QModelIndex, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from app.core import SimpleTask, TaskState
from app.gui import palette
from app.gui.resources import state_icon
from app.gui.task_model import STATE, STATE_COLOURS, TaskTableModel
from app.gui.timeline_paint import BAR_STATES, PATTERNS, paint_bar, state_colour
from tests.gui.colour_vision import (
    SIMULATIONS,
    apart,
    delta_e,
    lab,
    lightness,
    simulate,
    texture,
)

# What must never be mistaken for one another: a task's fate, and a bar that runs
# against one whose task waits again after its worker died.
CRITICAL = [
    (TaskState.DONE, TaskState.FAILED),
    (TaskState.DONE, TaskState.CRASHED),
    (TaskState.FAILED, TaskState.CRASHED),
    (TaskState.FAILED, TaskState.TIMED_OUT),
    (TaskState.CRASHED, TaskState.TIMED_OUT),
    (TaskState.RUNNING, TaskState.PENDING),
    (TaskState.LOST, TaskState.CRASHED),
]
CONFUSABLE = 20.0  # CIE76: flat colours nearer than this are taken for one another
NOTICED = 8.0  # L* units: a pixel this much lighter or darker is seen to differ
BAR = (40, 14)  # a short bar of a lane: no room for the icon, the hatching alone


def bar_image(state: TaskState, size: tuple[int, int] = BAR) -> QImage:
    image = QImage(*size, QImage.Format.Format_RGB32)
    image.fill(QColor("white"))
    painter = QPainter(image)
    paint_bar(painter, QRectF(0, 0, *size), state)
    painter.end()
    return image


def bar_textures(matrix: tuple[tuple[float, float, float], ...]) -> dict[TaskState, list[float]]:
    """Each bar's pattern as seen under ``matrix``: its inside (no rim), less its mean
    lightness, so that only the hatching can tell one from another."""
    return {
        state: texture(lightness(bar_image(state).copy(2, 2, BAR[0] - 4, BAR[1] - 4), matrix))
        for state in BAR_STATES
    }


def test_the_simulation_is_the_published_one() -> None:
    """White and greys stay themselves (each row sums to 1), and red and green, far apart
    in full colour, come near for the red-green deficiencies: the numbers mean what the
    other tests take them to mean."""
    for name, matrix in SIMULATIONS.items():
        for grey in ("#ffffff", "#808080", "#000000"):
            seen = simulate(QColor(grey), matrix)
            assert max(seen) - min(seen) < 1e-3, (name, grey, seen)
    red, green = QColor("#d62728"), QColor("#2ca02c")
    full = delta_e(red, green, SIMULATIONS["full colour"])
    assert full > 60
    for name in ("protanopia", "deuteranopia"):
        assert delta_e(red, green, SIMULATIONS[name]) < full / 2, name
    assert lab((1.0, 1.0, 1.0))[0] == pytest.approx(100, abs=0.1)


def test_every_state_has_its_own_hatching_and_bars_look_it() -> None:
    assert set(PATTERNS) == set(TaskState)
    assert len(set(PATTERNS.values())) == len(PATTERNS)  # no two states share one
    assert set(BAR_STATES) == set(TaskState) - {TaskState.NEW, TaskState.REJECTED}
    assert set(STATE_COLOURS) == set(TaskState)


@pytest.mark.parametrize("vision", list(SIMULATIONS))
def test_bars_differ_by_hatching_alone_under_each_deficiency(qtbot: QtBot, vision: str) -> None:
    """Every two states' bars differ in pattern, on what ``paint_bar`` draws, with the
    colour taken out (each bar less its mean lightness): a third of the pixels at least
    for the states that matter most, a quarter for any two."""
    textures = bar_textures(SIMULATIONS[vision])
    for first, second in itertools.combinations(BAR_STATES, 2):
        share = apart(textures[first], textures[second], NOTICED)
        least = 0.33 if (first, second) in CRITICAL or (second, first) in CRITICAL else 0.25
        assert share >= least, f"{first.name} vs {second.name} under {vision}: {share:.2f}"


def test_where_colour_fails_the_hatching_and_the_icon_still_tell(qtbot: QtBot) -> None:
    """The pairs of states whose colours a reader with a deficiency would confuse: each
    must differ in hatching and in its table icon. With this palette such pairs exist
    (amber and orange for deuteranopes, among others): without them this test would
    check nothing, so it says so."""
    confusable: list[tuple[str, TaskState, TaskState]] = []
    for vision, matrix in SIMULATIONS.items():
        for first, second in itertools.combinations(BAR_STATES, 2):
            if delta_e(state_colour(first), state_colour(second), matrix) < CONFUSABLE:
                confusable.append((vision, first, second))
    assert confusable, "no state colours are confusable: tighten CONFUSABLE or the palette"
    textures = {vision: bar_textures(matrix) for vision, matrix in SIMULATIONS.items()}
    icons = {
        vision: {state: _flat(lightness(_icon(state), matrix)) for state in BAR_STATES}
        for vision, matrix in SIMULATIONS.items()
    }
    for vision, first, second in confusable:
        what = f"{first.name} vs {second.name} under {vision}"
        assert apart(textures[vision][first], textures[vision][second], NOTICED) >= 0.25, what
        assert apart(icons[vision][first], icons[vision][second], NOTICED) >= 0.08, what


@pytest.mark.parametrize("vision", list(SIMULATIONS))
def test_table_icons_differ_in_shape_for_every_state(qtbot: QtBot, vision: str) -> None:
    """The table's state cell shows an icon besides its name; no two states' icons look
    alike once hue is gone (lightness alone, at the table's 16 px)."""
    matrix = SIMULATIONS[vision]
    seen = {state: _flat(lightness(_icon(state), matrix)) for state in TaskState}
    for first, second in itertools.combinations(TaskState, 2):
        share = apart(seen[first], seen[second], NOTICED)
        assert share >= 0.08, f"{first.name} vs {second.name} under {vision}: {share:.2f}"


def test_the_table_state_cell_has_icon_and_words(qtbot: QtBot) -> None:
    """The state column gives both: an icon (DecorationRole) and the state's name."""
    model = TaskTableModel()
    for state in TaskState:
        task = SimpleTask(state.value, 0)
        task.state = state
        model.show_at([task], Counter({state: 1}), {task.ID: 0})
        index = model.index(0, STATE, QModelIndex())
        decoration = model.data(index, Qt.ItemDataRole.DecorationRole)
        assert not decoration.isNull(), state
        assert model.data(index, Qt.ItemDataRole.DisplayRole) == state.name


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_state_names_read_on_either_palette(qapp: QApplication, dark: bool) -> None:
    """The state's name is written in its colour, made dark or light enough to read on
    the table's rows (WCAG 4.5:1), in the same hue: the raw amber of TIMED_OUT on white
    is about 2:1."""
    before = qapp.palette()
    palette.apply(qapp, dark)
    try:
        model = TaskTableModel()
        ground = qapp.palette()
        for state in TaskState:
            colour = model.state_colour(state)
            for row in (ground.base().color(), ground.alternateBase().color()):
                assert palette.contrast(colour, row) >= 4.5, (state.name, colour.name())
            raw = QColor(STATE_COLOURS[state])
            if raw.hslSaturationF() > 0.2:
                turn = abs(colour.hslHueF() - raw.hslHueF()) % 1.0
                assert min(turn, 1 - turn) < 0.03, state.name  # the same hue
        raw_amber = QColor(STATE_COLOURS[TaskState.TIMED_OUT])
        if not dark:
            assert palette.contrast(raw_amber, ground.base().color()) < 3  # why it matters
    finally:
        qapp.setPalette(before)


def test_readable_needs_a_ground() -> None:
    with pytest.raises(TypeError, match="at least one ground"):
        palette.readable(QColor("#d4a017"))
    white = QColor("#ffffff")
    assert palette.readable(QColor("#000000"), white) == QColor("#000000")  # reads already


def _icon(state: TaskState) -> QImage:
    image = QImage(16, 16, QImage.Format.Format_RGB32)
    image.fill(QColor("white"))
    painter = QPainter(image)
    state_icon(state.value).paint(painter, image.rect())
    painter.end()
    return image


def _flat(rows: list[list[float]]) -> list[float]:
    return [value for row in rows for value in row]
