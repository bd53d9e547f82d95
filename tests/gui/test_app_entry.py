"""The application's entry point: no display, an uncaught exception in a slot."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox
from pytestqt.qtbot import QtBot

from app.__main__ import main
from app.gui import MainWindow
from app.gui.app import ExceptionDialog, quit_on_signals

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(60)
def test_without_a_display_it_says_what_to_do_and_exits_non_zero() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.pop("QT_QPA_PLATFORM", None)
    done = subprocess.run(
        [sys.executable, "-m", "app", "--workers", "2"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=50,
    )
    assert done.returncode == 2
    assert "No display" in done.stderr
    assert "xvfb-run" in done.stderr and "python -m app demo" in done.stderr
    assert "Fatal" not in done.stderr and "Aborted" not in done.stderr


def test_an_uncaught_exception_is_logged_and_shown_and_the_app_lives_on(
    qtbot: QtBot,
    window: MainWindow,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    shown: list[QMessageBox] = []
    monkeypatch.setattr(QMessageBox, "exec", lambda box: shown.append(box) or 0)
    hook = ExceptionDialog(window)
    try:
        raise ZeroDivisionError("division by zero")
    except ZeroDivisionError as exc:
        hook(type(exc), exc, exc.__traceback__)
    assert len(shown) == 1
    assert shown[0].text() == "division by zero"
    assert "ZeroDivisionError" in shown[0].detailedText()
    assert any("uncaught exception" in r.getMessage() for r in caplog.records)
    # ... and the window still works.
    window.controls.task_id.setText("after")
    window.controls.duration.setValue(0.0)
    window.controls.submit.click()
    qtbot.waitUntil(lambda: window.facade.task("after").state.is_final, timeout=20_000)


def test_dask_without_distributed_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from app.gui import app as gui_app

    monkeypatch.setattr(gui_app, "dask_available", lambda: False)
    message = gui_app.choose_backend("")
    assert isinstance(message, str) and "pip install" in message and "[dask]" in message
    assert main(["--dask"]) == 2


@pytest.mark.timeout(60)
@pytest.mark.parametrize("argv", [["--dask", "localhost"], ["--dask", "bench"]])
def test_a_dask_address_without_a_port_is_refused_at_once(argv: list[str], tmp_path: Path) -> None:
    """``--dask bench`` takes ``bench`` as the address: one line and exit 2, no traceback,
    and no half-made Client that holds the exit for 20 s."""
    pytest.importorskip("distributed")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HOME=str(tmp_path))
    done = subprocess.run(
        [sys.executable, "-m", "app", *argv],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=50,
    )
    assert done.returncode == 2, done.stderr
    assert f"--dask {argv[1]}: missing port number" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.timeout(60)
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_before_the_event_loop_runs_still_quits(
    window: MainWindow, signum: signal.Signals, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM or Ctrl-C just after start-up, before ``exec()``: the quit must not be lost
    (``quit()`` without a running event loop does nothing; the window then ran on, shut
    down, for ever). A local event loop stands in for the application's."""
    qt_app = QApplication.instance()
    assert isinstance(qt_app, QApplication)
    loop = QEventLoop()
    monkeypatch.setattr(QApplication, "quit", staticmethod(loop.quit))
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        quit_on_signals(qt_app, window)
        handler = signal.getsignal(signum)
        assert callable(handler)
        handler(signum, None)  # as Python runs it, between start-up and exec()
        QTimer.singleShot(10_000, lambda: loop.exit(99))
        assert loop.exec() == 0, "the signal's quit was lost: only the guard ended the loop"
    finally:
        for s, h in before.items():
            signal.signal(s, h)


@pytest.mark.timeout(60)
def test_ctrl_c_in_the_terminal_demo_ends_it_without_a_traceback() -> None:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    demo = subprocess.Popen(
        [sys.executable, "-m", "app", "demo", "--scenario", "hang-timeout"],
        cwd=REPO,
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        # Ctrl-C as a terminal delivers it, even when this run's own SIGINT is ignored
        # (a job started in the background by a non-interactive shell).
        preexec_fn=_default_sigint,
    )
    try:
        assert demo.stderr is not None
        for line in demo.stderr:  # the scenario is under way once it has submitted
            if "process_task('after')" in line:
                break
        demo.send_signal(signal.SIGINT)
        rest = demo.stderr.read()
        assert demo.wait(timeout=30) == 130
    finally:  # never wait without a deadline for a demo that did not end
        demo.kill()
        demo.wait(timeout=10)
        if demo.stderr is not None:
            demo.stderr.close()
    assert "Traceback" not in rest and "interrupted" in rest


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
