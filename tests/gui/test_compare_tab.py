"""The window's Compare tab: a scenario's tasks as the facade, ProcessPoolExecutor and
multiprocessing.Pool really ended them, run on this Python off the GUI thread, the cells
that differ from the facade's marked; a cached result at once; nothing left running when
the window closes mid-run; an odd result refused in the tab, never a crash."""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Any

import pytest
import shiboken6
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QFont, QKeySequence
from PySide6.QtWidgets import QApplication
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot

from app.gui import MainWindow, palette
from app.gui.compare_model import DIFFERS, CompareModel, tint
from app.gui.compare_tab import CompareTab
from app.teaching.compare_cells import Observed, rows
from app.teaching.stdlib_cache import CACHE_ENV, cache_file, store
from app.teaching.stdlib_contender import task_ids
from app.teaching.stdlib_runs import DEADLINE, OUTER_GRACE
from app.testing import live_children

RUN_MS = int((DEADLINE + OUTER_GRACE + 30) * 1000)  # a run's bound, and room for a loaded machine
Role = Qt.ItemDataRole


@pytest.fixture
def tab(window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CompareTab:
    """The window's tab, with a cache of its own: nothing observed yet."""
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    window.side.setCurrentWidget(window.compare_tab)
    return window.compare_tab


def cells(tab: CompareTab) -> dict[str, list[str]]:
    model = tab.model
    return {
        str(model.index(r, 0).data()): [
            str(model.index(r, c).data()) for c in range(1, model.columnCount())
        ]
        for r in range(model.rowCount())
    }


def marked(tab: CompareTab) -> set[tuple[str, str]]:
    """The (task, contender) cells marked as differing: tinted and bold."""
    model, found = tab.model, set()
    for r in range(model.rowCount()):
        for c in range(1, model.columnCount()):
            index = model.index(r, c)
            font = index.data(Role.FontRole)
            if index.data(Role.BackgroundRole) is not None:
                assert isinstance(font, QFont) and font.bold()
                assert str(index.data()).startswith(DIFFERS)
                found.add((str(model.index(r, 0).data()), model.HEADERS[c]))
    return found


def fabricated(name: str) -> dict[str, Any]:
    """A result of scenario ``name``: every task returns its ID; under the Pool the
    first one returns something else."""
    ids = task_ids(name)
    facade = {i: {"kind": "value", "value": i, "state": "DONE"} for i in ids}
    pool = {i: {"kind": "value", "value": i} for i in ids}
    pool[ids[0]] = {"kind": "value", "value": "another"}
    return {
        "scenario": name,
        "python": platform.python_version(),
        "contenders": {
            "facade": facade,
            "ProcessPoolExecutor": {i: {"kind": "value", "value": i} for i in ids},
            "Pool": pool,
        },
    }


@pytest.mark.timeout(180)
def test_a_real_run_shows_each_end_and_marks_those_unlike_the_facade(
    qtbot: QtBot, window: MainWindow, tab: CompareTab
) -> None:
    tab.show_scenario("dies-before-collect")
    assert tab.model.rowCount() == 0
    assert "Not observed yet" in tab.status.text()
    assert tab.button.isEnabled()
    qtbot.mouseClick(tab.button, Qt.MouseButton.LeftButton)
    assert tab.running == "dies-before-collect"
    assert not tab.button.isEnabled()
    assert (
        f"under ProcessPoolExecutor, Pool and the facade, at most {DEADLINE + OUTER_GRACE:g} s"
        in tab.status.text()
    )
    assert not tab.run()  # a second run waits for the first to end
    # A scenario played meanwhile is shown, and run once the first run ends.
    with qtbot.waitSignal(window.scenario_player.finished, timeout=60_000):
        window.scenario_player.start("several-collects")
    assert tab.scenario == "several-collects" and tab.running == "dies-before-collect"
    assert "Running dies-before-collect under" in tab.status.text()
    assert tab.status.text().endswith("One run at a time.")
    qtbot.waitUntil(lambda: tab.running == "several-collects", timeout=RUN_MS)
    qtbot.waitUntil(lambda: tab.running is None, timeout=RUN_MS)
    assert list(cells(tab)) == ["one", "two", "late"]
    tab.show_scenario("dies-before-collect")
    assert "last run gave nothing" not in tab.status.text(), tab.status.text()
    table = cells(tab)
    assert list(table) == ["one", "two", "crash", "three"]
    assert table["one"] == ['DONE "one solved after 1.0"', *['"one solved after 1.0"'] * 2]
    assert table["three"][0].startswith("LOST TaskLostError")
    assert table["three"][1].startswith(f"{DIFFERS} BrokenProcessPool: ")
    assert table["three"][2] == f'{DIFFERS} "three solved after 0.5"'
    assert table["crash"][0].startswith("CRASHED TaskCrashedError")
    assert table["crash"][2] == f"{DIFFERS} still waiting at the deadline"
    assert marked(tab) == {
        ("crash", "ProcessPoolExecutor"),
        ("crash", "Pool"),
        ("three", "ProcessPoolExecutor"),
        ("three", "Pool"),
    }
    tip = tab.model.index(3, 2).data(Role.ToolTipRole)
    assert "raised BrokenProcessPool, where the facade's ended LOST (raised TaskLostError)" in tip
    heading = tab.heading.text()
    assert f"Python {platform.python_version()}" in heading
    assert "run in this window" in heading and f"each run given {DEADLINE:g} s" in heading
    assert cache_file("dies-before-collect").exists()  # stored for this Python
    assert tab.button.isEnabled() and "again" in tab.button.text()


@pytest.mark.timeout(120)
def test_a_scenario_played_in_the_window_fills_the_tab(
    qtbot: QtBot, window: MainWindow, tab: CompareTab
) -> None:
    tab.show_scenario("original")
    with qtbot.waitSignal(window.scenario_player.finished, timeout=60_000):
        window.scenario_player.start("several-collects")
        assert tab.scenario == "several-collects"  # shown as soon as it is played
    assert tab.running == "several-collects"  # nothing cached: run once it ended
    qtbot.waitUntil(lambda: tab.running is None, timeout=RUN_MS)
    table = cells(tab)
    assert list(table) == ["one", "two", "late"]
    assert table["late"][0].startswith("REJECTED TaskRejectedError")
    assert table["late"][1] == (
        f"{DIFFERS} RuntimeError: cannot schedule new futures after shutdown"
    )
    assert table["late"][2] == f"{DIFFERS} ValueError: Pool not running"
    assert marked(tab) == {("late", "ProcessPoolExecutor"), ("late", "Pool")}


def test_a_cached_result_is_shown_at_once_without_a_run(tab: CompareTab) -> None:
    before = {c.pid for c in live_children()}
    assert store(fabricated("original"), 25.0) is not None
    tab.show_scenario("original")
    assert tab.running is None and {c.pid for c in live_children()} <= before
    assert cells(tab)["one"] == ['DONE "one"', '"one"', f'{DIFFERS} "another"']
    assert marked(tab) == {("one", "Pool")}
    assert "read from the cache" in tab.heading.text()
    assert "each run given 25 s" in tab.heading.text()
    assert tab.status.text() == ""


def test_a_scenario_played_with_a_cached_result_starts_no_run(
    qtbot: QtBot, window: MainWindow, tab: CompareTab
) -> None:
    store(fabricated("several-collects"), DEADLINE)
    with qtbot.waitSignal(window.scenario_player.finished, timeout=60_000):
        window.scenario_player.start("several-collects")
    assert tab.running is None
    assert cells(tab)["one"][2] == f'{DIFFERS} "another"'


@pytest.mark.timeout(60)
def test_closing_the_window_mid_run_leaves_nothing_running(
    qtbot: QtBot, window: MainWindow, tab: CompareTab
) -> None:
    before = {c.pid for c in live_children()}
    assert tab.run("hang-timeout")
    # The three contenders and their pools' workers: the run is well under way.
    qtbot.waitUntil(lambda: len({c.pid for c in live_children()} - before) >= 5, timeout=30_000)
    started = {c.pid for c in live_children()} - before
    began = time.monotonic()
    window.close()
    assert time.monotonic() - began < 5.0  # the cancel kills them: no waiting for a deadline
    assert tab.running is None
    assert not started & {c.pid for c in live_children()}
    assert not cache_file("hang-timeout").exists()  # a cancelled run is no observation


@pytest.mark.timeout(60)
def test_a_window_deleted_mid_run_ends_the_run_first(
    qtbot: QtBot, window: MainWindow, tab: CompareTab
) -> None:
    """Deleted without its shutdown (``deleteLater``, ``shiboken6.delete``): the tab's
    run is cancelled and waited for before its thread could be destroyed running."""
    before = {c.pid for c in live_children()}
    assert tab.run("hang-timeout")
    qtbot.waitUntil(lambda: len({c.pid for c in live_children()} - before) >= 5, timeout=30_000)
    started = {c.pid for c in live_children()} - before
    shiboken6.delete(window)
    assert not started & {c.pid for c in live_children()}


def test_a_name_that_is_no_scenario_is_refused(tab: CompareTab) -> None:
    with pytest.raises(ValueError, match="unknown scenario 'nope'"):
        tab.show_scenario("nope")
    with pytest.raises(TypeError, match="a scenario's name is a string"):
        tab.run(["original"])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown scenario"):
        tab.show_result("", None, Observed(None, False, None))
    assert tab.running is None


@pytest.mark.timeout(60)
def test_a_run_that_fails_says_why_in_the_tab(
    qtbot: QtBot, tab: CompareTab, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONHOME", str(Path("/nonexistent")))  # no contender can start
    tab.show_scenario("several-collects")
    assert tab.run()
    qtbot.waitUntil(lambda: tab.running is None, timeout=30_000)
    text = tab.status.text()
    assert "The last run gave nothing to show" in text and "ended without a report" in text
    assert tab.model.rowCount() == 0 and tab.button.isEnabled()
    tab.show_scenario("original")
    assert "ended without a report" not in tab.status.text()  # said of its own scenario


ODD: list[Any] = [
    {},
    [],
    "text",
    {"scenario": "original", "python": 3, "contenders": {}},
    {"scenario": "nope", "python": "3", "contenders": {}},
]


@pytest.mark.parametrize("odd", ODD, ids=range(len(ODD)))
def test_an_odd_result_is_refused_in_the_tab(tab: CompareTab, odd: Any) -> None:
    tab.show_result("original", odd, Observed(None, False, None))
    assert tab.status.text().startswith("This result cannot be shown: ")
    assert tab.model.rowCount() == 0


def test_odd_outcomes_are_shown_as_they_are(tab: CompareTab) -> None:
    result = fabricated("original")
    pool = result["contenders"]["Pool"]
    pool["one"] = {"kind": "value", "value": {"nested": [1, 2.5, None]}}
    pool["two"] = {"kind": "exception", "exception": "E" * 500, "message": "\n" * 3}
    result["contenders"]["facade"]["one"]["state"] = 12
    tab.show_scenario("hang-timeout")
    tab.show_result("original", result, Observed(-1e12, True, None))
    assert tab.status.text() == "" and tab.combo.currentData() == "original"
    table = cells(tab)
    assert table["one"][0] == '12 "one"'
    assert table["one"][2] == f'{DIFFERS} {{"nested": [1, 2.5, null]}}'
    assert table["two"][2].endswith("…") and len(table["two"][2]) < 200
    assert "each run's deadline is not known" in tab.heading.text()
    bad = dict(result, contenders=dict(result["contenders"], Pool={"one": {"kind": "what"}}))
    tab.show_result("original", bad, Observed(None, False, None))
    assert "cannot be shown" in tab.status.text()


def test_a_damaged_cache_file_is_not_observed_yet(tab: CompareTab) -> None:
    path = cache_file("original")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\xff{not json")
    tab.show_scenario("original")
    assert tab.model.rowCount() == 0 and "Not observed yet" in tab.status.text()
    content = {"format": "x", "deadline": float("inf"), "result": fabricated("original")}
    path.write_text(json.dumps(content))  # not one of ours: ignored too
    tab.show_scenario("several-collects")
    tab.show_scenario("original")
    assert tab.model.rowCount() == 0


def test_the_tab_is_usable_from_the_keyboard(qtbot: QtBot, tab: CompareTab) -> None:
    store(fabricated("original"), DEADLINE)
    tab.show_scenario("original")
    for widget in (tab.combo, tab.button, tab.table):
        assert widget.focusPolicy() & Qt.FocusPolicy.TabFocus
        assert widget.accessibleName()
    assert tab.button.shortcut() == QKeySequence("Alt+Y")
    assert tab.combo.nextInFocusChain() is tab.button or tab.button.isAncestorOf(
        tab.combo.nextInFocusChain()
    )
    tab.table.setFocus()
    tab.table.setCurrentIndex(tab.model.index(0, 3))
    assert "under Pool" in tab.detail.text() and "Unlike the facade" in tab.detail.text()
    qtbot.keyClick(tab.table, Qt.Key.Key_Left)
    assert "under ProcessPoolExecutor" in tab.detail.text()
    assert "As under the facade" in tab.detail.text()
    index = tab.model.index(0, 3)
    assert "Unlike the facade" in index.data(Role.AccessibleTextRole)


def test_the_model_is_a_sound_qt_model(qtmodeltester: ModelTester) -> None:
    model = CompareModel()
    model.set_rows(rows(fabricated("dies-before-collect"), "dies-before-collect"))
    qtmodeltester.check(model)
    assert model.data(QModelIndex()) is None


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_a_differing_cell_reads_on_either_palette(qapp: QApplication, dark: bool) -> None:
    try:
        palette.apply(qapp, dark)
        base = QApplication.palette().color(QApplication.palette().ColorRole.Base)
        ground, text = tint(QApplication.palette())
        assert palette.contrast(text, ground) >= 7.0
        assert palette.contrast(ground, base) > 1.2  # the tint shows against the table
    finally:
        palette.apply(qapp, False)
