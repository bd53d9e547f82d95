"""Fixtures for the window tests: offscreen Qt, windows always shut down, no thread left.

Qt runs offscreen unless ``WORKER_MONITOR_REAL_DISPLAY=1`` asks for the real display. The
variable must be set before the first ``QApplication`` exists, so it is set here, when
pytest imports this file, long before pytest-qt's ``qapp`` fixture creates one. The
offscreen screen is a desktop-sized 1920 x 1200 (``offscreen_screen.json``) instead of
Qt's default 800 x 800, which the window (at least 991 pixels wide) does not fit: Qt
would squeeze a restored geometry into it.
"""

from __future__ import annotations

import os
from pathlib import Path

REAL_DISPLAY_ENV = "WORKER_MONITOR_REAL_DISPLAY"
OFFSCREEN_SCREEN = Path(__file__).with_name("offscreen_screen.json")

if os.environ.get(REAL_DISPLAY_ENV, "") not in ("1", "true", "yes"):
    # A path with a colon would end the platform option early: then Qt's default screen.
    config = "" if ":" in str(OFFSCREEN_SCREEN) else f":configfile={OFFSCREEN_SCREEN}"
    os.environ["QT_QPA_PLATFORM"] = f"offscreen{config}"

from collections.abc import Callable, Iterator  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402
import shiboken6  # noqa: E402
from PySide6.QtCore import QSettings, QThread  # noqa: E402

from app.gui.backends import Backend  # noqa: E402
from app.gui.collector import CollectThread  # noqa: E402
from app.gui.main_window import CloseChoice, MainWindow  # noqa: E402
from app.gui.poller import FacadePoller  # noqa: E402

WindowFactory = Callable[..., MainWindow]


def _running(threads: list[QThread]) -> list[str]:
    """The threads of ``threads`` that still run (a deleted C++ thread has ended)."""
    return [
        f"{type(t).__name__} {t.objectName()!r}"
        for t in threads
        if shiboken6.isValid(t) and t.isRunning()
    ]


@pytest.fixture(autouse=True)
def started_threads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[QThread]]:
    """Records every poller and collect thread the window starts; fails the test if one
    is still running once the test and its windows are done.

    The windows' own teardown checks too, before they are deleted: a QThread destroyed
    while it runs aborts the process, which would hide which test was to blame.
    """
    started: list[QThread] = []

    def recording(original: Callable[..., None]) -> Callable[..., None]:
        def start(self: QThread, *args: Any) -> None:
            started.append(self)
            original(self, *args)

        return start

    monkeypatch.setattr(FacadePoller, "start", recording(QThread.start))
    monkeypatch.setattr(CollectThread, "start", recording(QThread.start))
    yield started
    running = _running(started)
    for thread in started:  # do not let one leak take the next tests down
        if shiboken6.isValid(thread) and thread.isRunning():
            thread.requestInterruption()
            thread.wait(5000)
    if running:
        pytest.fail(f"QThread(s) still running after the test: {running}", pytrace=False)


def _never_asked() -> CloseChoice:
    """Stands in for the close dialog: a test that wants a choice patches its own."""
    return CloseChoice.STAY


@pytest.fixture
def make_window(
    qtbot: Any, tmp_path: Path, started_threads: list[QThread]
) -> Iterator[WindowFactory]:
    """A factory of shown windows; each is shut down before pytest-qt closes it.

    ``settings_path`` picks the ini file (default ``tmp_path/s.ini``), so a test never
    touches the user's settings. pytest-qt closes registered widgets before fixture
    teardown, and closing a window with work in flight would open a modal dialog, so
    ``shutdown()`` runs first, as pytest-qt's ``before_close_func``.
    """
    made: list[MainWindow] = []

    def before_close(window: MainWindow) -> None:
        window.shutdown()
        running = _running(window.findChildren(QThread))
        if running:
            raise AssertionError(f"QThread(s) still running after shutdown(): {running}")

    def factory(
        workers: int = 1, settings_path: Path | None = None, backend: Backend | None = None
    ) -> MainWindow:
        path = settings_path or tmp_path / "s.ini"
        settings = QSettings(str(path), QSettings.Format.IniFormat)
        window = MainWindow(workers=workers, settings=settings, backend=backend)
        window.ask_close_choice = _never_asked  # type: ignore[method-assign]
        made.append(window)
        qtbot.addWidget(window, before_close_func=before_close)
        window.show()
        return window

    yield factory
    for window in made:  # already done by before_close; idempotent
        if shiboken6.isValid(window):
            window.shutdown()


@pytest.fixture
def window(make_window: WindowFactory) -> MainWindow:
    """A shown one-worker window with its own settings file, shut down after the test."""
    return make_window(workers=1)
