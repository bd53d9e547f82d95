"""Worker telemetry and death reasons in the window: the worker panel's memory, CPU and
reasons, the timeline's memory graphs and end marks, fed as the live route feeds them
(``MainWindow.show_events``, the poller's batch slot) on a real facade.

A real crash is checked end to end. ``WorkerStats`` and the reasons other than "crashed"
come from a core sampler and lifecycle that are not in this tree yet, so those events are
built here: the window cannot tell them from the core's.
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QPointF
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QTableWidget
from pytestqt.qtbot import QtBot

from app.core import (
    CrashTask,
    SimpleTask,
    WorkerDied,
    WorkerStarted,
    WorkerStats,
    WorkingProcessFacade,
)
from app.core.events import Event, WorkerInfo
from app.gui.main_window import MainWindow
from app.gui.timeline_marks import ALARM
from app.gui.timeline_view import LABEL_WIDTH, TimelineView
from app.gui.worker_text import death_story, death_words, ended_words, usage
from app.teaching.timeline import MARKS, Lane
from app.testing import WindowFactory
from tests.gui.helpers import DEADLINE_MS, worker_states

pytestmark = pytest.mark.timeout(90)
MB = 1024 * 1024


def panel_row(window: MainWindow, row: int = 0) -> dict[str, str]:
    """The worker panel's row, cell text by header."""
    table = window.worker_panel.findChild(QTableWidget)
    assert table is not None
    titles = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    return {
        t: (table.item(row, c).text() if table.item(row, c) else "") for c, t in enumerate(titles)
    }


def panel_tip(window: MainWindow, title: str, row: int = 0) -> str:
    table = window.worker_panel.table
    col = next(
        c for c in range(table.columnCount()) if table.horizontalHeaderItem(c).text() == title
    )
    return table.item(row, col).toolTip()


def live_pid(qtbot: QtBot, window: MainWindow) -> int:
    qtbot.waitUntil(lambda: worker_states(window)[0] == "idle", timeout=DEADLINE_MS)
    pid = window.facade.worker_info()[0].pid
    assert pid is not None
    return pid


def lane_of(view: TimelineView, pid: int) -> tuple[int, Lane]:
    assert view.timeline is not None
    return next((row, lane) for row, lane in enumerate(view.timeline.lanes) if lane.pid == pid)


def mark_point(view: TimelineView, row: int, when: float) -> QPointF:
    """Where the mark of ``row`` at ``when`` is, in the viewport's coordinates."""
    g = view.geometry_now()
    y, h = g.bar_band(row)
    return QPointF(LABEL_WIDTH + g.x(when), y + h / 2 - view.verticalScrollBar().value())


def pixel(view: TimelineView, point: QPointF) -> QColor:
    view.viewport().repaint()
    return view.viewport().grab().toImage().pixelColor(int(point.x()), int(point.y()))


def test_the_panel_shows_memory_and_cpu_and_the_table_ignores_samples(
    qtbot: QtBot, window: MainWindow
) -> None:
    pid = live_pid(qtbot, window)
    rows, counts = window.model.rowCount(), dict(window.model.counts)
    lines = window.console.text.toPlainText()
    sample = WorkerStats(0, pid, 212 * MB, 35.4, time.time())
    assert not window.worker_panel.note_events([sample])  # a sample waits for the tick
    window.controller.events.emit([sample])  # the poller's batches go this way
    qtbot.waitUntil(lambda: panel_row(window)["Memory"] != "", timeout=DEADLINE_MS)
    if window.facade.worker_info()[0].rss_bytes is None:  # no sampler: the event's figures
        assert panel_row(window)["Memory"] == "212 MB"
        assert panel_row(window)["CPU"] == "35%"
    else:  # the core's snapshot is fresher than any event
        assert re.fullmatch(r"[\d.]+ [KMG]?B", panel_row(window)["Memory"])
        assert re.fullmatch(r"\d+%", panel_row(window)["CPU"])
    assert "resident memory" in panel_tip(window, "Memory")
    assert window.model.rowCount() == rows and dict(window.model.counts) == counts
    assert window.console.text.toPlainText() == lines
    assert window.explainer.toPlainText() == ""
    _row, lane = lane_of(window.timeline, pid)
    assert 212 * MB in lane.memory.values  # the core's own samples may come in beside it


def test_a_real_crash_draws_as_a_crash(qtbot: QtBot, window: MainWindow) -> None:
    pid = live_pid(qtbot, window)
    view = window.timeline
    assert window.facade.process_task(CrashTask("boom", "segfault"))
    qtbot.waitUntil(lambda: window.facade.task("boom").state.is_final, timeout=DEADLINE_MS)
    qtbot.waitUntil(lambda: worker_states(window)[0] == "crashed: SIGSEGV", timeout=DEADLINE_MS)
    assert "crashed: the process died on its own" in panel_tip(window, "State")
    row, lane = lane_of(view, pid)
    assert lane.end is not None and lane.reason == "crashed" and lane.mark == MARKS["crashed"]
    assert lane.mark_label() == "SIGSEGV"
    point = mark_point(view, row, lane.end)
    tip = " ".join(view.tooltip_at(point).split())  # its lines wrapped for the screen
    assert f"worker-0 (pid {pid}) crashed (SIGSEGV)" in tip and MARKS["crashed"].meaning in tip
    assert pixel(view, point) == ALARM  # the red cross's centre


def test_a_recycling_draws_calm_with_its_memory(qtbot: QtBot, window: MainWindow) -> None:
    """Slot 1 is not the facade's: a process of it, recycled, as the events tell it."""
    live_pid(qtbot, window)
    view = window.timeline
    start = time.time() - 3.0
    old, new = 990_001, 990_002
    events: list[Event] = [WorkerStarted(1, old, start)]
    events += [WorkerStats(1, old, (60 + 20 * k) * MB, 80.0, start + k / 2) for k in range(5)]
    events.append(WorkerDied(1, old, 0, None, start + 2.5, "recycled", 140 * MB, False))
    events.append(WorkerStarted(1, new, start + 2.6))
    window.show_events(events)
    row, lane = lane_of(view, old)
    assert lane.end is not None and lane.mark == MARKS["recycled"]
    assert view.timeline is not None and view.timeline.memory_peak == 140 * MB
    point = mark_point(view, row, lane.end)
    tip = " ".join(view.tooltip_at(point).split())
    assert "recycled at" in tip and "nothing is lost or blamed" in tip and "140 MB" in tip
    colour = pixel(view, point)
    assert colour != ALARM and colour.red() == colour.green() == colour.blue()  # grey
    new_row, replacement = lane_of(view, new)
    assert replacement.after == "recycled"
    assert "after the last one was recycled" in view.tooltip_at(
        mark_point(view, new_row, replacement.start)
    )
    # The memory band under the bars: filled where the process had memory.
    g = view.geometry_now()
    band = QPointF(LABEL_WIDTH + g.x(start + 1.25), g.memory_base(row) - 2)
    band.setY(band.y() - view.verticalScrollBar().value())
    assert pixel(view, band).blue() > pixel(view, band).red()
    assert "100 MB resident" in view.tooltip_at(band)


def test_the_panel_tells_each_reason_of_a_dead_worker(qtbot: QtBot, window: MainWindow) -> None:
    pid = live_pid(qtbot, window)
    os.kill(pid, signal.SIGKILL)  # a real death first: the slot is dead in the snapshot
    qtbot.waitUntil(lambda: worker_states(window)[0] == "crashed: SIGKILL", timeout=DEADLINE_MS)
    now = time.time()
    told = [
        (WorkerDied(0, pid, 0, None, now, "recycled", 150 * MB, False), "recycled"),
        (
            WorkerDied(0, pid, -9, "SIGKILL", now, "crashed", 1536 * MB, True),
            "crashed: SIGKILL, likely out of memory",
        ),
        (WorkerDied(0, pid, -9, "SIGKILL", now, "timeout"), "timeout"),
        (WorkerDied(0, pid, -9, "SIGKILL", now, "killed"), "killed"),
        (WorkerDied(0, pid, 0, None, now, "stopped"), "stopped"),
        (WorkerDied(0, pid, 1, None, now, "initializer failed"), "initializer failed"),
    ]
    for death, words in told:
        window.show_events([death])
        assert panel_row(window)["State"] == words
    window.show_events([told[1][0]])
    assert panel_row(window)["Memory"] == "1.5 GB" and panel_row(window)["CPU"] == ""
    assert "last sample before the process ended" in panel_tip(window, "Memory")
    assert "out-of-memory killer is the likely cause" in panel_tip(window, "State")
    window.show_events([told[0][0]])
    assert panel_row(window)["Memory"] == "150 MB"
    assert "ruled out" in panel_tip(window, "State")


def test_the_words_for_each_end() -> None:
    died = WorkerDied(2, 77, -11, "SIGSEGV", 0.0)
    assert death_words(died) == "crashed: SIGSEGV"
    assert ended_words(died) == "died: SIGSEGV"
    assert death_words(WorkerDied(2, 77, None, None, 0.0), exitcode=3) == "crashed: exit code 3"
    assert death_words(WorkerDied(2, 77, None, None, 0.0)) == "crashed"
    assert death_words(WorkerDied(2, 77, 0, None, 0.0, "nonsense")) == "crashed: exit code 0"
    assert death_words(WorkerDied(2, 77, 1, None, 0.0, ["x"])) == "crashed: exit code 1"  # type: ignore[arg-type]
    for reason in MARKS:
        end = WorkerDied(2, 77, 0, None, 0.0, reason)
        assert MARKS[reason].meaning in " ".join(death_story(end).split())
        assert ended_words(end)
    assert "was recycled" in ended_words(WorkerDied(2, 77, 0, None, 0.0, "recycled"))
    story = death_story(WorkerDied(2, 77, -9, "SIGKILL", 0.0, "crashed", -5, None))
    assert "memory" not in story.lower().replace("out-of-memory", "")  # -5 bytes: no size


def test_usage_prefers_the_snapshot_and_never_mixes_processes() -> None:
    alive = WorkerInfo(0, 10, True, None, None, 0, 0, True, 0, rss_bytes=None, cpu_percent=None)
    sample = WorkerStats(0, 10, 300 * MB, 12.0, 0.0)
    assert (usage(alive, sample).memory, usage(alive, sample).cpu) == ("300 MB", "12%")
    fresher = WorkerInfo(0, 10, True, None, None, 0, 0, True, 0, rss_bytes=MB, cpu_percent=1.0)
    assert (usage(fresher, sample).memory, usage(fresher, sample).cpu) == ("1.0 MB", "1%")
    older = WorkerStats(0, 9, 300 * MB, 12.0, 0.0)  # the slot's previous process
    assert usage(alive, older).memory == ""
    dead = WorkerInfo(0, 10, False, -9, None, 0, 0, False, 0)
    death = WorkerDied(0, 10, -9, "SIGKILL", 0.0, rss_bytes=None)
    assert usage(dead, sample, death).memory == "300 MB" and usage(dead, sample, death).last
    absurd = WorkerInfo(
        0, 10, True, None, None, 0, 0, True, 0, rss_bytes=-1, cpu_percent=float("nan")
    )
    assert (usage(absurd, None).memory, usage(absurd, None).cpu) == ("", "")


def test_a_recorded_run_draws_memory_up_to_the_instant(
    qtbot: QtBot, monitor_window: WindowFactory, tmp_path: Path
) -> None:
    """The recorded window builds its timeline once over the whole run; the samples after
    the cursor are not drawn. (The replay's own ``WorkerStats`` are not recorded in this
    tree yet: the samples go the way the replay's batches go, ``timeline.apply_events``.)"""
    path = tmp_path / "run.jsonl"
    with WorkingProcessFacade(record=path) as w:
        for n in range(3):
            w.process_task(SimpleTask(f"t{n}", 0.3))
        w.collect_tasks(timeout=30)
    window = monitor_window(run_file=path)
    replay = window.recorded.replay  # type: ignore[union-attr]
    view = window.timeline
    assert view.timeline is not None and view.timeline.lanes
    lane = view.timeline.lanes[0]
    begin, end = replay.base, replay.base + replay.time_of(replay.length)
    samples: list[Event] = [
        WorkerStats(0, lane.pid, (50 + k) * MB, 5.0, begin + (end - begin) * k / 10)
        for k in range(10)
    ]
    view.apply_events(samples)
    bar = window.recorded.bar  # type: ignore[union-attr]
    bar.slider.setValue(replay.index_at((end - begin) / 2))
    qtbot.waitUntil(lambda: replay.cursor < replay.length, timeout=DEADLINE_MS)
    now = view.now()
    assert now == pytest.approx(replay.now())
    peak = lane.memory.peak(now)
    assert peak is not None and peak[1] < 59 * MB  # the last sample, 59 MB, is still ahead
    assert view.timeline.memory_peak == 59 * MB  # the scale: the whole run's peak
