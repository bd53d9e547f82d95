"""The worker panel and the timeline fed absurd figures, as a hand-damaged recording or a
confused backend could feed them: sizes past any float, NaN and infinite times and
percentages, unknown reasons, a start years ago in a narrow view. Each case raised from
a paint or a refresh (an error dialog each tick); now the absurd value shows as nothing."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from app.core import SimpleTask, WorkerDied, WorkerStarted, WorkerStats, WorkingProcessFacade
from app.gui import formatting
from app.gui.main_window import MainWindow
from app.gui.timeline_view import TimelineView
from app.gui.worker_text import death_story
from app.teaching.timeline import Timeline
from app.testing import WindowFactory
from tests.gui.helpers import DEADLINE_MS, worker_states
from tests.gui.test_worker_telemetry import panel_row

pytestmark = pytest.mark.timeout(90)

NO_SIZES = [10**400, 2**1024, 2**64, -5, 1.5, float("nan"), "212 MB", True]
NO_TIMES = [math.nan, math.inf, -math.inf, 1e300, -1e300]


@pytest.mark.parametrize("rss", NO_SIZES, ids=repr)
def test_a_size_that_is_no_size_shows_as_nothing(
    qtbot: QtBot, window: MainWindow, rss: object
) -> None:
    qtbot.waitUntil(lambda: worker_states(window)[0] == "idle", timeout=DEADLINE_MS)
    pid = window.facade.worker_info()[0].pid
    now = time.time()
    ghost = 990_123  # slot 1 is not the facade's: its life as the events tell it
    window.show_events(
        [
            WorkerStats(0, pid, rss, math.nan, now),  # type: ignore[arg-type]
            WorkerStarted(1, ghost, now - 1),
            WorkerStats(1, ghost, 50 * 2**20, 5.0, now - 0.5),
            WorkerStats(1, ghost, rss, math.inf, now - 0.25),  # type: ignore[arg-type]
            WorkerDied(1, ghost, -9, "SIGKILL", now, "exploded", rss, "yes"),  # type: ignore[arg-type]
        ]
    )
    window.refresh_workers()
    window.timeline.viewport().repaint()
    assert panel_row(window)["Memory"] in ("", *[f"{n} B" for n in range(10)]) or (
        window.facade.worker_info()[0].rss_bytes is not None  # a sampler's own figure
    )
    assert panel_row(window)["CPU"] == "" or window.facade.worker_info()[0].cpu_percent
    timeline = window.timeline.timeline
    assert timeline is not None and timeline.memory_peak == 50 * 2**20
    lane = next(lane for lane in timeline.lanes if lane.pid == ghost)
    assert lane.reason == "crashed" and lane.rss_at_death is None and lane.oom_killed is None
    assert formatting.size(rss) == ""  # type: ignore[arg-type]


def test_the_largest_real_sizes_still_show() -> None:
    assert formatting.size(2**64 - 1) == "16384 PB"
    assert formatting.size(1536 * 2**20) == "1.5 GB"


@pytest.mark.parametrize("when", NO_TIMES, ids=repr)
def test_a_time_that_is_no_time_shows_as_nothing(when: float) -> None:
    assert formatting.clock(when) == ""
    story = death_story(WorkerDied(0, 77, -9, "SIGKILL", when))
    assert story.startswith("worker-0 (pid 77) crashed: SIGKILL")


@pytest.mark.parametrize("when", [*NO_TIMES, time.time() - 1e8], ids=repr)
@pytest.mark.parametrize("width", [60, 400])
def test_the_timeline_lays_out_any_span_at_any_width(qtbot: QtBot, when: float, width: int) -> None:
    """A start years ago (or NaN, or infinite) at the closest zoom, in a view narrower
    than its lane names: the scroll bar's range overflowed a C int, or int(NaN) raised."""
    view = TimelineView()
    qtbot.addWidget(view)
    view.reset(lambda task_id: (_ for _ in ()).throw(KeyError(task_id)))
    view.resize(width, 200)
    view.show()
    view.px_per_s = 20_000.0
    view.apply_events([WorkerStarted(0, 4242, when), WorkerStarted(1, 4243, time.time())])
    view.tick()
    view.zoom(1.25)
    view.viewport().repaint()
    bar = view.horizontalScrollBar()
    assert 0 <= bar.value() <= bar.maximum() < 2**31


def test_a_timeline_never_takes_a_time_that_is_no_time_as_its_first() -> None:
    timeline = Timeline(lambda task_id: (_ for _ in ()).throw(KeyError(task_id)))
    timeline.apply_events([WorkerStarted(0, 1, math.nan), WorkerStarted(1, 2, 50.0)])
    assert timeline.first_time == 50.0


@pytest.mark.parametrize("started", ["NaN", "1e300", "-1e300"])
def test_a_recording_with_a_start_that_is_no_time_opens(
    qtbot: QtBot, monitor_window: WindowFactory, tmp_path: Path, started: str
) -> None:
    """``python -m app open`` on a hand-damaged header: the timeline's layout raised
    (OverflowError) at every replay step in a timeline narrower than its lane names."""
    path = tmp_path / "run.jsonl"
    with WorkingProcessFacade(record=path) as w:
        w.process_task(SimpleTask("one", 0.0))
        w.collect_tasks(timeout=60)
    lines = path.read_text().splitlines()
    header = json.loads(lines[0])
    lines[0] = json.dumps(header).replace(json.dumps(header["started"]), started, 1)
    path.write_text("\n".join(lines) + "\n")
    window = monitor_window(run_file=path)
    window.timeline.setFixedWidth(90)
    window.timeline.resize(90, 200)
    qtbot.waitUntil(lambda: window.timeline.viewport().width() < 120, timeout=DEADLINE_MS)
    window.timeline.viewport().repaint()
    window.refresh_workers()
    window.grab()
    assert window.known_task("one").state.name == "DONE"


def test_a_clean_stop_at_the_end_of_a_run_is_not_explained_as_a_crash(
    qtbot: QtBot, window: MainWindow, tmp_path: Path
) -> None:
    """Seen on the watch window of ``python -m app run`` under Xvfb: each worker stopped
    by the run's end was told as "died: exit code 0 ... still a crash", and the crash
    tab came forward, while the panel said "stopped" and the timeline drew a grey square."""
    window.facade.process_task(SimpleTask("one", 0.0))
    window.controller.collect()
    qtbot.waitUntil(lambda: worker_states(window)[0] == "stopped", timeout=DEADLINE_MS)
    told = window.explainer.toPlainText()
    assert "stopped: not a crash" in told and "still a crash" not in told, told
    assert window.side.currentWidget() is not window.explainer
