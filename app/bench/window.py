"""``python -m app bench --gui``: the window under load, next to the bare facade.

100,000 no-op tasks go through the window's own submit path; the figures are the time
until the table shows them all DONE (as a ratio to the bare facade doing the same in the
same run), the longest stall of the event loop meanwhile, the memory those rows cost
above an empty window, and the time from launch to the window's first paint. Reported,
never asserted.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# The window records its runs, as it does for a user, but not into the user's folder.
os.environ["WORKER_MONITOR_RUNS"] = tempfile.mkdtemp(prefix="bench-runs-")

from PySide6.QtCore import QEvent, QObject, QSettings, QTimer
from PySide6.QtWidgets import QApplication

from app.bench.common import DoneCounter, submit_all, targets_met, wait_done, wait_ready
from app.bench.memory import MB, current_rss, peak_rss, reset_peak
from app.core import SimpleTask, TaskState, WorkingProcessFacade
from app.gui.app import create_window, tune_gc

atexit.register(shutil.rmtree, os.environ["WORKER_MONITOR_RUNS"], True)
PAINTED = "BENCH-PAINTED"
TARGETS = {
    "gui_to_facade_ratio": ("<=", 1.5, "<= 1.5x"),
    "max_stall_ms": ("<", 50.0, "< 50 ms"),
    "rss_100k_mb": ("<", 150.0, "< 150 MB"),
}


def bare_facade(n: int, timeout: float) -> float:
    """Seconds for the facade alone: submit n no-op tasks, reading events as it goes (as
    the window's poller does), until all are DONE."""
    facade = WorkingProcessFacade(1)
    try:
        deadline = time.monotonic() + timeout
        wait_ready(facade, deadline)
        facade.poll_events(0.0)
        tasks = [SimpleTask(f"task-{i + 1}", 0.0) for i in range(n)]
        start = time.perf_counter()
        counter = DoneCounter()
        submit_all(facade, tasks, counter)
        wait_done(facade, n, deadline, counter)
        return time.perf_counter() - start
    finally:
        facade.close()


class StallMeter(QObject):
    """A 10 ms timer; the longest gap between its ticks is the longest stall."""

    def __init__(self) -> None:
        super().__init__()
        self.longest = 0.0
        self._last = time.perf_counter()
        self._timer = QTimer(self)
        self._timer.setInterval(10)
        self._timer.timeout.connect(self._tick)

    def start(self) -> None:
        """Measure from now on (the event loop must run for the ticks to come)."""
        self._last = time.perf_counter()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def _tick(self) -> None:
        now = time.perf_counter()
        self.longest = max(self.longest, now - self._last)
        self._last = now


def through_window(n: int, timeout: float) -> dict[str, float]:
    """Seconds until the window's table shows n DONE, the longest stall, the rows' memory."""
    settings = QSettings(str(Path(tempfile.mkdtemp()) / "bench.ini"), QSettings.Format.IniFormat)
    qt_app, window = create_window(1, settings)
    window.show()
    tune_gc()
    deadline = time.monotonic() + timeout
    try:
        while not all(w.alive and w.ready for w in window.facade.worker_info()):
            if time.monotonic() > deadline:
                raise RuntimeError("the worker never became ready")
            qt_app.processEvents()
            window.facade.poll_events(0.01)  # the poller drains too; this only waits
        for _ in range(5):
            qt_app.processEvents()
        base, _how = current_rss()
        reset_peak()
        meter = StallMeter()
        meter.start()
        start = time.perf_counter()
        window.submit_many(n, 0.0)
        finished = {}

        def check() -> None:
            if window.model.counts[TaskState.DONE] >= n and window.model.settled():
                finished["at"] = time.perf_counter()
                qt_app.quit()
            elif time.monotonic() > deadline:
                qt_app.quit()

        watcher = QTimer()
        watcher.setInterval(5)
        watcher.timeout.connect(check)
        watcher.start()
        qt_app.exec()
        watcher.stop()
        if "at" not in finished:
            done = window.model.counts[TaskState.DONE]
            raise RuntimeError(f"the table showed {done} of {n} DONE before the deadline")
        rows = current_rss()[0] - base
        peak = peak_rss()[0] - base
        return {
            "gui_s": finished["at"] - start,
            "max_stall_ms": meter.longest * 1000,
            "rss_100k_mb": rows / MB,
            "rss_peak_mb": peak / MB,
        }
    finally:
        window.shutdown()
        window.close()


class _FirstPaint(QObject):
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            print(PAINTED, flush=True)
            QTimer.singleShot(0, QApplication.quit)
        return False


def first_paint_child() -> int:
    """In a fresh process: build and show the window, report its first paint."""
    settings = QSettings(str(Path(tempfile.mkdtemp()) / "paint.ini"), QSettings.Format.IniFormat)
    qt_app, window = create_window(1, settings)
    spy = _FirstPaint()
    window.installEventFilter(spy)
    window.show()
    qt_app.exec()
    window.shutdown()
    return 0


def first_paint(timeout: float) -> float:
    """Seconds from launching ``python -m app.bench.window`` to the window's first paint."""
    cmd = [sys.executable, "-m", "app.bench.window", "--_first-paint"]
    start = time.perf_counter()
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) as child:
        assert child.stdout is not None
        for line in child.stdout:
            if line.strip() == PAINTED:
                painted = time.perf_counter() - start
                child.wait(timeout)
                return painted
        child.wait(timeout)
    raise RuntimeError(f"the window never painted (exit code {child.returncode})")


def run(n: int, timeout: float) -> dict[str, Any]:
    facade_s = bare_facade(n, timeout)
    gui = through_window(n, timeout)
    report: dict[str, Any] = {
        "n": n,
        "facade_s": round(facade_s, 3),
        "gui_s": round(gui["gui_s"], 3),
        "gui_to_facade_ratio": round(gui["gui_s"] / facade_s, 2),
        "max_stall_ms": round(gui["max_stall_ms"], 1),
        "rss_100k_mb": round(gui["rss_100k_mb"], 1),
        "rss_peak_mb": round(gui["rss_peak_mb"], 1),
        "first_paint_s": round(first_paint(timeout), 3),
        "platform": os.environ.get("QT_QPA_PLATFORM", ""),
    }
    report["targets_met"] = targets_met(report, TARGETS)
    return report


def format_table(report: dict[str, Any]) -> str:
    n = report["n"]
    rows = [
        (f"bare facade, {n:,} tasks to DONE", f"{report['facade_s']:.2f} s", ""),
        (f"window, {n:,} tasks to DONE in the table", f"{report['gui_s']:.2f} s", ""),
        ("window / facade", f"{report['gui_to_facade_ratio']:.2f} x", "gui_to_facade_ratio"),
        ("longest event-loop stall", f"{report['max_stall_ms']:.1f} ms", "max_stall_ms"),
        (f"memory of {n:,} rows", f"{report['rss_100k_mb']:.1f} MB", "rss_100k_mb"),
        ("launch to first paint", f"{report['first_paint_s']:.2f} s", ""),
    ]
    lines = [f"Window benchmark ({report['platform'] or 'default'} platform)", ""]
    for label, figure, key in rows:
        target = TARGETS[key][2] if key else ""
        met = "" if not key else ("met" if report["targets_met"][key] else "MISSED")
        lines.append(f"{label:<42} {figure:>12}  {target:<9} {met}")
    lines += ["", "Targets are reported, not enforced."]
    return "\n".join(lines)


def benchmark(n: int, timeout: float, as_json: bool) -> int:
    """Run the benchmark and print it (targets are reported, never turned into a status)."""
    report = run(n, timeout)
    print(json.dumps(report, indent=2) if as_json else format_table(report), flush=True)
    return 0


def first_paint_main(argv: list[str]) -> int:
    """``python -m app.bench.window --_first-paint``: the fresh process ``first_paint`` times."""
    parser = argparse.ArgumentParser(
        prog="python -m app.bench.window",
        description="Show the window and print a line at its first paint, then quit.",
    )
    parser.add_argument("--_first-paint", action="store_true", dest="first_paint", required=True)
    parser.parse_args(argv)
    return first_paint_child()


if __name__ == "__main__":
    # Re-import under its real name: spawned workers must not see a class of ``__main__``.
    from app.bench.window import first_paint_main as _first_paint_main

    sys.exit(_first_paint_main(sys.argv[1:]))
