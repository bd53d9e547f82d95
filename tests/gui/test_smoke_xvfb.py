"""One smoke test of the real application on a real X server (Xvfb, the xcb platform)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.gui.display import missing_xcb_libraries

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def xvfb_display() -> Iterator[str]:
    """A private Xvfb server; its display number chosen by Xvfb itself (-displayfd)."""
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed (Debian: apt-get install xvfb); .ci/run installs it")
    missing = missing_xcb_libraries()
    if missing:
        pytest.skip(f"Qt's xcb plugin lacks system libraries: {', '.join(missing)}")
    read, write = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", "1400x860x24", "-nolisten", "tcp"],
        pass_fds=(write,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    try:
        with os.fdopen(read) as numbers:
            display = numbers.readline().strip()  # blocks until the server is ready
        if not display:
            pytest.fail("Xvfb did not start")
        yield f":{display}"
    finally:
        server.terminate()
        server.wait(10)


@pytest.mark.timeout(120)
def test_real_app_on_xvfb_submits_crashes_collects(xvfb_display: str, tmp_path: Path) -> None:
    screenshot = tmp_path / "window.png"
    env = {**os.environ, "DISPLAY": xvfb_display, "QT_QPA_PLATFORM": "xcb"}
    done = subprocess.run(
        [sys.executable, "-m", "tests.gui.smoke_app", str(screenshot)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert screenshot.stat().st_size > 20_000  # a real picture, not an empty screen
    keep = os.environ.get("WORKER_MONITOR_SCREENSHOT")
    if keep:
        shutil.copyfile(screenshot, keep)
