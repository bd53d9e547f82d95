"""``python -m app bench --gui --watch``: the window on another program's recorded run.

A separate program (``app.bench.watched_program``) records N no-op tasks through one
worker. It runs once alone, for its own time; its finished recording is then opened in a
window, as ``python -m app open`` does, and scrubbed with the time slider; then the
program runs again while a window of this process follows its recording, as ``python -m
app watch`` does. The figures, reported side by side and never asserted:

- ``watch_to_program_ratio``: from the program's first submission until the window's table
  shows all N DONE, over the program's own time alone;
- ``max_stall_ms``: the longest gap of the window's event loop meanwhile;
- ``open_100k_s``: from opening the finished run until every row is in its table (the
  window shows at once and takes a long run in a slice at a time; the longest stall
  meanwhile is ``open_stall_ms``);
- ``scrub_ms``: the slowest of a few moves of the slider over that run, each until its
  events are processed.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QCoreApplication, QEventLoop, QSettings, QTimer
from PySide6.QtWidgets import QApplication

from app.bench.common import BenchError, check_deadline, say, targets_met
from app.bench.watched_program import GO
from app.bench.window import StallMeter
from app.core import TaskState
from app.core.runs import RunFileError, RunFollower
from app.gui.app import make_application, style, tune_gc
from app.gui.main_window import MainWindow

# key -> (comparison, threshold, how it reads in the table)
TARGETS: dict[str, tuple[str, float, str]] = {
    "watch_to_program_ratio": ("<=", 1.2, "<= 1.2x"),
    "max_stall_ms": ("<", 30.0, "< 30 ms"),
    "open_100k_s": ("<", 2.0, "< 2 s"),
    "scrub_ms": ("<", 100.0, "< 100 ms"),
}
SCRUB_TO = (0.5, 0.1, 0.9, 0.3, 1.0)  # the slider's moves, as fractions of the run
CHECK_MS = 5  # how often the watch looks at the table


class Program:
    """The watched program, in a session of its own (a Ctrl-C reaches the benchmark, which
    ends it). Leaving the ``with`` block ends it and whatever it started in its group, if
    it still runs; its worker, in a group of its own, ends itself when its parent dies."""

    def __init__(self, folder: Path, name: str, n: int, timeout: float) -> None:
        self.record = folder / f"{name}.jsonl"
        self.out = folder / f"{name}.json"
        self.timeout = timeout
        cmd = [
            sys.executable,
            "-m",
            "app.bench.watched_program",
            str(self.record),
            str(self.out),
            "-n",
            str(n),
            "--timeout",
            str(timeout),
        ]
        self.child = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )

    def __enter__(self) -> Program:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.kill()

    def go(self) -> None:
        """Lets the program submit its tasks (it waits for its worker first)."""
        assert self.child.stdin is not None
        try:
            self.child.stdin.write(GO + "\n")
            self.child.stdin.close()
        except BrokenPipeError:
            raise BenchError("the program ended before it was told to go") from None

    def failed(self) -> bool:
        return self.child.poll() not in (None, 0)

    def wait_header(self, deadline: float) -> None:
        """Until the run file holds its header: a window cannot open it before."""
        while True:
            with contextlib.suppress(OSError, RunFileError):
                RunFollower(self.record).read()
                return
            if self.child.poll() is not None:
                raise BenchError(f"the program ended (exit code {self.child.returncode})")
            check_deadline(deadline, "the program's run file never had its header")
            time.sleep(0.01)

    def result(self) -> dict[str, float]:
        """``start`` (its first submission, ``time.monotonic()``) and ``program_s``."""
        try:
            code = self.child.wait(self.timeout)
        except subprocess.TimeoutExpired:
            raise BenchError(f"the program did not end within {self.timeout} s") from None
        if code != 0:
            raise BenchError(f"the program failed (exit code {code})")
        figures = json.loads(self.out.read_text())
        return {"start": float(figures["start"]), "program_s": float(figures["program_s"])}

    def kill(self) -> None:
        """Ends the program if it still runs (it is then not yet reaped, so its process
        group is still its own)."""
        if self.child.poll() is None:
            if sys.platform == "win32":
                self.child.kill()
            else:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.child.pid, signal.SIGKILL)
            self.child.wait(10)
        if self.child.stdin is not None:
            with contextlib.suppress(OSError):
                self.child.stdin.close()


def temp_settings(folder: Path, name: str) -> QSettings:
    """A window's settings in ``folder``, never the user's."""
    return QSettings(str(folder / f"{name}.ini"), QSettings.Format.IniFormat)


class Interrupts:
    """Ctrl-C while a window is open. Qt swallows an exception raised in a slot (a
    ``KeyboardInterrupt`` too, and the benchmark would go on), so the signal is only noted
    here, any event loop quit, and ``KeyboardInterrupt`` raised at the next ``check()``,
    from where the benchmark's cleanup runs."""

    def __init__(self) -> None:
        self.signalled = False
        self._previous: Any = signal.SIG_DFL

    def __enter__(self) -> Interrupts:
        self._previous = signal.signal(signal.SIGINT, self._note)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        signal.signal(signal.SIGINT, self._previous)

    def _note(self, _signum: int, _frame: FrameType | None) -> None:
        self.signalled = True
        QCoreApplication.quit()

    def check(self) -> None:
        if self.signalled:
            raise KeyboardInterrupt


def run_until(
    qt_app: QApplication,
    done: Callable[[], bool],
    give_up: Callable[[], bool],
    interrupts: Interrupts,
) -> float | None:
    """Runs the event loop until ``done()`` (its ``time.monotonic()``) or ``give_up()``
    (None), both checked every ``CHECK_MS``, or a Ctrl-C (raised)."""
    finished: list[float] = []

    def check() -> None:
        if done():
            finished.append(time.monotonic())
            qt_app.quit()
        elif give_up():
            qt_app.quit()

    timer = QTimer()
    timer.setInterval(CHECK_MS)
    timer.timeout.connect(check)
    timer.start()
    try:
        qt_app.exec()
    finally:
        timer.stop()
    interrupts.check()
    return finished[0] if finished else None


def program_alone(folder: Path, n: int, timeout: float) -> tuple[float, Path]:
    """The program's own time, nobody watching, and its finished recording."""
    with Program(folder, "alone", n, timeout) as program:
        program.go()
        return program.result()["program_s"], program.record


def open_and_scrub(path: Path, folder: Path, n: int) -> dict[str, Any]:
    """Opens the finished run as ``python -m app open`` does, then moves its slider."""
    qt_app = make_application()
    with Interrupts() as interrupts:
        start = time.monotonic()
        window = MainWindow.from_run(path, settings=temp_settings(folder, "open"))
        try:
            style(qt_app, window)
            window.show()
            qt_app.processEvents()
            interrupts.check()
            tune_gc()  # as the command does, once its window is shown
            assert window.recorded is not None  # a window on a run file
            player, model = window.recorded.player, window.model
            meter = StallMeter()
            meter.start()
            # The event loop runs here, not through exec(): quit() would close the window.
            while player.catching_up or model.rowCount() < n:
                if time.monotonic() > start + 120:
                    raise BenchError(f"the opened run shows {model.rowCount()} rows of {n}")
                qt_app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, CHECK_MS)
                interrupts.check()
            open_s = time.monotonic() - start
            meter.stop()
            slider = window.recorded.bar.slider
            length = slider.maximum()
            moves: dict[str, float] = {}
            for fraction in SCRUB_TO:
                start = time.perf_counter()
                slider.setValue(round(length * fraction))
                QApplication.processEvents()
                moves[f"{fraction:.0%}"] = (time.perf_counter() - start) * 1000
                interrupts.check()
            return {"open_s": open_s, "open_stall_ms": meter.longest * 1000, "moves": moves}
        finally:
            window.shutdown()
            window.close()


def watched(folder: Path, n: int, timeout: float) -> dict[str, float]:
    """The program again, its recording followed by a window here from before its first
    submission: when the table showed all n DONE, and the event loop's longest stall."""
    qt_app = make_application()
    deadline = time.monotonic() + timeout
    with Program(folder, "watched", n, timeout) as program:
        program.wait_header(deadline)
        with Interrupts() as interrupts:
            window = MainWindow.from_run(
                program.record, settings=temp_settings(folder, "watch"), follow=True
            )
            try:
                style(qt_app, window)
                window.show()
                tune_gc()
                for _ in range(5):
                    qt_app.processEvents()
                interrupts.check()
                meter = StallMeter()
                meter.start()
                program.go()
                model = window.model
                shown_at = run_until(
                    qt_app,
                    lambda: model.counts[TaskState.DONE] >= n and model.rowCount() >= n,
                    lambda: program.failed() or time.monotonic() > deadline,
                    interrupts,
                )
                meter.stop()
                done = model.counts[TaskState.DONE]
            finally:
                window.shutdown()
                window.close()
        if shown_at is None:
            why = "the program failed" if program.failed() else "the deadline passed"
            raise BenchError(f"the window showed {done} of {n} DONE when {why}")
        figures = program.result()
    return {
        "watched_s": shown_at - figures["start"],
        "program_watched_s": figures["program_s"],
        "max_stall_ms": meter.longest * 1000,
    }


def run(n: int, timeout: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-watch-") as name:
        folder = Path(name)
        say(f"the program alone: {n:,} tasks")
        program_s, recording = program_alone(folder, n, timeout)
        say("its finished run opened in a window, and scrubbed")
        opened = open_and_scrub(recording, folder, n)
        say(f"the program again, watched by a window: {n:,} tasks")
        watch = watched(folder, n, timeout)
    moves = opened["moves"]
    report: dict[str, Any] = {
        "n": n,
        "program_s": round(program_s, 3),
        "program_watched_s": round(watch["program_watched_s"], 3),
        "watched_s": round(watch["watched_s"], 3),
        "watch_to_program_ratio": round(watch["watched_s"] / program_s, 2),
        "max_stall_ms": round(watch["max_stall_ms"], 1),
        "open_100k_s": round(opened["open_s"], 3),
        "open_stall_ms": round(opened["open_stall_ms"], 1),
        "scrub_ms": round(max(moves.values()), 1),
        "scrub_ms_median": round(statistics.median(moves.values()), 1),
        "scrub_moves_ms": {to: round(ms, 1) for to, ms in moves.items()},
        "platform": os.environ.get("QT_QPA_PLATFORM", ""),
    }
    report["targets_met"] = targets_met(report, TARGETS)
    return report


def format_table(report: dict[str, Any]) -> str:
    n = report["n"]
    moves = ", ".join(f"{to} {ms:.0f}" for to, ms in report["scrub_moves_ms"].items())
    rows = [  # label, figure, the target's key
        (f"the program alone, {n:,} tasks to DONE", f"{report['program_s']:.2f} s", ""),
        ("the same, while watched", f"{report['program_watched_s']:.2f} s", ""),
        ("its first submit to all DONE in the window", f"{report['watched_s']:.2f} s", ""),
        ("watched / alone", f"{report['watch_to_program_ratio']:.2f} x", "watch_to_program_ratio"),
        ("longest event-loop stall, watching", f"{report['max_stall_ms']:.1f} ms", "max_stall_ms"),
        (f"open the finished run ({n:,} rows)", f"{report['open_100k_s']:.2f} s", "open_100k_s"),
        ("longest event-loop stall, opening", f"{report['open_stall_ms']:.1f} ms", ""),
        ("slider move, median", f"{report['scrub_ms_median']:.1f} ms", ""),
        ("slider move, worst", f"{report['scrub_ms']:.1f} ms", "scrub_ms"),
    ]
    lines = [f"Watching a recorded run ({report['platform'] or 'default'} platform)", ""]
    for label, figure, key in rows:
        target = TARGETS[key][2] if key else ""
        verdict = "" if not key else ("met" if report["targets_met"][key] else "MISSED")
        lines.append(f"{label:<44} {figure:>10}  {target:<9} {verdict}".rstrip())
    lines += ["", f"slider moves (ms): {moves}", "Targets are reported, not enforced."]
    return "\n".join(lines)


def benchmark(n: int, timeout: float, as_json: bool) -> int:
    """Runs and prints the benchmark; 1 when a figure could not be measured."""
    try:
        report = run(n, timeout)
    except BenchError as exc:
        say(f"failed: {exc}")
        return 1
    print(json.dumps(report, indent=2) if as_json else format_table(report), flush=True)
    return 0
