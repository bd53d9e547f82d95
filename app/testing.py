"""pytest fixtures for testing your own tasks against the facade and the monitor window.

Installed with the project, this module is a pytest plugin (entry point ``pytest11``,
name ``worker-monitor``): its fixtures are there in every test, nothing to import.

- ``facade``: a one-worker ``WorkingProcessFacade``, closed after the test.
- ``monitor_facade(workers=1, **options)``: a factory of facades, each closed after the
  test; ``options`` are ``WorkingProcessFacade``'s (``restart``, ``task_timeout``, ...).
- ``monitor_window(workers=1, backend=None, *, settings_path=None, run_file=None,
  follow=False)``: a factory of shown ``MainWindow``\\ s (needs pytest-qt), each with its
  own settings file in the test's ``tmp_path`` (never the user's), local worker processes
  or a ``DaskBackend``; with ``run_file``, a window on that recording (``follow``: while
  another program writes it). The runs the windows record go to a
  temporary folder of their own.
- ``monitor_leak_check``: fails the test, at teardown, if it leaves a child process alive,
  a non-daemon thread or a QThread running. The three fixtures above use it; request it
  (or make it autouse in a ``conftest.py``) to check tests that start workers otherwise.

The promises: teardown never opens a dialog and never waits without a deadline. A window
is shut down (its facade closed, its threads stopped, its backend closed) before it is
closed, so the "Work in flight" question never comes up (a window the test deleted has
ended its run as it went); while the test runs, that
question is answered "Stay" without showing it, so ``window.close()`` cannot block a test
either (a test that wants another answer replaces ``window.ask_close_choice``); and
Cancel on a running row is told "No" to killing its worker (``window.ask_force_cancel``). Whatever
is still running after the deadlines is named in the test's error, and the processes are
killed so that the tests after it start clean.

Qt is imported only by ``monitor_window``: a test that uses ``facade`` alone creates no
``QApplication``. No dependency beyond pytest (and pytest-qt for windows): child processes
are found in ``/proc`` on Linux, with ``multiprocessing.active_children()`` elsewhere.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pytest

from app.core import WorkingProcessFacade

if TYPE_CHECKING:
    from PySide6.QtCore import QThread
    from pytestqt.qtbot import QtBot

    from app.gui.backends import Backend
    from app.gui.main_window import MainWindow

__all__ = ["FacadeFactory", "LeakCheck", "WindowFactory"]

EXIT_DEADLINE = 5.0
"""Seconds the processes and threads a test started get to end after its teardown."""
POLL_INTERVAL = 0.02
SERVICE_MARKERS = ("resource_tracker", "forkserver")
"""multiprocessing's own helper processes: started once, they live as long as pytest."""


class FacadeFactory(Protocol):
    """``monitor_facade``: takes ``WorkingProcessFacade``'s arguments."""

    def __call__(self, workers: int = 1, **options: Any) -> WorkingProcessFacade: ...


class WindowFactory(Protocol):
    """``monitor_window``: a shown window with its own settings file."""

    def __call__(
        self,
        workers: int = 1,
        backend: Backend | None = None,
        *,
        settings_path: Path | None = None,
        run_file: str | os.PathLike[str] | None = None,
        follow: bool = False,
    ) -> MainWindow: ...


# == child processes =======================================================================
@dataclass(frozen=True)
class Child:
    """A live child process, named well enough to tell which one leaked."""

    pid: int
    command: str

    def __str__(self) -> str:
        return f"pid {self.pid}: {self.command[:200]}" if self.command else f"pid {self.pid}"


def _proc_children() -> dict[int, list[int]]:
    """Every process's children, from each ``/proc/PID/stat`` (field 4 is the parent)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as stat:
                # The command name may hold spaces and parentheses: split after its ")".
                fields = stat.read().rsplit(b")", 1)[1].split()
        except OSError:  # it ended meanwhile
            continue
        if fields[0] != b"Z":  # a zombie has ended; its parent just has not reaped it
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    return children


def _command(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return cmdline.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def live_children() -> list[Child]:
    """This process's live descendants, multiprocessing's helper processes left out.

    On Linux ``/proc`` gives grandchildren too (a Dask nanny's worker) without reaping
    anything: whoever started a child keeps the right to join it. Elsewhere only the
    children ``multiprocessing`` started are seen (and ended ones are joined).
    """
    if sys.platform.startswith("linux"):
        tree = _proc_children()
        found: list[int] = []
        parents = [os.getpid()]
        while parents:
            kids = tree.get(parents.pop(), [])
            found.extend(kids)
            parents.extend(kids)
        children = [Child(pid, _command(pid)) for pid in found]
    else:
        children = [
            Child(p.pid, p.name) for p in multiprocessing.active_children() if p.pid is not None
        ]
    return [c for c in children if not any(m in c.command for m in SERVICE_MARKERS)]


def _kill(children: list[Child]) -> None:
    for child in children:
        with contextlib.suppress(OSError):
            os.kill(child.pid, getattr(signal, "SIGKILL", signal.SIGTERM))


# == the leak check ========================================================================
@dataclass
class LeakCheck:
    """What was running when the test began, and the QThreads it started since."""

    children: set[int] = field(default_factory=set)
    threads: set[threading.Thread] = field(default_factory=set)
    qthreads: list[QThread] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    """QThreads that had to be stopped early (before their window was deleted)."""

    def new_children(self) -> list[Child]:
        return [c for c in live_children() if c.pid not in self.children]

    def new_threads(self) -> list[threading.Thread]:
        """Non-daemon threads started since: they would keep Python from exiting."""
        return [t for t in threading.enumerate() if t not in self.threads and not t.daemon]

    def running_qthreads(self) -> list[str]:
        return _running(self.qthreads)

    def leaks(self) -> list[str]:
        """What is still running once the deadline has passed (processes killed)."""
        deadline = time.monotonic() + EXIT_DEADLINE
        while True:
            children = self.new_children()
            threads = self.new_threads()
            qthreads = self.running_qthreads() if self.qthreads else []
            if not (children or threads or qthreads) or time.monotonic() > deadline:
                break
            time.sleep(POLL_INTERVAL)
        _kill(children)  # so that one leak does not fail the tests after it
        _stop_qthreads(self.qthreads)
        found = []
        if children:
            found.append(f"{len(children)} child process(es), killed now: {_listed(children)}")
        if threads:
            found.append(f"{len(threads)} non-daemon thread(s): {_listed(threads)}")
        if self.stopped:
            found.append(f"QThread(s) still running after shutdown(): {_listed(self.stopped)}")
        if qthreads:
            found.append(f"{len(qthreads)} QThread(s): {_listed(qthreads)}")
        return found


def _listed(items: list[Any]) -> str:
    return "; ".join(str(item) for item in items)


def _running(threads: list[QThread]) -> list[str]:
    """The threads of ``threads`` that still run (a deleted C++ thread has ended)."""
    import shiboken6

    return [
        f"{type(t).__name__} {t.objectName()!r}"
        for t in threads
        if shiboken6.isValid(t) and t.isRunning()
    ]


def _stop_qthreads(threads: list[QThread]) -> None:
    """Asks running QThreads to end and waits, bounded: one destroyed running aborts."""
    if not threads:
        return
    import shiboken6

    for thread in threads:
        if shiboken6.isValid(thread) and thread.isRunning():
            thread.requestInterruption()
            thread.quit()
            if not thread.wait(int(EXIT_DEADLINE * 1000)):
                _UNSTOPPABLE.append(thread)
                thread.setParent(None)  # never destroyed with its parent: kept here


_UNSTOPPABLE: list[QThread] = []
"""QThreads that ignored every request to end: kept alive, never destroyed running."""


def _record_qthread_starts(monkeypatch: pytest.MonkeyPatch, started: list[QThread]) -> None:
    """Records every QThread started from Python during the test, if Qt is in use.

    Qt is never imported here: a test that does not use it has no QThread to check.
    """
    if "PySide6.QtCore" not in sys.modules:
        return
    from PySide6.QtCore import QThread

    original = QThread.start

    def start(self: QThread, *args: Any) -> None:
        started.append(self)
        original(self, *args)

    monkeypatch.setattr(QThread, "start", start)


@pytest.fixture
def monitor_leak_check(monkeypatch: pytest.MonkeyPatch) -> Iterator[LeakCheck]:
    """Fails the test if, after its teardown, something it started still runs.

    Checked: child processes (zombies and multiprocessing's helpers aside), non-daemon
    threads, and QThreads started from Python. Each gets ``EXIT_DEADLINE`` seconds to
    end; then the test errors naming each one, and the processes are killed.
    """
    check = LeakCheck(children={c.pid for c in live_children()}, threads=set(threading.enumerate()))
    _record_qthread_starts(monkeypatch, check.qthreads)
    yield check
    leaks = check.leaks()
    if leaks:
        pytest.fail(
            f"worker-monitor leak check: the test left running {EXIT_DEADLINE:g} s after its "
            "teardown: " + " | ".join(leaks),
            pytrace=False,
        )


# == facades ===============================================================================
@pytest.fixture
def monitor_facade(monitor_leak_check: LeakCheck) -> Iterator[FacadeFactory]:
    """A factory of ``WorkingProcessFacade``\\ s, each closed after the test.

    ``close()`` kills what still runs (a running task ends TIMED_OUT) and is bounded, so a
    test that leaves work in flight ends promptly.
    """
    made: list[WorkingProcessFacade] = []

    def factory(workers: int = 1, **options: Any) -> WorkingProcessFacade:
        facade = WorkingProcessFacade(workers, **options)
        made.append(facade)
        return facade

    yield factory
    for facade in made:
        facade.close()


@pytest.fixture
def facade(monitor_facade: FacadeFactory) -> WorkingProcessFacade:
    """A one-worker ``WorkingProcessFacade`` (spawned workers), closed after the test."""
    return monitor_facade()


# == windows ===============================================================================
@pytest.fixture
def monitor_window(
    qtbot: QtBot,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    monitor_leak_check: LeakCheck,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[WindowFactory]:
    """A factory of shown monitor windows, each shut down, closed and deleted after the test.

    ``settings_path`` picks the window's ini file (default ``tmp_path/settings.ini``);
    give two windows the same path to test what one saves and the next restores.
    """
    from PySide6.QtCore import QSettings, QThread

    from app.core.run_paths import RUNS_ENV
    from app.gui.close_dialog import CloseChoice
    from app.gui.main_window import MainWindow

    monkeypatch.setenv(RUNS_ENV, str(tmp_path_factory.mktemp("runs")))  # never the user's
    made: list[MainWindow] = []

    def stay() -> CloseChoice:
        """Stands in for the modal close dialog, which would wait for a click forever."""
        return CloseChoice.STAY

    def refuse(running: list[str]) -> bool:
        """Stands in for the modal "kill the workers?" question: no."""
        return False

    def shut_down(window: MainWindow) -> None:
        """Before it is closed (and deleted): nothing of it may still run then."""
        window.shutdown()
        threads = window.findChildren(QThread)
        monitor_leak_check.stopped.extend(_running(threads))
        _stop_qthreads(threads)

    def factory(
        workers: int = 1,
        backend: Backend | None = None,
        *,
        settings_path: Path | None = None,
        run_file: str | os.PathLike[str] | None = None,
        follow: bool = False,
    ) -> MainWindow:
        path = settings_path or tmp_path / "settings.ini"
        settings = QSettings(str(path), QSettings.Format.IniFormat)
        window = MainWindow(
            workers=workers,
            settings=settings,
            backend=backend,
            run_file=None if run_file is None else Path(run_file),
            follow=follow,
        )
        window.ask_close_choice = stay  # type: ignore[method-assign]
        window.ask_force_cancel = refuse  # type: ignore[method-assign]
        made.append(window)
        window.show()
        return window

    yield factory
    import shiboken6

    # Not left to pytest-qt (qtbot.addWidget): it would close a window the test deleted.
    for window in made:
        if shiboken6.isValid(window):
            shut_down(window)
            window.close()
            window.deleteLater()  # pytest-qt processes events after the fixtures' teardown
