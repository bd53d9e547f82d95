"""Window tests run offscreen, each with a one-worker ``window`` at hand.

The windows themselves come from the ``app.testing`` plugin (``monitor_window``: own
settings file, shut down before pytest-qt closes them, no thread or process left).

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

import pytest  # noqa: E402

from app.gui.compare_tab import CompareTab  # noqa: E402
from app.gui.main_window import MainWindow  # noqa: E402
from app.testing import WindowFactory  # noqa: E402


@pytest.fixture(autouse=True)
def _no_comparison_after_scenarios(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scenario played to its end starts a comparison (three interpreters): only the
    Compare tab's own tests want that work."""
    if not request.module.__name__.endswith("test_compare_tab"):
        monkeypatch.setattr(CompareTab, "auto_run", False)


@pytest.fixture
def window(monitor_window: WindowFactory) -> MainWindow:
    """A shown one-worker window with its own settings file, shut down after the test."""
    return monitor_window(workers=1)
