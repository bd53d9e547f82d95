"""The same window and buttons driving a Dask LocalCluster (2 worker processes)."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QPlainTextEdit
from pytestqt.qtbot import QtBot

pytest.importorskip("distributed", reason="the Dask backend needs: pip install -e '.[dask]'")

from app.gui.backends import DaskBackend
from app.testing import WindowFactory
from tests.gui.helpers import (
    DEADLINE_MS,
    child,
    choose_crash,
    click,
    state,
    submit,
    wait_collected,
    wait_state,
    worker_states,
)

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(120)]


def test_submit_crash_kill_and_collect_on_the_cluster(
    qtbot: QtBot, monitor_window: WindowFactory
) -> None:
    window = monitor_window(workers=2, backend=DaskBackend())
    assert "Dask" in window.windowTitle()
    menus = {a.text(): a for a in window.menuBar().actions()}
    assert not menus["&Scenarios"].isEnabled()  # they document the local facade's rules
    assert not window.controls.auto_restart.isEnabled()  # nannies always restart
    qtbot.waitUntil(lambda: worker_states(window)[:2] == ["idle", "idle"], timeout=DEADLINE_MS)
    code = child(window, type(window.controls.code), "codeView")
    assert "DaskFacade(LocalCluster(n_workers=2)" in code.text()

    submit(qtbot, window, "a", 0.0)
    wait_state(qtbot, window, "a", "DONE")

    # A CrashTask kills every worker that runs it, until Dask gives up on it.
    choose_crash(window, "exit code 3")
    click(qtbot, window, "crashButton")
    qtbot.waitUntil(lambda: state(window, "crash-1") == "CRASHED", timeout=60_000)
    explainer = child(window, QPlainTextEdit, "crashExplainer")
    qtbot.waitUntil(lambda: "KilledWorker" in explainer.toPlainText(), timeout=DEADLINE_MS)
    assert "What changes on a Dask cluster" in explainer.toPlainText()

    # Killed from outside while running: Dask runs it again on the other worker.
    submit(qtbot, window, "long", 3.0)
    wait_state(qtbot, window, "long", "RUNNING")
    choose_crash(window, "kill the worker now")
    click(qtbot, window, "crashButton")
    qtbot.waitUntil(lambda: "Retried: 'long'" in explainer.toPlainText(), timeout=DEADLINE_MS)
    wait_state(qtbot, window, "long", "DONE")

    click(qtbot, window, "collectButton")
    wait_collected(qtbot, window)
    assert state(window, "a") == "DONE" and state(window, "crash-1") == "CRASHED"
